#include "token/ip_address.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

IpAddress Addr(const char* s) {
  auto a = IpAddress::Parse(s);
  EXPECT_TRUE(a.ok()) << s << ": " << a.status();
  return *a;
}
IpPrefix Net(const char* s) {
  auto p = IpPrefix::Parse(s);
  EXPECT_TRUE(p.ok()) << s << ": " << p.status();
  return *p;
}

TEST(IpAddressTest, ParsesV4AndV6) {
  EXPECT_TRUE(Addr("203.0.113.7").is_v4());
  EXPECT_EQ(Addr("203.0.113.7").ToString(), "203.0.113.7");
  EXPECT_FALSE(Addr("2001:db8::1").is_v4());
  EXPECT_EQ(Addr("2001:DB8:0:0:0:0:0:1").ToString(), "2001:db8::1");
  EXPECT_EQ(Addr("0.0.0.0").ToString(), "0.0.0.0");
  EXPECT_EQ(Addr("::").ToString(), "::");
}

TEST(IpAddressTest, ComparesAsNumbersNotStrings) {
  EXPECT_EQ(Addr("2001:db8::1"), Addr("2001:0db8:0000::0001"));
  EXPECT_NE(Addr("10.0.0.1"), Addr("10.0.0.10"));
}

TEST(IpAddressTest, NormalisesV4MappedV6) {
  IpAddress mapped = Addr("::ffff:203.0.113.7");
  EXPECT_TRUE(mapped.is_v4());
  EXPECT_EQ(mapped, Addr("203.0.113.7"));
  EXPECT_EQ(Addr("::ffff:cb00:7107"), Addr("203.0.113.7"));
}

TEST(IpAddressTest, RefusesBadText) {
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ",
        " 1.2.3.4", "1.2.3.-4", "1..2.3", "a.b.c.d", "fe80::1%eth0", "[::1]",
        "1.2.3.4:80", "2001:db8:::1", "2001:db8::g", "::ffff:1.2.3.04",
        "1.2.3.4/24", "localhost"}) {
    EXPECT_THAT(IpAddress::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(IpAddress::Parse(absl::string_view("1.2.3.4\0", 8)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(IpAddress::Parse(absl::string_view("::1\0", 4)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(IpPrefixTest, PlainAddressIsFullLength) {
  EXPECT_EQ(Net("203.0.113.7").length(), 32);
  EXPECT_EQ(Net("2001:db8::1").length(), 128);
  EXPECT_TRUE(Net("203.0.113.7").Contains(Addr("203.0.113.7")));
  EXPECT_FALSE(Net("203.0.113.7").Contains(Addr("203.0.113.8")));
}

TEST(IpPrefixTest, V4Cidr) {
  IpPrefix p = Net("10.0.0.0/8");
  EXPECT_TRUE(p.Contains(Addr("10.255.1.2")));
  EXPECT_FALSE(p.Contains(Addr("11.0.0.1")));
  IpPrefix q = Net("192.168.1.128/25");
  EXPECT_TRUE(q.Contains(Addr("192.168.1.200")));
  EXPECT_FALSE(q.Contains(Addr("192.168.1.127")));
  EXPECT_TRUE(Net("0.0.0.0/0").Contains(Addr("8.8.8.8")));
  EXPECT_EQ(q.ToString(), "192.168.1.128/25");
}

TEST(IpPrefixTest, HostBitsAreCleared) {
  IpPrefix p = Net("10.1.2.3/8");
  EXPECT_EQ(p, Net("10.0.0.0/8"));
  EXPECT_EQ(p.ToString(), "10.0.0.0/8");
  EXPECT_TRUE(p.Contains(Addr("10.9.9.9")));
}

TEST(IpPrefixTest, V6Cidr) {
  IpPrefix p = Net("2001:db8::/32");
  EXPECT_TRUE(p.Contains(Addr("2001:db8:ffff::1")));
  EXPECT_FALSE(p.Contains(Addr("2001:db9::1")));
  EXPECT_TRUE(Net("2001:db8::/33").Contains(Addr("2001:db8:7fff::1")));
  EXPECT_FALSE(Net("2001:db8::/33").Contains(Addr("2001:db8:8000::1")));
}

TEST(IpPrefixTest, FamiliesDoNotMix) {
  EXPECT_FALSE(Net("10.0.0.0/8").Contains(Addr("2001:db8::1")));
  EXPECT_FALSE(Net("2001:db8::/32").Contains(Addr("10.0.0.1")));
  // "::a00:1" is an IPv4-compatible (not mapped) address: no match.
  EXPECT_FALSE(Net("10.0.0.0/8").Contains(Addr("::a00:1")));
}

TEST(IpPrefixTest, V4MappedNetworksAndRequests) {
  // A v4 token matches a v4-mapped v6 request and vice versa.
  EXPECT_TRUE(Net("203.0.113.0/24").Contains(Addr("::ffff:203.0.113.9")));
  IpPrefix mapped = Net("::ffff:10.0.0.0/104");
  EXPECT_EQ(mapped, Net("10.0.0.0/8"));
  EXPECT_TRUE(mapped.Contains(Addr("10.2.3.4")));
  // Wider than the mapped range: stays IPv6 and contains mapped v4.
  IpPrefix all = Net("::/0");
  EXPECT_TRUE(all.Contains(Addr("2001:db8::1")));
  EXPECT_TRUE(all.Contains(Addr("10.0.0.1")));
}

TEST(IpPrefixTest, RefusesBadLengths) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/",
                          "10.0.0.0/08", "2001:db8::/129", "10.0.0.0/8/8",
                          "10.0.0.0/ 8", "/8", "10.0.0.0/1000"}) {
    EXPECT_THAT(IpPrefix::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(CanonicalIpPrefixTest, TheFormParseReads) {
  EXPECT_THAT(CanonicalIpPrefix("10.1.2.3/8"), IsOkAndHolds("10.0.0.0/8"));
  EXPECT_THAT(CanonicalIpPrefix("203.0.113.7/32"), IsOkAndHolds("203.0.113.7"));
  EXPECT_THAT(CanonicalIpPrefix("2001:DB8::0:1"), IsOkAndHolds("2001:db8::1"));
  EXPECT_THAT(CanonicalIpPrefix("2001:0db8:0000:0000:0000:0000:0000:0001"),
              IsOkAndHolds("2001:db8::1"));
  // RFC 5952: the longest run of zero fields is compressed (the first of
  // equal runs), a single zero field is not.
  EXPECT_THAT(CanonicalIpPrefix("2001:db8:0:0:1:0:0:1"),
              IsOkAndHolds("2001:db8::1:0:0:1"));
  EXPECT_THAT(CanonicalIpPrefix("2001:db8:0:1:1:1:1:1"),
              IsOkAndHolds("2001:db8:0:1:1:1:1:1"));
  EXPECT_THAT(CanonicalIpPrefix("2001:DB8:1:2:3:4:5:6/33"),
              IsOkAndHolds("2001:db8::/33"));
  EXPECT_THAT(CanonicalIpPrefix("::ffff:10.1.2.3/104"),
              IsOkAndHolds("10.0.0.0/8"));
  EXPECT_THAT(CanonicalIpPrefix("::1"), IsOkAndHolds("::1"));
  // Idempotent, and the verifier's parse finds the same network.
  for (const char* text : {"10.1.2.3/8", "2001:DB8::0:1", "fe80::1:2/64"}) {
    ASSERT_OK_AND_ASSIGN(std::string once, CanonicalIpPrefix(text));
    EXPECT_THAT(CanonicalIpPrefix(once), IsOkAndHolds(once));
    EXPECT_EQ(Net(once.c_str()), Net(text));
  }
  EXPECT_THAT(CanonicalIpPrefix("10.0.0.0/33"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace token_authority::token

#include "token/domain.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;

using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

TEST(HostNameTest, Valid) {
  for (const char* ok :
       {"example.com", "a.b.c.example.com", "localhost",
        "xn--bcher-kva.example", "EXAMPLE.COM", "a-b.c0", "1.2.3.4"}) {
    EXPECT_TRUE(IsValidHostName(ok)) << ok;
  }
  EXPECT_TRUE(IsValidHostName(std::string(63, 'a') + ".com"));
}

TEST(HostNameTest, Invalid) {
  for (const char* bad :
       {"", ".", "example.com.", ".example.com", "a..b", "-a.com", "a-.com",
        "a_b.com", "example.com:443", "https://example.com", "ex ample.com",
        "*.example.com", "exa*mple.com",
        "b\xc3\xbc"
        "cher.de"}) {
    EXPECT_FALSE(IsValidHostName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidHostName(std::string(64, 'a') + ".com"));
  std::string long_name;
  while (long_name.size() < 260) long_name += "abcdefghi.";
  long_name += "com";
  EXPECT_FALSE(IsValidHostName(long_name));
}

TEST(DomainPatternTest, Validation) {
  EXPECT_THAT(ValidateDomainPattern("example.com"), IsOk());
  EXPECT_THAT(ValidateDomainPattern("*.example.com"), IsOk());
  for (const char* bad : {"", "*", "*.", "**.example.com", "*example.com",
                          "a.*.example.com", "example.*", "*.*.example.com",
                          "example.com/path", "http://example.com"}) {
    EXPECT_THAT(ValidateDomainPattern(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(DomainPatternTest, NoWildcardOnAPublicSuffix) {
  for (const char* bad :
       {"*.com", "*.co.uk", "*.CO.UK", "*.github.io", "*.de", "*.unknowntld"}) {
    EXPECT_THAT(ValidateDomainPattern(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("public suffix")))
        << bad;
  }
  for (const char* good : {"*.example.co.uk", "*.player.example.com",
                           "*.someone.github.io", "co.uk"}) {
    EXPECT_THAT(ValidateDomainPattern(good), IsOk()) << good;
  }
}

TEST(DomainMatchTest, ExactIsCaseInsensitive) {
  EXPECT_TRUE(DomainMatches("example.com", "example.com"));
  EXPECT_TRUE(DomainMatches("example.com", "EXAMPLE.Com"));
  EXPECT_TRUE(DomainMatches("Example.COM", "example.com"));
  EXPECT_TRUE(DomainMatches("example.com", "example.com."));
  EXPECT_FALSE(DomainMatches("example.com", "www.example.com"));
  EXPECT_FALSE(DomainMatches("example.com", "example.co"));
  EXPECT_FALSE(DomainMatches("example.com", "example.com.evil.net"));
  EXPECT_FALSE(DomainMatches("example.com", ""));
}

TEST(DomainMatchTest, WildcardMatchesSubdomainsOnly) {
  EXPECT_TRUE(DomainMatches("*.example.com", "www.example.com"));
  EXPECT_TRUE(DomainMatches("*.example.com", "a.b.example.com"));
  EXPECT_TRUE(DomainMatches("*.example.com", "WWW.EXAMPLE.COM"));
  EXPECT_FALSE(DomainMatches("*.example.com", "example.com"));
  EXPECT_FALSE(DomainMatches("*.example.com", "evil-example.com"));
  EXPECT_FALSE(DomainMatches("*.example.com", "evilexample.com"));
  EXPECT_FALSE(DomainMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(DomainMatches("*.example.com", "www.example.com.evil.net"));
  EXPECT_FALSE(DomainMatches("*.example.com", "*.example.com"));
}

TEST(DomainMatchTest, InvalidRequestHostsNeverMatch) {
  EXPECT_FALSE(DomainMatches("example.com", "example.com:443"));
  EXPECT_FALSE(DomainMatches("*.example.com", "a_b.example.com"));
  EXPECT_FALSE(DomainMatches("*.example.com", "www.example.com.."));
}

TEST(CanonicalDomainTest, LowercaseWithoutTrailingDot) {
  EXPECT_EQ(CanonicalDomain("Example.COM."), "example.com");
  EXPECT_EQ(CanonicalDomain("*.WWW.Example.com"), "*.www.example.com");
  EXPECT_EQ(CanonicalDomain("example.com"), "example.com");
  // One dot only, and nothing else changes: a bad name stays bad.
  EXPECT_EQ(CanonicalDomain("example.com.."), "example.com.");
  EXPECT_FALSE(IsValidHostName(CanonicalDomain("example.com..")));
  EXPECT_EQ(CanonicalDomain(""), "");
  EXPECT_EQ(CanonicalDomain(CanonicalDomain("A.b.")), "a.b");
}

TEST(DomainMatchTest, ComparesTheCanonicalForm) {
  EXPECT_TRUE(DomainMatches("example.com", "EXAMPLE.com."));
  EXPECT_TRUE(DomainMatches("*.example.com", "WWW.Example.COM."));
  EXPECT_FALSE(DomainMatches("*.example.com", "Example.com."));
}

}  // namespace
}  // namespace token_authority::token

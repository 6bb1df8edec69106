#include "token/token_spec.h"

#include <algorithm>
#include <string>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"
#include "token/jws.h"
#include "token/key_set.h"
#include "token/signing_key.h"
#include "token/time_util.h"

namespace token_authority::token {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::token_authority::testing::StatusIs;

const absl::Time kNow =
    absl::FromUnixSeconds(1750000000) + absl::Milliseconds(300);
const TokenLimits kLimits;

TokenSpec Good() {
  TokenSpec s;
  s.target = Target::StreamGroup("grp");
  return s;
}

std::vector<std::string> Fields(const std::vector<FieldViolation>& v) {
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(x.field);
  return out;
}

TEST(TokenSpecTest, DefaultsAreValid) {
  EXPECT_THAT(ValidateTokenSpec(Good(), kLimits, kNow), IsEmpty());
  EXPECT_EQ(kLimits.default_lifetime, absl::Hours(14 * 24));
  EXPECT_EQ(kLimits.max_lifetime, absl::Hours(365 * 24));
}

TEST(TokenSpecTest, TargetIsRequired) {
  TokenSpec s;
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow),
              ElementsAre(Field(&FieldViolation::field, "target")));
}

TEST(TokenSpecTest, StreamNameRules) {
  TokenSpec s = Good();
  s.target = Target::Streams({});
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("stream_names"));
  s.target = Target::Streams(std::vector<std::string>(101, "a"));
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("stream_names"));
  s.target = Target::Streams({"good", std::string(129, 'x'), "sp ace"});
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("stream_names", "stream_names"));
  s.target =
      Target::Streams(std::vector<std::string>(100, std::string(16, 'x')));
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
}

// Every name within its limits, 100 names of 128 characters still make a
// token no verifier accepts (over 8 KiB): refused, naming stream_names.
TEST(TokenSpecTest, TheWholeTokenMustFitWhatVerifiersAccept) {
  TokenSpec s = Good();
  s.target =
      Target::Streams(std::vector<std::string>(100, std::string(128, 'x')));
  const std::vector<FieldViolation> v = ValidateTokenSpec(s, kLimits, kNow);
  ASSERT_THAT(Fields(v), ElementsAre("stream_names"));
  EXPECT_THAT(v[0].description,
              HasSubstr("more than the 8192 a verifier accepts"));
  s.target =
      Target::Streams(std::vector<std::string>(30, std::string(128, 'x')));
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  EXPECT_LE(MaxTokenBytes(s), kMaxTokenBytes);
}

// MaxTokenBytes bounds real tokens: signed with the largest signature
// (RS256, 4096 bits), the longest issuer and organisation id, every optional
// claim at its longest (user id and tag of characters JSON escapes).
TEST(TokenSpecTest, MaxTokenBytesBoundsRealTokens) {
  FakeRandom random(5);
  KeyGenerationOptions big;
  big.rsa_bits = 4096;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<const SigningKey> key,
      SigningKey::Generate(Algorithm::kRs256, kNow, random, big));
  std::shared_ptr<const SigningKey> shared(std::move(key));
  const std::string issuer(kMaxIssuerLength, 'i');
  const std::string org(kMaxOrganizationIdLength, 'o');
  ASSERT_OK_AND_ASSIGN(KeySet keys,
                       KeySet::Create(org, {{shared, KeyState::kPrimary}}));
  for (size_t names : {size_t{1}, size_t{10}, size_t{25}}) {
    TokenSpec s;
    s.target = Target::Streams(std::vector<std::string>(
        names, std::string(kMaxStreamNameLength, 's')));
    s.client_ip = "2001:db8:1234:5678:9abc:def0:1234:5678";
    s.domain =
        "*." + std::string(60, 'd') + "." + std::string(60, 'e') + ".com";
    s.user_id.clear();
    for (size_t i = 0; i < kMaxTextLength; ++i) s.user_id += "\xF0\x9F\x98\x80";
    s.tag = std::string(kMaxTextLength, '"');
    s.expires_at = kNow + absl::Hours(24 * 300);
    ASSERT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty()) << names;
    ASSERT_OK_AND_ASSIGN(Claims c,
                         ClaimsFromSpec(s, kLimits, kNow, issuer, org, random));
    ASSERT_OK_AND_ASSIGN(SignedToken t, keys.Sign(c));
    EXPECT_LE(t.jwt.size(), MaxTokenBytes(s)) << names;
    EXPECT_LE(t.jwt.size(), kMaxTokenBytes) << names;
  }
}

TEST(TokenSpecTest, LifetimeRules) {
  TokenSpec s = Good();
  s.lifetime = absl::ZeroDuration();
  EXPECT_THAT(
      ValidateTokenSpec(s, kLimits, kNow),
      ElementsAre(FieldViolation{"lifetime", "must be at least 1s (got 0s)"}));
  s.lifetime = -absl::Hours(1);
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("lifetime"));
  s.lifetime = absl::Milliseconds(999);
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("lifetime"));
  s.lifetime = absl::Seconds(1);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  s.lifetime = kLimits.max_lifetime;
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  s.lifetime = kLimits.max_lifetime + absl::Seconds(1);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow),
              ElementsAre(FieldViolation{
                  "lifetime", "must be at most 365d (got 31536001s)"}));
}

TEST(TokenSpecTest, ExpiresAtRules) {
  TokenSpec s = Good();
  s.expires_at = kNow - absl::Seconds(1);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow),
              ElementsAre(Field(&FieldViolation::description,
                                HasSubstr("must be in the future"))));
  // Within the current second: a token would expire when issued.
  s.expires_at = kNow + absl::Milliseconds(500);
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("expires_at"));
  s.expires_at = kNow + absl::Seconds(1);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  s.expires_at = kNow + kLimits.max_lifetime;
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  s.expires_at = kNow + kLimits.max_lifetime + absl::Seconds(1);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow),
              ElementsAre(Field(&FieldViolation::description,
                                HasSubstr("at most 365d from now"))));
  s.expires_at = kNow + absl::Hours(1);
  s.lifetime = absl::Hours(1);
  EXPECT_THAT(
      ValidateTokenSpec(s, kLimits, kNow),
      ElementsAre(FieldViolation{
          "expires_at", "give either a lifetime or an expiry time, not both"}));
}

TEST(TokenSpecTest, NotBeforeMustPrecedeExpiry) {
  // A lifetime, given or the default, counts from the not-before time: a
  // token valid for 1 hour from a time 2 weeks ahead is valid.
  TokenSpec s = Good();
  s.lifetime = absl::Hours(1);
  s.not_before = kNow + absl::Hours(24 * 14);
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  TokenSpec d = Good();
  d.not_before = kNow + absl::Hours(15 * 24);
  EXPECT_THAT(ValidateTokenSpec(d, kLimits, kNow), IsEmpty());
  // Against an explicit expiry.
  TokenSpec e = Good();
  e.expires_at = kNow + absl::Hours(2);
  e.not_before = kNow + absl::Hours(3);
  EXPECT_THAT(Fields(ValidateTokenSpec(e, kLimits, kNow)),
              ElementsAre("not_before"));
  // A not_before in the past is allowed (back-dating).
  e.not_before = kNow - absl::Hours(3);
  EXPECT_THAT(ValidateTokenSpec(e, kLimits, kNow), IsEmpty());
  e.not_before = absl::FromUnixSeconds(-1);
  EXPECT_THAT(Fields(ValidateTokenSpec(e, kLimits, kNow)),
              ElementsAre("not_before"));
  // Back-dated so far that the lifetime counted from it has ended (found by
  // fuzz_token_spec: a not-before of 1970 and the default lifetime): refused
  // here, as ClaimsFromSpec would refuse it, naming not_before.
  TokenSpec past = Good();
  past.not_before = absl::UnixEpoch();
  EXPECT_THAT(ValidateTokenSpec(past, kLimits, kNow),
              ElementsAre(FieldViolation{
                  "not_before",
                  "with the lifetime counted from it the token would expire "
                  "at 1970-01-15T00:00:00Z, before now (" +
                      FormatRfc3339(absl::FromUnixSeconds(1750000000)) +
                      "); give a later not-before, a longer lifetime or an "
                      "expiry time"}));
  past.lifetime = absl::Hours(1);
  past.not_before = kNow - absl::Hours(1);  // ends exactly now
  EXPECT_THAT(Fields(ValidateTokenSpec(past, kLimits, kNow)),
              ElementsAre("not_before"));
  past.not_before = kNow - absl::Minutes(59);  // a minute left
  EXPECT_THAT(ValidateTokenSpec(past, kLimits, kNow), IsEmpty());
}

TEST(TokenSpecTest, RestrictionRules) {
  TokenSpec s = Good();
  for (const char* ip : {"203.0.113.7", "203.0.113.0/24", "2001:db8::1",
                         "2001:db8::/32", "::ffff:10.0.0.1"}) {
    s.client_ip = ip;
    EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty()) << ip;
  }
  for (const char* ip :
       {"203.0.113", "10.0.0.0/33", "example.com", "1.2.3.4 "}) {
    s.client_ip = ip;
    EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
                ElementsAre("client_ip"))
        << ip;
  }
  s.client_ip.clear();
  for (const char* d : {"example.com", "*.example.com", "player.cdn.example"}) {
    s.domain = d;
    EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty()) << d;
  }
  for (const char* d :
       {"https://example.com", "*.", "a.*.b", "ex ample.com", "*"}) {
    s.domain = d;
    EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
                ElementsAre("domain"))
        << d;
  }
  s.domain.clear();
  s.user_id = std::string(128, 'u');
  s.tag = std::string(128, 't');
  EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty());
  s.user_id += "u";
  s.tag = "bell\x07";
  EXPECT_THAT(Fields(ValidateTokenSpec(s, kLimits, kNow)),
              ElementsAre("user_id", "tag"));
}

TEST(TokenSpecTest, ReportsEveryViolationAtOnce) {
  TokenSpec s;
  s.target = Target::Streams({"ok", "not ok"});
  s.lifetime = absl::Hours(24 * 400);
  s.expires_at = kNow - absl::Hours(1);
  s.not_before = absl::FromUnixSeconds(-5);
  s.client_ip = "nope";
  s.domain = "no pe";
  s.user_id = std::string(200, 'x');
  s.tag = "\n";
  auto v = ValidateTokenSpec(s, kLimits, kNow);
  EXPECT_THAT(Fields(v),
              UnorderedElementsAre("stream_names", "expires_at", "lifetime",
                                   "expires_at", "not_before", "client_ip",
                                   "domain", "user_id", "tag"));
  absl::Status st = ViolationsToStatus(v);
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("client_ip: ")));
}

TEST(ResolveTokenTimesTest, ComputesWholeSecondTimes) {
  TokenSpec s = Good();
  ASSERT_OK_AND_ASSIGN(TokenTimes t, ResolveTokenTimes(s, kLimits, kNow));
  EXPECT_EQ(t.issued_at, absl::FromUnixSeconds(1750000000));
  EXPECT_EQ(t.not_before, t.issued_at);
  EXPECT_EQ(t.expires_at, t.issued_at + absl::Hours(14 * 24));

  // The lifetime counts from the not-before time.
  s.lifetime = absl::Seconds(90) + absl::Milliseconds(700);
  s.not_before = kNow + absl::Seconds(10);
  ASSERT_OK_AND_ASSIGN(t, ResolveTokenTimes(s, kLimits, kNow));
  EXPECT_EQ(t.not_before, absl::FromUnixSeconds(1750000010));
  EXPECT_EQ(t.expires_at, absl::FromUnixSeconds(1750000100));
  TokenSpec later = Good();  // the default lifetime too
  later.not_before = absl::FromUnixSeconds(1751328000);  // 2025-07-01
  ASSERT_OK_AND_ASSIGN(t, ResolveTokenTimes(later, kLimits, kNow));
  EXPECT_EQ(t.expires_at,
            absl::FromUnixSeconds(1751328000) + absl::Hours(14 * 24));

  TokenSpec e = Good();
  e.expires_at = absl::FromUnixSeconds(1750003600) + absl::Milliseconds(900);
  ASSERT_OK_AND_ASSIGN(t, ResolveTokenTimes(e, kLimits, kNow));
  EXPECT_EQ(t.expires_at, absl::FromUnixSeconds(1750003600));

  TokenSpec bad = Good();
  bad.lifetime = absl::ZeroDuration();
  EXPECT_THAT(
      ResolveTokenTimes(bad, kLimits, kNow),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lifetime:")));
}

TEST(ClaimsFromSpecTest, BuildsClaims) {
  TokenSpec s = Good();
  s.client_ip = "10.0.0.0/8";
  s.domain = "*.example.com";
  s.user_id = "u1";
  s.tag = "t1";
  s.lifetime = absl::Hours(2);
  FakeRandom random(3);
  ASSERT_OK_AND_ASSIGN(
      Claims c, ClaimsFromSpec(s, kLimits, kNow, "iss-x", "org-9", random));
  EXPECT_EQ(c.issuer(), "iss-x");
  EXPECT_EQ(c.organization_id(), "org-9");
  EXPECT_EQ(c.target(), Target::StreamGroup("grp"));
  EXPECT_EQ(c.expires_at() - c.issued_at(), absl::Hours(2));
  EXPECT_EQ(c.client_ip(), "10.0.0.0/8");
  EXPECT_EQ(c.domain(), "*.example.com");
  EXPECT_EQ(c.user_id(), "u1");
  EXPECT_EQ(c.tag(), "t1");
  EXPECT_EQ(c.token_id().size(), 22u);

  EXPECT_THAT(ClaimsFromSpec(s, kLimits, kNow, "", "org-9", random),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("iss")));
  TokenSpec none;
  EXPECT_THAT(
      ClaimsFromSpec(none, kLimits, kNow, "i", "o", random),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target:")));
}

TEST(ClaimsFromSpecTest, SignsValuesInTheFormTheVerifierCompares) {
  struct Case {
    const char* ip;
    const char* domain;
    const char* want_ip;
    const char* want_domain;
  };
  for (const Case& k : {
           Case{"10.1.2.3/8", "Example.COM.", "10.0.0.0/8", "example.com"},
           Case{"2001:DB8::0:1", "*.Example.com", "2001:db8::1",
                "*.example.com"},
           Case{"2001:0db8:0:0:1:0:0:1/128", "a.b.", "2001:db8::1:0:0:1",
                "a.b"},
           Case{"::ffff:203.0.113.7", "x.example.org", "203.0.113.7",
                "x.example.org"},
       }) {
    TokenSpec s = Good();
    s.client_ip = k.ip;
    s.domain = k.domain;
    EXPECT_THAT(ValidateTokenSpec(s, kLimits, kNow), IsEmpty()) << k.domain;
    FakeRandom random(5);
    ASSERT_OK_AND_ASSIGN(Claims c,
                         ClaimsFromSpec(s, kLimits, kNow, "i", "o", random));
    EXPECT_EQ(c.client_ip(), k.want_ip);
    EXPECT_EQ(c.domain(), k.want_domain);
  }
  // Normalising does not make a bad value good.
  TokenSpec bad = Good();
  bad.domain = "example.com..";
  bad.client_ip = "10.0.0.256";
  EXPECT_THAT(Fields(ValidateTokenSpec(bad, kLimits, kNow)),
              UnorderedElementsAre("client_ip", "domain"));
  bad = Good();
  bad.domain = "*.CO.UK.";  // still a wildcard over a public suffix
  EXPECT_THAT(Fields(ValidateTokenSpec(bad, kLimits, kNow)),
              ElementsAre("domain"));
}

TEST(ClaimsFromSpecTest, TokenIdsSortByMillisecondWithinOneSecond) {
  // Ids are time-ordered to the millisecond (so the store's id index grows at
  // its end) while iat stays in whole seconds. The later call draws smaller
  // random bytes, so only the time can order the ids.
  class ConstantRandom : public RandomSource {
   public:
    explicit ConstantRandom(uint8_t byte) : byte_(byte) {}
    absl::Status Fill(absl::Span<uint8_t> out) override {
      std::fill(out.begin(), out.end(), byte_);
      return absl::OkStatus();
    }

   private:
    const uint8_t byte_;
  };
  ConstantRandom high(0xff), low(0x00);
  const absl::Time now = kNow + absl::Milliseconds(100);
  ASSERT_OK_AND_ASSIGN(Claims first,
                       ClaimsFromSpec(Good(), kLimits, now, "i", "o", high));
  ASSERT_OK_AND_ASSIGN(
      Claims second,
      ClaimsFromSpec(Good(), kLimits, now + absl::Milliseconds(1), "i", "o",
                     low));
  EXPECT_EQ(first.issued_at(), second.issued_at());
  EXPECT_EQ(first.issued_at(), absl::FromUnixSeconds(absl::ToUnixSeconds(now)));
  std::string a, b;
  ASSERT_TRUE(Base64UrlDecodeTo(first.token_id(), &a));
  ASSERT_TRUE(Base64UrlDecodeTo(second.token_id(), &b));
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace token_authority::token

#include "token/claims.h"

#include <cstdint>
#include <string>
#include <vector>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"

namespace token_authority::token {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1750000000);

ClaimsBuilder Valid() {
  ClaimsBuilder b;
  b.SetIssuer("https://tokens.example")
      .SetIssuedAt(kNow)
      .SetExpiresAt(kNow + absl::Hours(1))
      .SetOrganizationId("org-1")
      .SetTarget(Target::Streams({"s1", "s2"}));
  return b;
}

TEST(TokenIdTest, SixteenRandomBytesBase64Url) {
  FakeRandom r1(7), r2(7), r3(8);
  ASSERT_OK_AND_ASSIGN(std::string a, NewTokenId(r1));
  ASSERT_OK_AND_ASSIGN(std::string b, NewTokenId(r2));
  ASSERT_OK_AND_ASSIGN(std::string c, NewTokenId(r3));
  EXPECT_EQ(a.size(), 22u);
  EXPECT_EQ(a, b);  // injected randomness is reproducible
  EXPECT_NE(a, c);
  ASSERT_OK_AND_ASSIGN(std::string raw, Base64UrlDecode(a));
  EXPECT_EQ(raw.size(), kTokenIdBytes);
}

// The raw bytes of a base64url token id.
std::string RawId(const std::string& id) {
  absl::StatusOr<std::string> raw = Base64UrlDecode(id);
  EXPECT_OK(raw.status());
  return raw.value_or("");
}

TEST(TokenIdTest, TimeOrderedStartsWithBigEndianMilliseconds) {
  FakeRandom random(3);
  const absl::Time t = absl::FromUnixMillis(1750000000123);  // 0x01977420dc7b
  ASSERT_OK_AND_ASSIGN(std::string id, NewTokenId(random, t));
  EXPECT_EQ(id.size(), 22u);
  const std::string raw = RawId(id);
  ASSERT_EQ(raw.size(), kTokenIdBytes);
  EXPECT_EQ(raw.substr(0, 6), std::string("\x01\x97\x74\x20\xdc\x7b", 6));
  // The rest is the injected randomness.
  FakeRandom same(3);
  ASSERT_OK_AND_ASSIGN(std::string rest, same.Bytes(10));
  EXPECT_EQ(raw.substr(6), rest);
}

TEST(TokenIdTest, TimeOrderedIdsSortByTimeAndDifferWithinAMillisecond) {
  FakeRandom random(11);
  const absl::Time start = absl::FromUnixMillis(1750000000000);
  std::string previous;
  std::vector<std::string> same_ms;
  for (int i = 0; i < 2000; ++i) {
    // Eight ids per millisecond, sub-millisecond parts ignored.
    const absl::Time t = start + absl::Microseconds(125 * i);
    ASSERT_OK_AND_ASSIGN(std::string id, NewTokenId(random, t));
    const std::string raw = RawId(id);
    if (i % 8 == 0) {
      if (!previous.empty()) {
        for (const std::string& r : same_ms) EXPECT_LT(r, raw);
      }
      same_ms.clear();
    }
    for (const std::string& r : same_ms) {
      EXPECT_EQ(r.substr(0, 6), raw.substr(0, 6));
      EXPECT_NE(r, raw);
    }
    same_ms.push_back(raw);
    previous = raw;
  }
}

TEST(TokenIdTest, TimeOrderedClampsTimesOutsideSixBytes) {
  FakeRandom random(5);
  ASSERT_OK_AND_ASSIGN(std::string before_epoch,
                       NewTokenId(random, absl::UnixEpoch() - absl::Hours(1)));
  EXPECT_EQ(RawId(before_epoch).substr(0, 6), std::string(6, '\0'));
  ASSERT_OK_AND_ASSIGN(std::string far,
                       NewTokenId(random, absl::InfiniteFuture()));
  EXPECT_EQ(RawId(far).substr(0, 6), std::string(6, '\xff'));
}

// A source that always fails.
class BrokenRandom : public RandomSource {
 public:
  absl::Status Fill(absl::Span<uint8_t>) override {
    return absl::InternalError("no entropy");
  }
};

TEST(TokenIdTest, TimeOrderedFailsWhenRandomnessFails) {
  BrokenRandom random;
  EXPECT_THAT(NewTokenId(random, kNow), StatusIs(absl::StatusCode::kInternal));
}

TEST(ClaimsBuilderTest, DrawnTokenIdCarriesTheIssueMillisecond) {
  FakeRandom random(1);
  const absl::Time iat = kNow + absl::Milliseconds(789);
  ASSERT_OK_AND_ASSIGN(Claims c, Valid().SetIssuedAt(iat).Build(random));
  EXPECT_EQ(c.issued_at(), kNow);  // the claim is whole seconds
  const std::string raw = RawId(c.token_id());
  const uint64_t ms = (uint64_t{static_cast<uint8_t>(raw[0])} << 40) |
                      (uint64_t{static_cast<uint8_t>(raw[1])} << 32) |
                      (uint64_t{static_cast<uint8_t>(raw[2])} << 24) |
                      (uint64_t{static_cast<uint8_t>(raw[3])} << 16) |
                      (uint64_t{static_cast<uint8_t>(raw[4])} << 8) |
                      uint64_t{static_cast<uint8_t>(raw[5])};
  EXPECT_EQ(ms, static_cast<uint64_t>(absl::ToUnixMillis(iat)));
}

TEST(ClaimsBuilderTest, BuildsAndDrawsTokenId) {
  FakeRandom random(1);
  ASSERT_OK_AND_ASSIGN(Claims c, Valid()
                                     .SetClientIp("203.0.113.0/24")
                                     .SetDomain("*.example.com")
                                     .SetUserId("user-7")
                                     .SetTag("campaign")
                                     .Build(random));
  EXPECT_EQ(c.issuer(), "https://tokens.example");
  EXPECT_EQ(c.token_id().size(), 22u);
  EXPECT_EQ(c.issued_at(), kNow);
  EXPECT_EQ(c.not_before(), kNow);  // defaults to iat
  EXPECT_EQ(c.expires_at(), kNow + absl::Hours(1));
  EXPECT_EQ(c.organization_id(), "org-1");
  EXPECT_EQ(c.target(), Target::Streams({"s1", "s2"}));
  EXPECT_EQ(c.client_ip(), "203.0.113.0/24");
  EXPECT_EQ(c.domain(), "*.example.com");
  EXPECT_EQ(c.user_id(), "user-7");
  EXPECT_EQ(c.tag(), "campaign");
}

TEST(ClaimsBuilderTest, TruncatesToWholeSeconds) {
  ASSERT_OK_AND_ASSIGN(
      Claims c,
      Valid()
          .SetTokenId("AAAAAAAAAAAAAAAAAAAAAA")
          .SetIssuedAt(kNow + absl::Milliseconds(999))
          .SetExpiresAt(kNow + absl::Seconds(10) + absl::Milliseconds(1))
          .Build());
  EXPECT_EQ(c.issued_at_unix(), 1750000000);
  EXPECT_EQ(c.expires_at_unix(), 1750000010);
}

TEST(ClaimsBuilderTest, ReportsEveryProblem) {
  ClaimsBuilder b;
  b.SetTokenId("short")
      .SetIssuedAt(kNow)
      .SetNotBefore(kNow + absl::Hours(2))
      .SetExpiresAt(kNow + absl::Hours(1))
      .SetClientIp("300.1.1.1")
      .SetDomain("bad domain")
      .SetUserId(std::string(129, 'u'))
      .SetTag("tab\there");
  absl::StatusOr<Claims> c = b.Build();
  ASSERT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(c.status().message());
  for (const char* field : {"iss:", "jti:", "exp:", "org:", "target:", "ip:",
                            "domain:", "user:", "tag:"}) {
    EXPECT_THAT(msg, HasSubstr(field));
  }
}

TEST(ClaimsBuilderTest, RequiresTimesAndTokenId) {
  ClaimsBuilder b;
  b.SetIssuer("i").SetOrganizationId("o").SetTarget(Target::Organization());
  EXPECT_THAT(b.Build(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jti")));
  FakeRandom random;
  EXPECT_THAT(b.Build(random), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("iat: is required")));
  b.SetIssuedAt(kNow).SetExpiresAt(kNow);
  EXPECT_THAT(b.Build(random), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("exp: must be after")));
  b.SetExpiresAt(absl::FromUnixSeconds(kMaxNumericDate + 1));
  EXPECT_THAT(b.Build(random), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("between 1970 and 9999")));
  b.SetExpiresAt(kNow + absl::Seconds(1));
  EXPECT_THAT(b.Build(random), IsOk());
}

TEST(ClaimsJsonTest, FixedMemberOrderAndRoundTrip) {
  ASSERT_OK_AND_ASSIGN(Claims c, Valid()
                                     .SetTokenId("AAECAwQFBgcICQoLDA0ODw")
                                     .SetDomain("example.com")
                                     .Build());
  EXPECT_EQ(
      c.ToJson(),
      "{\"iss\":\"https://tokens.example\",\"jti\":\"AAECAwQFBgcICQoLDA0ODw\","
      "\"iat\":1750000000,\"nbf\":1750000000,\"exp\":1750003600,"
      "\"org\":\"org-1\",\"streams\":[\"s1\",\"s2\"],"
      "\"domain\":\"example.com\"}");
  ASSERT_OK_AND_ASSIGN(Claims back, ParseClaims(c.ToJson()));
  EXPECT_EQ(back, c);
}

TEST(ClaimsJsonTest, EveryTargetKindRoundTrips) {
  for (const Target& t : {Target::StreamGroup("g-1"), Target::Organization(),
                          Target::Streams({"only"})}) {
    FakeRandom random;
    ASSERT_OK_AND_ASSIGN(Claims c, Valid()
                                       .SetTarget(t)
                                       .SetUserId("J\xc3\xbcrgen \"q\"")
                                       .SetTag("t")
                                       .SetClientIp("2001:db8::/32")
                                       .Build(random));
    ASSERT_OK_AND_ASSIGN(Claims back, ParseClaims(c.ToJson()));
    EXPECT_EQ(back, c);
    EXPECT_EQ(back.target(), t);
  }
}

const char kGood[] =
    R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g"})";

TEST(ParseClaimsTest, AcceptsMinimalForeignTokenAndIgnoresUnknownClaims) {
  ASSERT_OK_AND_ASSIGN(Claims c, ParseClaims(kGood));
  EXPECT_EQ(c.target(), Target::StreamGroup("g"));
  EXPECT_THAT(
      ParseClaims(R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,)"
                  R"("org":"o","orgawide":true,"aud":["x"],"x":{"y":[1]}})"),
      IsOk());
}

TEST(ParseClaimsTest, WrongTypesAreRefused) {
  const std::pair<const char*, const char*> kCases[] = {
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":"200","org":"o","groupid":"g"})",
       "\"exp\" must be an integer NumericDate"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200.5,"org":"o","groupid":"g"})",
       "non-integer"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":2e2,"org":"o","groupid":"g"})",
       "non-integer"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":-1,"org":"o","groupid":"g"})",
       "outside 1970..9999"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":253402300800,"org":"o","groupid":"g"})",
       "outside 1970..9999"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","streams":{"a":1}})",
       "\"streams\" must be an array"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","streams":[]})",
       "at least one stream"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","streams":["a",1]})",
       "element 2"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","orgawide":false})",
       "must be true"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","orgawide":"true"})",
       "must be true"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","groupid":""})",
       "non-empty string"},
      {R"({"iss":"i","jti":7,"iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g"})",
       "\"jti\" must be a non-empty string, got a number"},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":["o"],"groupid":"g"})",
       "\"org\""},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g","ip":"300.0.0.1"})",
       "claim \"ip\""},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g","domain":"a b"})",
       "claim \"domain\""},
      {R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g","user":5})",
       "\"user\" must be a string"},
  };
  for (const auto& [json, why] : kCases) {
    EXPECT_THAT(ParseClaims(json),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << json;
  }
}

TEST(ParseClaimsTest, StructureRules) {
  EXPECT_THAT(
      ParseClaims(R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,)"
                  R"("org":"o","groupid":"g","streams":["s"]})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one")));
  EXPECT_THAT(
      ParseClaims(
          R"({"iss":"i","jti":"j","iat":100,"nbf":100,"exp":200,"org":"o"})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("no target claim")));
  EXPECT_THAT(
      ParseClaims(
          R"({"iss":"i","jti":"j","iat":100,"exp":200,"org":"o","groupid":"g"})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("\"nbf\" is missing")));
  EXPECT_THAT(
      ParseClaims(
          R"({"iss":"i","jti":"j","iat":100,"nbf":200,"exp":200,"org":"o","groupid":"g"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("never valid")));
  EXPECT_THAT(
      ParseClaims(
          R"({"iss":"i","jti":"j","jti":"k","iat":100,"nbf":100,"exp":200,"org":"o","groupid":"g"})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
  EXPECT_THAT(
      ParseClaims(R"(["not","an","object"])"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("object")));
  EXPECT_THAT(ParseClaims("not json"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("JSON")));
}

TEST(ParseClaimsLenientTest, ReadsWhatItCanAndListsEveryProblem) {
  PartialClaims p = ParseClaimsLenient(
      R"({"iss":"i","jti":"abc","iat":"x","exp":5,"org":"o","streams":{},"tag":7,"user":"u"})");
  EXPECT_EQ(p.issuer, "i");
  EXPECT_EQ(p.token_id, "abc");
  EXPECT_FALSE(p.issued_at.has_value());
  EXPECT_EQ(p.expires_at, 5);
  EXPECT_EQ(p.organization_id, "o");
  EXPECT_FALSE(p.target.has_value());
  EXPECT_EQ(p.user_id, "u");
  EXPECT_FALSE(p.tag.has_value());
  // iat wrong type, streams wrong type, tag wrong type, nbf missing (iat is not
  // reported twice).
  EXPECT_EQ(p.problems.size(), 4u) << ::testing::PrintToString(p.problems);
  EXPECT_THAT(p.problems, ::testing::Contains(HasSubstr("\"nbf\" is missing")));
  EXPECT_THAT(p.problems,
              Not(::testing::Contains(HasSubstr("\"iat\" is missing"))));

  PartialClaims good = ParseClaimsLenient(kGood);
  EXPECT_THAT(good.problems, IsEmpty());
  EXPECT_EQ(good.target, Target::StreamGroup("g"));

  PartialClaims broken = ParseClaimsLenient("{");
  EXPECT_THAT(broken.problems, ElementsAre(HasSubstr("not valid JSON")));
}

}  // namespace
}  // namespace token_authority::token

#include "token/token_rules.h"

#include <memory>
#include <string>
#include <vector>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/token/token_test_util.h"
#include "token/base64url.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HeaderFor;
using ::testing::IsEmpty;
using testing::SignRaw;

const absl::Time kT = absl::FromUnixSeconds(1750000000);

class TokenRulesTest : public ::testing::Test {
 protected:
  TokenRulesTest() {
    FakeRandom random(7);
    key_ = std::shared_ptr<const SigningKey>(
        *SigningKey::Generate(Algorithm::kEs256, kT, random));
    keys_ = std::make_unique<KeySet>(
        *KeySet::Create("org-a", {{key_, KeyState::kPrimary}}));
  }
  std::string Payload() {
    ClaimsBuilder b;
    return b.SetIssuer("iss")
        .SetTokenId("AAECAwQFBgcICQoLDA0ODw")
        .SetIssuedAt(kT)
        .SetExpiresAt(kT + absl::Hours(1))
        .SetOrganizationId("org-a")
        .SetTarget(Target::StreamGroup("g"))
        .Build()
        ->ToJson();
  }
  // Both modes over `jwt`: the problems each found.
  std::pair<std::vector<TokenProblem>, std::vector<TokenProblem>> Both(
      const std::string& jwt) {
    SegmentBuffers buffers;
    RuleFindings first(RuleMode::kFirstProblem), every(RuleMode::kEveryProblem);
    CheckSignedToken(jwt, keys_.get(), buffers, first);
    CheckSignedToken(jwt, keys_.get(), buffers, every);
    return {first.TakeProblems(), every.TakeProblems()};
  }
  static std::vector<DenyReason> Reasons(const std::vector<TokenProblem>& ps) {
    std::vector<DenyReason> out;
    for (const TokenProblem& p : ps) out.push_back(p.reason);
    return out;
  }

  std::shared_ptr<const SigningKey> key_;
  std::unique_ptr<KeySet> keys_;
};

TEST_F(TokenRulesTest, AGoodTokenHasNoProblemAndItsFacts) {
  const std::string jwt = SignRaw(HeaderFor(*key_), Payload(), *key_);
  for (RuleMode mode : {RuleMode::kFirstProblem, RuleMode::kEveryProblem}) {
    SegmentBuffers buffers;
    RuleFindings findings(mode);
    SignedTokenFacts facts =
        CheckSignedToken(jwt, keys_.get(), buffers, findings);
    EXPECT_TRUE(findings.empty());
    EXPECT_TRUE(facts.signature_checked);
    EXPECT_TRUE(facts.signature_valid);
    ASSERT_TRUE(facts.claims.has_value());
    EXPECT_EQ(facts.claims->organization_id(), "org-a");
    EXPECT_EQ(buffers.payload_json, Payload());
    EXPECT_EQ(facts.algorithm, Algorithm::kEs256);
  }
}

// The verifier's first problem is the decoder's first problem, word for
// word; the decoder goes on and finds the others.
TEST_F(TokenRulesTest, FirstModeStopsEveryModeCollectsSameSentences) {
  const std::string header =
      R"({"alg":"ES256","typ":"JOSE+X","kid":"nope","jku":"https://x"})";
  const std::string jwt = SignRaw(header, R"({"exp":"soon","org":7})", *key_);
  auto [first, every] = Both(jwt);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_GE(every.size(), 4u);
  EXPECT_EQ(every[0].detail, first[0].detail);
  EXPECT_EQ(every[0].reason, DenyReason::kMalformed);
  EXPECT_THAT(first[0].detail, HasSubstr("\"jku\""));
  EXPECT_THAT(Reasons(every),
              ::testing::Contains(DenyReason::kUnknownKey));  // kid "nope"
  bool claims_problem = false;
  for (const TokenProblem& p : every) {
    claims_problem |= p.detail.find("The token's claims are invalid: ") == 0;
  }
  EXPECT_TRUE(claims_problem);
}

TEST_F(TokenRulesTest, SegmentsAndSizes) {
  auto [first, every] = Both("only-one-segment");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_THAT(first[0].detail, HasSubstr("this one has 1"));
  EXPECT_EQ(every[0].detail, first[0].detail);

  std::tie(first, every) = Both(".e30.c2ln");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_THAT(first[0].detail, HasSubstr("header segment is empty"));

  std::tie(first, every) = Both(std::string(kMaxTokenBytes + 1, 'a'));
  EXPECT_THAT(Reasons(first), ElementsAre(DenyReason::kMalformed));
  EXPECT_THAT(Reasons(every), ElementsAre(DenyReason::kMalformed));
  EXPECT_THAT(every[0].detail, HasSubstr("8193 bytes long"));

  // An empty signature: unsigned tokens are never accepted.
  const std::string unsigned_jwt = Base64UrlEncode(HeaderFor(*key_)) + "." +
                                   Base64UrlEncode(Payload()) + ".";
  std::tie(first, every) = Both(unsigned_jwt);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_THAT(first[0].detail, HasSubstr("signature segment is empty"));
}

TEST_F(TokenRulesTest, WithoutKeysOnlyTheMissingKidIsAKeyProblem) {
  SegmentBuffers buffers;
  RuleFindings findings(RuleMode::kEveryProblem);
  SignedTokenFacts facts = CheckSignedToken(
      SignRaw(HeaderFor(*key_), Payload(), *key_), nullptr, buffers, findings);
  EXPECT_TRUE(findings.empty());
  EXPECT_FALSE(facts.signature_checked);
  RuleFindings no_kid(RuleMode::kEveryProblem);
  CheckSignedToken(SignRaw(R"({"alg":"ES256"})", Payload(), *key_), nullptr,
                   buffers, no_kid);
  EXPECT_THAT(Reasons(no_kid.problems()), ElementsAre(DenyReason::kUnknownKey));
}

TEST_F(TokenRulesTest, TamperedSignatureIsBadSignature) {
  std::string jwt = SignRaw(HeaderFor(*key_), Payload(), *key_);
  jwt[jwt.size() - 4] = jwt[jwt.size() - 4] == 'A' ? 'B' : 'A';
  auto [first, every] = Both(jwt);
  EXPECT_THAT(Reasons(first), ElementsAre(DenyReason::kBadSignature));
  EXPECT_THAT(Reasons(every), ElementsAre(DenyReason::kBadSignature));
  EXPECT_EQ(first[0].detail, every[0].detail);
}

TEST_F(TokenRulesTest, ClaimedOrganization) {
  RuleFindings findings(RuleMode::kEveryProblem);
  CheckClaimedOrganization("org-a", *keys_, findings);
  EXPECT_TRUE(findings.empty());
  CheckClaimedOrganization("org-\"b", *keys_, findings);
  ASSERT_EQ(findings.problems().size(), 1u);
  EXPECT_EQ(findings.problems()[0].reason, DenyReason::kTargetMismatch);
  EXPECT_THAT(findings.problems()[0].detail, HasSubstr("\"org-\\\"b\""));
}

TEST(CheckTokenTimesTest, Boundaries) {
  const absl::Duration l = absl::Seconds(60);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(259), l),
            TimeValidity::kValid);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(260), l),
            TimeValidity::kExpired);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(40), l),
            TimeValidity::kValid);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(39), l),
            TimeValidity::kNotYetValid);
  // A negative leeway counts as none.
  EXPECT_EQ(
      CheckTokenTimes(100, 200, absl::FromUnixSeconds(200), absl::Seconds(-5)),
      TimeValidity::kExpired);
}

TEST(CheckTokenTimesTest, ZeroAndShortLeeway) {
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(199),
                            absl::ZeroDuration()),
            TimeValidity::kValid);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(200),
                            absl::ZeroDuration()),
            TimeValidity::kExpired);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(100),
                            absl::ZeroDuration()),
            TimeValidity::kValid);
  EXPECT_EQ(CheckTokenTimes(100, 200, absl::FromUnixSeconds(99),
                            absl::ZeroDuration()),
            TimeValidity::kNotYetValid);
  EXPECT_EQ(
      CheckTokenTimes(100, 200, absl::FromUnixSeconds(209), absl::Seconds(10)),
      TimeValidity::kValid);
  EXPECT_EQ(
      CheckTokenTimes(100, 200, absl::FromUnixSeconds(210), absl::Seconds(10)),
      TimeValidity::kExpired);
  EXPECT_EQ(
      CheckTokenTimes(100, 200, absl::FromUnixSeconds(90), absl::Seconds(10)),
      TimeValidity::kValid);
}

TEST(CheckValidityWindowTest, SentencesOnlyOutsideTheWindow) {
  RuleFindings findings(RuleMode::kEveryProblem);
  EXPECT_EQ(CheckValidityWindow(100, 200, absl::FromUnixSeconds(150),
                                absl::Seconds(0), findings),
            TimeValidity::kValid);
  EXPECT_TRUE(findings.empty());
  EXPECT_EQ(CheckValidityWindow(100, 200, absl::FromUnixSeconds(300),
                                absl::Seconds(0), findings),
            TimeValidity::kExpired);
  EXPECT_EQ(CheckValidityWindow(100, 200, absl::FromUnixSeconds(50),
                                absl::Seconds(0), findings),
            TimeValidity::kNotYetValid);
  ASSERT_EQ(findings.problems().size(), 2u);
  EXPECT_EQ(findings.problems()[0].detail,
            "The token expired at 1970-01-01T00:03:20Z (leeway 0s, now "
            "1970-01-01T00:05:00Z).");
  EXPECT_THAT(findings.problems()[1].detail,
              HasSubstr("not valid before 1970-01-01T00:01:40Z"));
}

}  // namespace
}  // namespace token_authority::token

#include "token/decoder.h"

#include <string>

#include "absl/strings/str_replace.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/token_test_util.h"

namespace token_authority::token {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using testing::HeaderFor;
using ::testing::IsEmpty;
using testing::SignRaw;

const absl::Time kT = absl::FromUnixSeconds(1750000000);

std::shared_ptr<const SigningKey> Key(Algorithm alg, uint64_t seed) {
  FakeRandom random(seed);
  return std::shared_ptr<const SigningKey>(
      *SigningKey::Generate(alg, kT, random));
}

class DecoderTest : public ::testing::Test {
 protected:
  DecoderTest() {
    es_ = Key(Algorithm::kEs256, 1);
    retired_ = Key(Algorithm::kEdDsa, 2);
    keys_ = std::make_unique<KeySet>(*KeySet::Create(
        "org-a", {{es_, KeyState::kPrimary}, {retired_, KeyState::kRetired}}));
  }
  std::string Payload(const std::string& org = "org-a") {
    ClaimsBuilder b;
    return b.SetIssuer("iss")
        .SetTokenId("AAECAwQFBgcICQoLDA0ODw")
        .SetIssuedAt(kT)
        .SetExpiresAt(kT + absl::Hours(1))
        .SetOrganizationId(org)
        .SetTarget(Target::StreamGroup("g"))
        .SetTag("t")
        .Build()
        ->ToJson();
  }
  std::vector<DenyReason> Reasons(const DecodedToken& d) {
    std::vector<DenyReason> out;
    for (const auto& p : d.problems) out.push_back(p.reason);
    return out;
  }

  std::shared_ptr<const SigningKey> es_, retired_;
  std::unique_ptr<KeySet> keys_;
};

TEST_F(DecoderTest, ValidTokenHasNoProblems) {
  const std::string jwt = SignRaw(HeaderFor(*es_), Payload(), *es_);
  DecodedToken d = DecodeToken(jwt, keys_.get(), kT);
  EXPECT_THAT(d.problems, IsEmpty());
  EXPECT_EQ(d.header_json, HeaderFor(*es_));
  EXPECT_EQ(d.payload_json, Payload());
  ASSERT_TRUE(d.header.has_value());
  EXPECT_EQ(d.header->kid, es_->kid());
  ASSERT_TRUE(d.claims.has_value());
  EXPECT_EQ(d.claims->tag(), "t");
  EXPECT_TRUE(d.signature_checked);
  EXPECT_TRUE(d.signature_valid);
  EXPECT_EQ(d.time_validity, TimeValidity::kValid);
}

TEST_F(DecoderTest, WithoutKeysTheSignatureIsNotChecked) {
  const std::string jwt = SignRaw(HeaderFor(*es_), Payload("org-z"), *es_);
  DecodedToken d = DecodeToken(jwt, nullptr, kT);
  EXPECT_THAT(d.problems, IsEmpty());
  EXPECT_FALSE(d.signature_checked);
  EXPECT_FALSE(d.signature_valid);
  EXPECT_EQ(d.claims->organization_id(), "org-z");
}

TEST_F(DecoderTest, ExpiredAndForeignTokensAreStillDecoded) {
  auto foreign_key = Key(Algorithm::kEs256, 9);
  const std::string jwt =
      SignRaw(HeaderFor(*foreign_key), Payload("org-b"), *foreign_key);
  DecodedToken d = DecodeToken(jwt, keys_.get(), kT + absl::Hours(24 * 2));
  EXPECT_THAT(Reasons(d),
              ElementsAre(DenyReason::kUnknownKey, DenyReason::kTargetMismatch,
                          DenyReason::kExpired));
  ASSERT_TRUE(d.claims.has_value());
  EXPECT_EQ(d.claims->token_id(), "AAECAwQFBgcICQoLDA0ODw");
  EXPECT_FALSE(d.signature_checked);
  EXPECT_EQ(d.time_validity, TimeValidity::kExpired);
}

TEST_F(DecoderTest, NotYetValidAndBadSignature) {
  std::string jwt = SignRaw(HeaderFor(*es_), Payload(), *es_);
  jwt.back() = jwt.back() == 'A' ? 'Q' : 'A';
  DecodedToken d = DecodeToken(jwt, keys_.get(), kT - absl::Hours(1));
  EXPECT_THAT(Reasons(d),
              ElementsAre(DenyReason::kBadSignature, DenyReason::kNotYetValid));
  EXPECT_TRUE(d.signature_checked);
  EXPECT_FALSE(d.signature_valid);
}

TEST_F(DecoderTest, ListsEveryProblemOfABrokenToken) {
  // alg none, crit, jku, typ, no kid; claims: exp a string, streams object.
  const std::string header =
      R"({"alg":"none","crit":["x"],"jku":"https://evil","typ":"foo"})";
  const std::string payload =
      R"({"iss":"i","jti":"j","iat":1,"nbf":1,"exp":"2","org":"o","streams":{}})";
  DecodedToken d = DecodeToken(testing::SigningInput(header, payload) + ".",
                               keys_.get(), kT);
  // In rule order (verifier.h), as the verifier would find them one by one.
  EXPECT_THAT(Reasons(d),
              ElementsAre(DenyReason::kUnsupportedAlgorithm,  // none
                          DenyReason::kMalformed,             // crit
                          DenyReason::kMalformed,             // jku
                          DenyReason::kMalformed,             // typ
                          DenyReason::kMalformed,             // empty signature
                          DenyReason::kUnknownKey,            // no kid
                          DenyReason::kMalformed,             // exp
                          DenyReason::kMalformed,             // streams
                          DenyReason::kTargetMismatch));      // org o
  EXPECT_EQ(d.partial_claims.token_id, "j");
  EXPECT_FALSE(d.claims.has_value());
  EXPECT_FALSE(d.time_validity.has_value());
  EXPECT_EQ(d.header_json, header);
}

TEST_F(DecoderTest, RetiredKeyAndAlgorithmMismatch) {
  DecodedToken r = DecodeToken(
      SignRaw(HeaderFor(*retired_), Payload(), *retired_), keys_.get(), kT);
  EXPECT_THAT(
      r.problems,
      ElementsAre(AllOf(Field(&TokenProblem::reason, DenyReason::kUnknownKey),
                        Field(&TokenProblem::detail, HasSubstr("retired")))));
  DecodedToken m = DecodeToken(
      SignRaw(HeaderFor(*es_, "EdDSA"), Payload(), *retired_), keys_.get(), kT);
  EXPECT_THAT(Reasons(m), ElementsAre(DenyReason::kUnsupportedAlgorithm));
}

TEST_F(DecoderTest, StructuralFailures) {
  DecodedToken big =
      DecodeToken(std::string(kMaxTokenBytes + 1, 'a'), keys_.get(), kT);
  EXPECT_THAT(Reasons(big), ElementsAre(DenyReason::kMalformed));
  EXPECT_TRUE(big.header_json.empty());

  DecodedToken two = DecodeToken(
      testing::SigningInput(HeaderFor(*es_), Payload()), keys_.get(), kT);
  EXPECT_EQ(two.problems[0].reason, DenyReason::kMalformed);
  EXPECT_THAT(two.problems[0].detail, HasSubstr("3 segments"));
  EXPECT_TRUE(two.claims.has_value());  // still decoded for display

  DecodedToken bad64 = DecodeToken("e30=.e30.AA", keys_.get(), kT);
  EXPECT_THAT(bad64.problems,
              Contains(Field(&TokenProblem::detail, HasSubstr("padding"))));

  DecodedToken dup = DecodeToken(
      SignRaw(HeaderFor(*es_),
              absl::StrReplaceAll(Payload(), {{"\"tag\":\"t\"",
                                               "\"tag\":\"t\",\"tag\":\"u\""}}),
              *es_),
      keys_.get(), kT);
  EXPECT_THAT(
      dup.problems,
      Contains(AllOf(Field(&TokenProblem::reason, DenyReason::kMalformed),
                     Field(&TokenProblem::detail, HasSubstr("duplicate")))));
  EXPECT_TRUE(dup.signature_valid);
}

}  // namespace
}  // namespace token_authority::token

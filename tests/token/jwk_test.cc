#include "token/jwk.h"

#include <string>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// RFC 7638 section 3.1.
constexpr char kRfc7638Jwk[] =
    R"({"kty":"RSA",)"
    R"("n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7)"
    R"(aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9)"
    R"(3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZH)"
    R"(zu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPks)"
    R"(INHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",)"
    R"("e":"AQAB","alg":"RS256","kid":"2011-04-29"})";
constexpr char kRfc7638Thumbprint[] =
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

TEST(JwkThumbprintTest, Rfc7638Section3_1) {
  EXPECT_THAT(JwkThumbprint(kRfc7638Jwk),
              IsOkAndHolds(std::string(kRfc7638Thumbprint)));
}

TEST(JwkThumbprintTest, SigningKeyComputesTheSameThumbprint) {
  // The key imported without its "kid" gets the RFC thumbprint as kid.
  std::string no_kid = kRfc7638Jwk;
  no_kid.erase(no_kid.find(",\"kid\""),
               std::string(",\"kid\":\"2011-04-29\"").size());
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(no_kid, kNow));
  EXPECT_EQ(key->kid(), kRfc7638Thumbprint);
  EXPECT_THAT(key->Thumbprint(), IsOkAndHolds(std::string(kRfc7638Thumbprint)));
  // With its kid, the kid is kept but the thumbprint is unchanged.
  ASSERT_OK_AND_ASSIGN(auto with_kid, SigningKey::FromJwk(kRfc7638Jwk, kNow));
  EXPECT_EQ(with_kid->kid(), "2011-04-29");
  EXPECT_THAT(with_kid->Thumbprint(),
              IsOkAndHolds(std::string(kRfc7638Thumbprint)));
}

TEST(JwkThumbprintTest, OrderAndOptionalMembersDoNotMatter) {
  ASSERT_OK_AND_ASSIGN(
      std::string a,
      JwkThumbprint(
          R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
          R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})"));
  ASSERT_OK_AND_ASSIGN(
      std::string b,
      JwkThumbprint(
          R"({ "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "use":"sig",)"
          R"( "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "crv":"P-256", "kty":"EC"})"));
  EXPECT_EQ(a, b);
  EXPECT_THAT(JwkThumbprint(R"({"kty":"EC","crv":"P-256","x":"a"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"y\"")));
  EXPECT_THAT(JwkThumbprint(R"({"kty":"XX"})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(JwkThumbprint("nope"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(JwksTest, ExportsPublicKeysOnlyAndParsesBack) {
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(auto es,
                       SigningKey::Generate(Algorithm::kEs256, kNow, random));
  ASSERT_OK_AND_ASSIGN(auto ed,
                       SigningKey::Generate(Algorithm::kEdDsa, kNow, random));
  ASSERT_OK_AND_ASSIGN(auto hs,
                       SigningKey::Generate(Algorithm::kHs256, kNow, random));
  const SigningKey* keys[] = {es.get(), hs.get(), ed.get()};
  const std::string jwks = ToJwksJson(keys);
  EXPECT_THAT(jwks, ::testing::StartsWith("{\"keys\":[{\"kty\":\"EC\""));
  // The exact member: a random kid or coordinate may contain "oct".
  EXPECT_THAT(jwks, ::testing::Not(HasSubstr("\"kty\":\"oct\"")));
  EXPECT_THAT(jwks, ::testing::Not(HasSubstr(hs->kid())));
  EXPECT_THAT(jwks, ::testing::Not(HasSubstr("\"d\"")));
  ASSERT_OK_AND_ASSIGN(auto parsed, ParseJwks(jwks, kNow));
  ASSERT_THAT(parsed, SizeIs(2));
  EXPECT_EQ(parsed[0]->kid(), es->kid());
  EXPECT_EQ(parsed[1]->kid(), ed->kid());
  EXPECT_FALSE(parsed[0]->can_sign());
  ASSERT_OK_AND_ASSIGN(std::string sig, es->Sign("a.b"));
  EXPECT_TRUE(parsed[0]->Verify("a.b", sig));
  EXPECT_EQ(ToJwksJson({}), "{\"keys\":[]}");
}

TEST(JwksTest, SkipsWhatItDoesNotUse) {
  ASSERT_OK_AND_ASSIGN(
      auto keys,
      ParseJwks(
          R"({"keys":[)"
          R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},)"
          R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA"},)"
          R"({"kty":"RSA","use":"enc","n":"AA","e":"AQAB"},)"
          R"({"kty":"RSA","alg":"PS256","n":"AA","e":"AQAB"},)"
          R"({"kty":"OKP","crv":"X25519","x":"AA"},)"
          R"({"kty":"PQC"},)"
          R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})"
          R"(],"extra":1})",
          kNow));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0]->algorithm(), Algorithm::kEdDsa);
}

TEST(JwksTest, RefusesBrokenSets) {
  const std::pair<const char*, const char*> kCases[] = {
      {"", "JWK Set"},
      {"[]", "\"keys\" array"},
      {R"({"keys":{}})", "\"keys\" array"},
      {R"({"keys":[1]})", "not an object"},
      {R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})", "key 1"},
      {R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"x"}]})",
       "private"},
      {R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},)"
       R"({"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})",
       "appears twice"},
      {R"({"keys":[],"keys":[]})", "duplicate"},
  };
  for (const auto& [json, why] : kCases) {
    EXPECT_THAT(ParseJwks(json, kNow),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << json;
  }
}

}  // namespace
}  // namespace token_authority::token

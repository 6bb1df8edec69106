#include <openssl/bn.h>
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/signing_key_test_util.h"
#include "token/base64url.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace {

using testing::Gen;
using ::testing::HasSubstr;
using testing::kCreated;
using testing::kRfc7515A3PrivateD;
using testing::kRfc7515A3PublicJwk;
using ::testing::Not;
using testing::Rsa;
using ::testing::StartsWith;
using ::token_authority::testing::StatusIs;

TEST(SigningKeyJwkTest, Rfc7515A3PrivateKeySignsAndKeepsThumbprintKid) {
  std::string jwk = kRfc7515A3PublicJwk;
  jwk.insert(jwk.size() - 1,
             std::string(",\"d\":\"") + kRfc7515A3PrivateD + "\"");
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(jwk, kCreated));
  ASSERT_OK_AND_ASSIGN(auto pub,
                       SigningKey::FromJwk(kRfc7515A3PublicJwk, kCreated));
  EXPECT_EQ(key->kid(), pub->kid());
  ASSERT_OK_AND_ASSIGN(std::string thumb, key->Thumbprint());
  EXPECT_EQ(key->kid(), thumb);
  ASSERT_OK_AND_ASSIGN(std::string sig, key->Sign("abc.def"));
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(pub->Verify("abc.def", sig));
}
TEST(SigningKeyJwkTest, PublicJwkShapes) {
  auto ec = Gen(Algorithm::kEs256);
  ASSERT_OK_AND_ASSIGN(std::string jwk, ec->PublicJwkJson());
  EXPECT_THAT(jwk, StartsWith("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\""));
  EXPECT_THAT(jwk, HasSubstr("\"alg\":\"ES256\",\"use\":\"sig\"}"));
  EXPECT_THAT(jwk, Not(HasSubstr("\"d\"")));
  ASSERT_OK_AND_ASSIGN(auto again, SigningKey::FromJwk(jwk, kCreated));
  EXPECT_EQ(again->kid(), ec->kid());
  ASSERT_OK_AND_ASSIGN(std::string rsa_jwk, Rsa().PublicJwkJson());
  EXPECT_THAT(rsa_jwk, HasSubstr("\"e\":\"AQAB\""));
  ASSERT_OK_AND_ASSIGN(auto rsa_again, SigningKey::FromJwk(rsa_jwk, kCreated));
  EXPECT_EQ(rsa_again->kid(), Rsa().kid());
  auto ed = Gen(Algorithm::kEdDsa);
  ASSERT_OK_AND_ASSIGN(std::string ed_jwk, ed->PublicJwkJson());
  EXPECT_THAT(ed_jwk, StartsWith("{\"kty\":\"OKP\",\"crv\":\"Ed25519\""));
}
TEST(SigningKeyJwkTest, FromJwkRefusesBadKeys) {
  const std::pair<std::string, const char*> kCases[] = {
      {"[]", "object"},
      {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
       "32 bytes"},
      // x, y not on the curve.
      {R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
       R"("y":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"})",
       "not a valid P-256 key"},
      {R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})", "P-256 only"},
      {R"({"kty":"EC","crv":"P-256","y":"AA"})", "\"x\" is missing"},
      {R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU=",)"
       R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})",
       "padding"},
      {R"({"kty":"OKP","crv":"X25519","x":"AA"})", "Ed25519 only"},
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
       R"("d":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})",
       "not the public key"},
      {R"({"kty":"RSA","n":"AQAB","e":"AQAB","d":"AA"})", "PKCS#8"},
      {R"({"kty":"RSA","n":"AAEC","e":"AQAB"})", "leading zero"},
      {R"({"kty":"oct","k":"c2hvcnQ"})", "32 bytes"},
      {R"({"kty":"EC","crv":"P-256","alg":"RS256","x":"AA","y":"AA"})",
       "does not fit"},
      {R"({"kty":"OKP","crv":"Ed25519","alg":"none","x":"AA"})",
       "does not fit"},
      {R"({"kty":"OKP","crv":"Ed25519","use":"enc","x":"AA"})", "not \"sig\""},
      {R"({"kty":"XYZ"})", "not supported"},
      {R"({"kty":"OKP","crv":"Ed25519","kid":"","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
       "kid"},
      {R"({"kty":"OKP","kty":"OKP"})", "duplicate"},
  };
  for (const auto& [jwk, why] : kCases) {
    EXPECT_THAT(SigningKey::FromJwk(jwk, kCreated),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << jwk;
  }
}
TEST(SigningKeyJwkTest, SmallRsaJwkIsRefused) {
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
  BIGNUM* n = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(small, "n", &n), 1);
  std::string nb(static_cast<size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(nb.data()));
  BN_free(n);
  EVP_PKEY_free(small);
  const std::string jwk =
      "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"" + Base64UrlEncode(nb) + "\"}";
  EXPECT_THAT(SigningKey::FromJwk(jwk, kCreated),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2048")));
}
TEST(SigningKeyJwkTest, JwkKidIsKept) {
  ASSERT_OK_AND_ASSIGN(
      auto k,
      SigningKey::FromJwk(
          R"({"kty":"OKP","crv":"Ed25519","kid":"my-key","alg":"EdDSA",)"
          R"("use":"sig","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
          kCreated));
  EXPECT_EQ(k->kid(), "my-key");
  ASSERT_OK_AND_ASSIGN(
      auto h,
      SigningKey::FromJwk(
          R"({"kty":"oct","kid":"h1","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})",
          kCreated));
  EXPECT_EQ(h->kid(), "h1");
  EXPECT_EQ(h->algorithm(), Algorithm::kHs256);
}
}  // namespace
}  // namespace token_authority::token

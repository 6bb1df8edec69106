#include "token/signing_key.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/signing_key_test_util.h"
#include "token/base64url.h"

// Generation, key ids, the checks every import ends with, key states. The
// other parts of SigningKey: signing_key_{pem,jwk,sign}_test.cc.
namespace token_authority::token {
namespace {

using testing::Gen;
using ::testing::HasSubstr;
using testing::kCreated;
using testing::Rsa;
using ::testing::StartsWith;
using ::token_authority::testing::StatusIs;

std::string Pkcs8Der(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(pkey);
  int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  return out;
}

TEST(SigningKeyTest, GenerateMakesKeysOfEachAlgorithm) {
  for (Algorithm alg :
       {Algorithm::kEs256, Algorithm::kEdDsa, Algorithm::kHs256}) {
    SCOPED_TRACE(AlgorithmName(alg));
    std::unique_ptr<const SigningKey> key = Gen(alg);
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(key->algorithm(), alg);
    EXPECT_EQ(key->created_at(), kCreated);
    EXPECT_TRUE(key->can_sign());
    if (alg != Algorithm::kHs256) {
      // The kid of an asymmetric key is its RFC 7638 thumbprint.
      ASSERT_OK_AND_ASSIGN(std::string thumbprint, key->Thumbprint());
      EXPECT_EQ(key->kid(), thumbprint);
    }
  }
  EXPECT_EQ(Rsa().algorithm(), Algorithm::kRs256);
  EXPECT_EQ(Rsa().kid(), *Rsa().Thumbprint());
}

TEST(SigningKeyTest, GenerateRefusesBadOptions) {
  FakeRandom random(1);
  KeyGenerationOptions small_rsa;
  small_rsa.rsa_bits = 1024;
  EXPECT_THAT(
      SigningKey::Generate(Algorithm::kRs256, kCreated, random, small_rsa),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2048")));
  KeyGenerationOptions short_secret;
  short_secret.hmac_secret_bytes = 31;
  EXPECT_THAT(
      SigningKey::Generate(Algorithm::kHs256, kCreated, random, short_secret),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
}

TEST(SigningKeyTest, HmacKidIsStableAndRevealsNothing) {
  const std::string secret(32, '\x5a');
  ASSERT_OK_AND_ASSIGN(
      auto a, SigningKey::FromPrivateKey(Algorithm::kHs256, secret, kCreated));
  ASSERT_OK_AND_ASSIGN(
      auto b, SigningKey::FromPrivateKey(Algorithm::kHs256, secret, kCreated));
  ASSERT_OK_AND_ASSIGN(
      auto c, SigningKey::FromPrivateKey(Algorithm::kHs256,
                                         std::string(32, '\x5b'), kCreated));
  EXPECT_THAT(a->kid(), StartsWith("hs-"));
  EXPECT_EQ(a->kid().size(), 3u + 22u);
  EXPECT_EQ(a->kid(), b->kid());
  EXPECT_NE(a->kid(), c->kid());
  EXPECT_FALSE(
      absl::StrContains(a->kid(), Base64UrlEncode(secret).substr(0, 8)));
  EXPECT_THAT(a->PublicJwkJson(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(a->Thumbprint(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // Generated secrets come from the injected RandomSource.
  FakeRandom r1(9), r2(9);
  ASSERT_OK_AND_ASSIGN(auto g1,
                       SigningKey::Generate(Algorithm::kHs256, kCreated, r1));
  ASSERT_OK_AND_ASSIGN(auto g2,
                       SigningKey::Generate(Algorithm::kHs256, kCreated, r2));
  EXPECT_EQ(g1->kid(), g2->kid());
  // Long secrets (> one SHA-256 block) are hashed first, as RFC 2104 says.
  ASSERT_OK_AND_ASSIGN(
      auto big, SigningKey::FromPrivateKey(Algorithm::kHs256,
                                           std::string(100, 'k'), kCreated));
  ASSERT_OK_AND_ASSIGN(std::string mac, big->Sign("m"));
  EXPECT_TRUE(big->Verify("m", mac));
}
TEST(SigningKeyTest, ImportChecksKeyFitsAlgorithm) {
  auto ec = Gen(Algorithm::kEs256);
  ASSERT_OK_AND_ASSIGN(std::string ec_der, ec->ExportPrivateKey());
  EXPECT_THAT(SigningKey::FromPrivateKey(Algorithm::kRs256, ec_der, kCreated),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RSA")));
  EXPECT_THAT(
      SigningKey::FromPrivateKey(Algorithm::kEdDsa, ec_der, kCreated),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Ed25519")));
  // A P-384 key is not an ES256 key.
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  EXPECT_THAT(
      SigningKey::FromPrivateKey(Algorithm::kEs256, Pkcs8Der(p384), kCreated),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("P-256")));
  EVP_PKEY_free(p384);
  // RSA below 2048 bits is refused.
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024});
  ASSERT_NE(small, nullptr);
  EXPECT_THAT(
      SigningKey::FromPrivateKey(Algorithm::kRs256, Pkcs8Der(small), kCreated),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2048")));
  EVP_PKEY_free(small);
  EXPECT_THAT(
      SigningKey::FromPrivateKey(Algorithm::kEs256, "garbage", kCreated),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      SigningKey::FromPrivateKey(Algorithm::kHs256, std::string(31, 'k'),
                                 kCreated),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
}
TEST(KeyStateTest, Names) {
  EXPECT_EQ(KeyStateName(KeyState::kPrimary), "primary");
  EXPECT_EQ(KeyStateName(KeyState::kActive), "active");
  EXPECT_EQ(KeyStateName(KeyState::kRetired), "retired");
  EXPECT_EQ(static_cast<int>(KeyState::kRetired), 3);
}

}  // namespace
}  // namespace token_authority::token

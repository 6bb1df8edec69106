#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/signing_key_test_util.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace {

using testing::Gen;
using ::testing::HasSubstr;
using testing::kCreated;
using testing::Rsa;
using ::testing::StartsWith;
using ::token_authority::testing::StatusIs;

TEST(SigningKeyPemTest, PrivateKeyExportImportRoundTrips) {
  for (Algorithm alg : {Algorithm::kEs256, Algorithm::kRs256, Algorithm::kEdDsa,
                        Algorithm::kHs256}) {
    SCOPED_TRACE(AlgorithmName(alg));
    std::unique_ptr<const SigningKey> owned;
    const SigningKey* key;
    if (alg == Algorithm::kRs256) {
      key = &Rsa();
    } else {
      owned = Gen(alg);
      key = owned.get();
    }
    ASSERT_OK_AND_ASSIGN(std::string material, key->ExportPrivateKey());
    ASSERT_OK_AND_ASSIGN(auto back,
                         SigningKey::FromPrivateKey(alg, material, kCreated));
    EXPECT_EQ(back->kid(), key->kid());
    ASSERT_OK_AND_ASSIGN(std::string sig, back->Sign("x.y"));
    EXPECT_TRUE(key->Verify("x.y", sig));
    if (alg != Algorithm::kHs256) {
      ASSERT_OK_AND_ASSIGN(std::string pem, key->ExportPrivateKeyPem());
      EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----"));
      ASSERT_OK_AND_ASSIGN(auto from_pem,
                           SigningKey::FromPrivateKey(alg, pem, kCreated));
      EXPECT_EQ(from_pem->kid(), key->kid());
      // The DER never contains the PEM armour and is not the PEM.
      EXPECT_FALSE(absl::StrContains(material, "BEGIN"));
      // Trailing garbage after the DER is refused.
      EXPECT_THAT(SigningKey::FromPrivateKey(alg, material + "x", kCreated),
                  StatusIs(absl::StatusCode::kInvalidArgument));
    } else {
      EXPECT_EQ(material.size(), 32u);
      EXPECT_THAT(key->ExportPrivateKeyPem(),
                  StatusIs(absl::StatusCode::kFailedPrecondition));
    }
  }
}
TEST(SigningKeyPemTest, EncryptedPemIsRefusedWithoutPrompting) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_128_cbc(), pass, 6,
                                          nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  EXPECT_THAT(pem, HasSubstr("ENCRYPTED"));
  EXPECT_THAT(SigningKey::FromPrivateKey(Algorithm::kEs256, pem, kCreated),
              StatusIs(absl::StatusCode::kInvalidArgument));
}
TEST(SigningKeyPemTest, PublicKeysOnlyVerify) {
  auto ec = Gen(Algorithm::kEs256);
  // SubjectPublicKeyInfo from OpenSSL via the JWK round trip and SPKI DER.
  ASSERT_OK_AND_ASSIGN(std::string der, ec->ExportPrivateKey());
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* pkey =
      d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  unsigned char* spki = nullptr;
  int spki_len = i2d_PUBKEY(pkey, &spki);
  std::string spki_der(reinterpret_cast<char*>(spki),
                       static_cast<size_t>(spki_len));
  OPENSSL_free(spki);
  EVP_PKEY_free(pkey);
  ASSERT_OK_AND_ASSIGN(auto pub, SigningKey::FromPublicKey(Algorithm::kEs256,
                                                           spki_der, kCreated));
  EXPECT_EQ(pub->kid(), ec->kid());
  EXPECT_FALSE(pub->can_sign());
  EXPECT_THAT(pub->Sign("x"), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(pub->ExportPrivateKey(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(std::string sig, ec->Sign("x"));
  EXPECT_TRUE(pub->Verify("x", sig));
  EXPECT_THAT(SigningKey::FromPublicKey(Algorithm::kHs256, spki_der, kCreated),
              StatusIs(absl::StatusCode::kInvalidArgument));
}
}  // namespace
}  // namespace token_authority::token

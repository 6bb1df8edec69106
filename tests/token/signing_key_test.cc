#include "token/signing_key.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

const absl::Time kCreated = absl::FromUnixSeconds(1700000000);

// RFC 8037 Appendix A.1 (private key) and A.4 (signing input and signature).
constexpr char kRfc8037Jwk[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
constexpr char kRfc8037SigningInput[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfc8037Signature[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7s"
    "VvpAr_MuM0KAg";

// RFC 7515 Appendix A.3 (ES256).
constexpr char kRfc7515A3PublicJwk[] =
    R"({"kty":"EC","crv":"P-256",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr char kRfc7515A3PrivateD[] =
    "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
constexpr char kRfc7515A3SigningInput[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS"
    "9pc"
    "19yb290Ijp0cnVlfQ";
constexpr char kRfc7515A3Signature[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"
    "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqP"
    "P3-Kg6NU1Q";

std::string B64(const char* s) {
  auto r = Base64UrlDecode(s);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : "";
}

std::unique_ptr<const SigningKey> Gen(Algorithm alg) {
  FakeRandom random(42);
  auto k = SigningKey::Generate(alg, kCreated, random);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *std::move(k) : nullptr;
}

const SigningKey& Rsa() {
  static const SigningKey* const kKey = Gen(Algorithm::kRs256).release();
  return *kKey;
}

// DER-encodes (r, s) of a raw 64-byte signature with OpenSSL.
std::string ToDer(const std::string& rs) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(
      sig,
      BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()), 32, nullptr),
      BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()) + 32, 32,
                nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

std::string Pkcs8Der(EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(pkey);
  int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  return out;
}

TEST(SigningKeyTest, Rfc8037A4Ed25519ExactSignature) {
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(kRfc8037Jwk, kCreated));
  EXPECT_EQ(key->algorithm(), Algorithm::kEdDsa);
  EXPECT_TRUE(key->can_sign());
  ASSERT_OK_AND_ASSIGN(std::string sig, key->Sign(kRfc8037SigningInput));
  EXPECT_EQ(Base64UrlEncode(sig), kRfc8037Signature);
  EXPECT_TRUE(key->Verify(kRfc8037SigningInput, sig));
  // The public half alone verifies the RFC's signature (A.5).
  ASSERT_OK_AND_ASSIGN(
      auto pub, SigningKey::FromJwk(
                    R"({"kty":"OKP","crv":"Ed25519",)"
                    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})",
                    kCreated));
  EXPECT_FALSE(pub->can_sign());
  EXPECT_TRUE(pub->Verify(kRfc8037SigningInput, B64(kRfc8037Signature)));
  EXPECT_EQ(pub->kid(), key->kid());
}

TEST(SigningKeyTest, Rfc7515A3Es256Verifies) {
  ASSERT_OK_AND_ASSIGN(auto key,
                       SigningKey::FromJwk(kRfc7515A3PublicJwk, kCreated));
  EXPECT_EQ(key->algorithm(), Algorithm::kEs256);
  const std::string sig = B64(kRfc7515A3Signature);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_TRUE(key->Verify(kRfc7515A3SigningInput, sig));
  std::string tampered = kRfc7515A3SigningInput;
  tampered.back() = 'R';
  EXPECT_FALSE(key->Verify(tampered, sig));
  // The DER form of the very same signature is refused (JWS needs R||S).
  EXPECT_FALSE(key->Verify(kRfc7515A3SigningInput, ToDer(sig)));
}

TEST(SigningKeyTest, Rfc7515A3PrivateKeySignsAndKeepsThumbprintKid) {
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

TEST(SigningKeyTest, Es256RefusesOutOfRangeScalars) {
  auto key = Gen(Algorithm::kEs256);
  ASSERT_OK_AND_ASSIGN(std::string sig, key->Sign("payload"));
  ASSERT_TRUE(key->Verify("payload", sig));
  const std::string n = B64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
  ASSERT_EQ(n.size(), 32u);
  const std::string zero(32, '\0');
  std::string n_minus_1 = n;
  n_minus_1[31] = static_cast<char>(n_minus_1[31] - 1);
  const std::string ones(32, '\xff');
  for (const std::string& bad :
       {zero + sig.substr(32), sig.substr(0, 32) + zero, n + sig.substr(32),
        sig.substr(0, 32) + n, ones + sig.substr(32), sig.substr(0, 32) + ones,
        n_minus_1 + sig.substr(32), sig.substr(0, 63), sig + "x",
        std::string()}) {
    EXPECT_FALSE(key->Verify("payload", bad));
  }
  EXPECT_FALSE(key->Verify("payload", ToDer(sig)));
}

TEST(SigningKeyTest, EveryAlgorithmSignsAndVerifies) {
  for (Algorithm alg : {Algorithm::kEs256, Algorithm::kRs256, Algorithm::kEdDsa,
                        Algorithm::kHs256}) {
    SCOPED_TRACE(AlgorithmName(alg));
    const SigningKey* key;
    std::unique_ptr<const SigningKey> owned;
    if (alg == Algorithm::kRs256) {
      key = &Rsa();
    } else {
      owned = Gen(alg);
      key = owned.get();
    }
    EXPECT_EQ(key->algorithm(), alg);
    EXPECT_EQ(key->created_at(), kCreated);
    ASSERT_OK_AND_ASSIGN(std::string sig, key->Sign("head.body"));
    const size_t expected = alg == Algorithm::kRs256   ? 256u
                            : alg == Algorithm::kHs256 ? 32u
                                                       : 64u;
    EXPECT_EQ(sig.size(), expected);
    EXPECT_TRUE(key->Verify("head.body", sig));
    EXPECT_FALSE(key->Verify("head.bodY", sig));
    std::string flipped = sig;
    flipped[5] ^= 1;
    EXPECT_FALSE(key->Verify("head.body", flipped));
    EXPECT_FALSE(key->Verify("head.body", sig.substr(1)));
    EXPECT_FALSE(key->Verify("head.body", ""));
  }
}

TEST(SigningKeyTest, PrivateKeyExportImportRoundTrips) {
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

TEST(SigningKeyTest, EncryptedPemIsRefusedWithoutPrompting) {
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

TEST(SigningKeyTest, PublicKeysOnlyVerify) {
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

// RFC 4231 test case 2 via the HS256 key (HMAC-SHA256("Jefe", ...)) would
// need a 4-byte key, below our minimum; test case 6/7 use a 131-byte key.
TEST(SigningKeyTest, HmacMatchesRfc4231TestCase7) {
  const std::string key(131, '\xaa');
  const std::string data =
      "This is a test using a larger than block-size key and a larger than "
      "block-size data. The key needs to be hashed before being used by the "
      "HMAC algorithm.";
  ASSERT_OK_AND_ASSIGN(
      auto k, SigningKey::FromPrivateKey(Algorithm::kHs256, key, kCreated));
  ASSERT_OK_AND_ASSIGN(std::string mac, k->Sign(data));
  // 9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2
  EXPECT_EQ(Base64UrlEncode(mac),
            "mwn_pxuUL8snY1-81bDpRL_cY2RPBxOTin9RU1w6NeI");
}

TEST(SigningKeyTest, PublicJwkShapes) {
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

TEST(SigningKeyTest, FromJwkRefusesBadKeys) {
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

TEST(SigningKeyTest, SmallRsaJwkIsRefused) {
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

TEST(SigningKeyTest, JwkKidIsKept) {
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

TEST(SigningKeyTest, ConcurrentUseIsSafe) {
  auto es = Gen(Algorithm::kEs256);
  auto hs = Gen(Algorithm::kHs256);
  auto ed = Gen(Algorithm::kEdDsa);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string msg = "m" + std::to_string(t * 1000 + i);
        for (const SigningKey* k : {es.get(), hs.get(), ed.get()}) {
          auto sig = k->Sign(msg);
          if (!sig.ok() || !k->Verify(msg, *sig) ||
              k->Verify(msg + "x", *sig)) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(KeyStateTest, Names) {
  EXPECT_EQ(KeyStateName(KeyState::kPrimary), "primary");
  EXPECT_EQ(KeyStateName(KeyState::kActive), "active");
  EXPECT_EQ(KeyStateName(KeyState::kRetired), "retired");
  EXPECT_EQ(static_cast<int>(KeyState::kRetired), 3);
}

}  // namespace
}  // namespace token_authority::token

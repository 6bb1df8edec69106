#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/signing_key_test_util.h"
#include "token/base64url.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace {

using testing::B64;
using testing::Gen;
using testing::kCreated;
using testing::kRfc7515A3PublicJwk;
using testing::kRfc7515A3Signature;
using testing::kRfc7515A3SigningInput;
using testing::kRfc8037Jwk;
using testing::kRfc8037Signature;
using testing::kRfc8037SigningInput;
using testing::Rsa;

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

TEST(SigningKeySignTest, Rfc8037A4Ed25519ExactSignature) {
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
TEST(SigningKeySignTest, Rfc7515A3Es256Verifies) {
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
TEST(SigningKeySignTest, Es256RefusesOutOfRangeScalars) {
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
TEST(SigningKeySignTest, EveryAlgorithmSignsAndVerifies) {
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
// RFC 4231 test case 2 via the HS256 key (HMAC-SHA256("Jefe", ...)) would
// need a 4-byte key, below our minimum; test case 6/7 use a 131-byte key.
TEST(SigningKeySignTest, HmacMatchesRfc4231TestCase7) {
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
TEST(SigningKeySignTest, ConcurrentUseIsSafe) {
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
}  // namespace
}  // namespace token_authority::token

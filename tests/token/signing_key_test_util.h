// Helpers and published test vectors shared by the signing key tests
// (signing_key_test.cc, signing_key_pem_test.cc, signing_key_jwk_test.cc,
// signing_key_sign_test.cc).
#ifndef TESTS_TOKEN_SIGNING_KEY_TEST_UTIL_H_
#define TESTS_TOKEN_SIGNING_KEY_TEST_UTIL_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "base/random.h"
#include "gtest/gtest.h"
#include "token/base64url.h"
#include "token/signing_key.h"

namespace token_authority::token::testing {

inline const absl::Time kCreated = absl::FromUnixSeconds(1700000000);

// RFC 8037 Appendix A.1 (private key) and A.4 (signing input and signature).
inline constexpr char kRfc8037Jwk[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
inline constexpr char kRfc8037SigningInput[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
inline constexpr char kRfc8037Signature[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7s"
    "VvpAr_MuM0KAg";

// RFC 7515 Appendix A.3 (ES256).
inline constexpr char kRfc7515A3PublicJwk[] =
    R"({"kty":"EC","crv":"P-256",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
inline constexpr char kRfc7515A3PrivateD[] =
    "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
inline constexpr char kRfc7515A3SigningInput[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS"
    "9pc"
    "19yb290Ijp0cnVlfQ";
inline constexpr char kRfc7515A3Signature[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"
    "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqP"
    "P3-Kg6NU1Q";

inline std::string B64(const char* s) {
  auto r = Base64UrlDecode(s);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : "";
}

// A new key of `alg` created at kCreated (deterministic for HS256).
inline std::unique_ptr<const SigningKey> Gen(Algorithm alg) {
  FakeRandom random(42);
  auto k = SigningKey::Generate(alg, kCreated, random);
  EXPECT_TRUE(k.ok()) << k.status();
  return k.ok() ? *std::move(k) : nullptr;
}

// One RSA key per test binary (generating one takes a while).
inline const SigningKey& Rsa() {
  static const SigningKey* const kKey = Gen(Algorithm::kRs256).release();
  return *kKey;
}

}  // namespace token_authority::token::testing

#endif  // TESTS_TOKEN_SIGNING_KEY_TEST_UTIL_H_

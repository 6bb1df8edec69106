// Helpers for token core tests: hand-made JWS with arbitrary headers and
// payloads, signed by real keys.
#ifndef TESTS_TOKEN_TOKEN_TEST_UTIL_H_
#define TESTS_TOKEN_TOKEN_TEST_UTIL_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "token/base64url.h"
#include "token/signing_key.h"

namespace token_authority::token::testing {

// BASE64URL(header) "." BASE64URL(payload), the JWS signing input.
inline std::string SigningInput(absl::string_view header_json,
                                absl::string_view payload_json) {
  return absl::StrCat(Base64UrlEncode(header_json), ".",
                      Base64UrlEncode(payload_json));
}

// A compact JWS of exactly these bytes, signed by `key`.
inline std::string SignRaw(absl::string_view header_json,
                           absl::string_view payload_json,
                           const SigningKey& key) {
  std::string input = SigningInput(header_json, payload_json);
  auto sig = key.Sign(input);
  EXPECT_TRUE(sig.ok()) << sig.status();
  return absl::StrCat(input, ".", Base64UrlEncode(sig.ok() ? *sig : ""));
}

// The standard header the core writes for `key`.
inline std::string HeaderFor(const SigningKey& key,
                             absl::string_view alg_override = "") {
  return absl::StrCat(
      "{\"alg\":\"",
      alg_override.empty() ? AlgorithmName(key.algorithm()) : alg_override,
      "\",\"typ\":\"JWT\",\"kid\":\"", key.kid(), "\"}");
}

}  // namespace token_authority::token::testing

#endif  // TESTS_TOKEN_TOKEN_TEST_UTIL_H_

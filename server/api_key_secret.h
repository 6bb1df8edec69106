// API key secrets: "ta_<key id>_<43 base64url characters (256 random bits)>".
// The key id is public (it names the key in lists and logs); the store keeps
// only SHA-256 of the whole secret.
#ifndef SERVER_API_KEY_SECRET_H_
#define SERVER_API_KEY_SECRET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/random.h"

namespace token_authority::server {

// A freshly made secret with its id and hash.
struct NewApiKey {
  std::string key_id;       // "k" + 16 lowercase hex digits (no '_')
  std::string secret;       // shown once to the caller, never stored or logged
  std::string secret_hash;  // SHA-256(secret), 32 raw bytes
};

// Draws a new key id and secret from `random`. Fails only if `random` fails.
absl::StatusOr<NewApiKey> MakeApiKey(RandomSource& random);

// The key id of a well-formed secret; InvalidArgument (without echoing the
// secret) if `secret` does not have the form above. Pure, thread-safe.
absl::StatusOr<std::string> ApiKeyIdFromSecret(absl::string_view secret);

// SHA-256 of `data` as 32 raw bytes, with the digest fetched from OpenSSL
// once per process (SHA256() fetches it on every call). Pure, thread-safe.
std::string Sha256Digest(absl::string_view data);

// SHA-256 of `secret` as 32 raw bytes (Sha256Digest). Pure, thread-safe.
std::string HashApiKeySecret(absl::string_view secret);

// Whether two hashes are equal, in time independent of their contents
// (CRYPTO_memcmp). Different lengths compare unequal.
bool ApiKeyHashesEqual(absl::string_view a, absl::string_view b);

}  // namespace token_authority::server

#endif  // SERVER_API_KEY_SECRET_H_

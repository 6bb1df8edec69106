// JWK thumbprints (RFC 7638) and JWK Sets (RFC 7517 section 5).
#ifndef TOKEN_JWK_H_
#define TOKEN_JWK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "token/signing_key.h"

namespace token_authority::token {

// The RFC 7638 SHA-256 thumbprint (base64url) of a JWK given as JSON: the
// required members of its "kty" ("EC": crv, kty, x, y; "RSA": e, kty, n;
// "OKP": crv, kty, x; "oct": k, kty) serialised in lexicographic order
// without whitespace, then hashed. InvalidArgumentError if the JWK is not a
// JSON object, has an unknown kty or lacks a required member (or it is not a
// string).
absl::StatusOr<std::string> JwkThumbprint(absl::string_view jwk_json);

// A JWK Set {"keys":[...]} of the public halves of `keys`, in the given
// order. HS256 keys are skipped: their secrets are never exported. Never
// fails.
std::string ToJwksJson(absl::Span<const SigningKey* const> keys);

// The keys of a JWK Set, for verifying offline (created_at is set to
// `created_at`). Members with "use" other than "sig", unknown "kty" or
// "alg" values, and "oct" keys are skipped (forward compatible, and a JWK
// Set never carries secrets); a key of a known type that is malformed, a
// private key (member "d"), duplicate kids, duplicate JSON member names or a
// document that is not {"keys":[...]} is an InvalidArgumentError.
absl::StatusOr<std::vector<std::shared_ptr<const SigningKey>>> ParseJwks(
    absl::string_view jwks_json, absl::Time created_at);

}  // namespace token_authority::token

#endif  // TOKEN_JWK_H_

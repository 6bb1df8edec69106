// The JWS algorithms the token core signs and verifies.
#ifndef TOKEN_ALGORITHM_H_
#define TOKEN_ALGORITHM_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace token_authority::token {

// Numeric values equal those of proto tokenauthority.v1.Algorithm.
enum class Algorithm {
  kEs256 = 1,  // ECDSA P-256 SHA-256, 64-byte R||S signatures (the default)
  kRs256 = 2,  // RSASSA-PKCS1-v1_5 SHA-256, keys of 2048 bits or more
  kEdDsa = 3,  // Ed25519 (RFC 8037)
  kHs256 = 4,  // HMAC-SHA256, secrets of 32 bytes or more; never exported
};

inline constexpr Algorithm kDefaultAlgorithm = Algorithm::kEs256;

// The JOSE "alg" name: "ES256", "RS256", "EdDSA", "HS256".
absl::string_view AlgorithmName(Algorithm alg);

// The algorithm whose JOSE name is exactly `name` (case-sensitive, as RFC
// 7515 requires); nullopt for "none", other casings and unknown names.
std::optional<Algorithm> AlgorithmFromName(absl::string_view name);

// For flags and the CLI: like AlgorithmFromName but case-insensitive
// ("es256", "eddsa", "Ed25519" also accepted).
std::optional<Algorithm> ParseAlgorithmFlag(absl::string_view text);

// True for ES256, RS256 and EdDSA (keys with a public half that may be
// published in a JWK Set).
bool IsAsymmetric(Algorithm alg);

}  // namespace token_authority::token

#endif  // TOKEN_ALGORITHM_H_

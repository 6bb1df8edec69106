#include "token/algorithm.h"

#include "absl/strings/match.h"

namespace token_authority::token {

absl::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kEs256:
      return "ES256";
    case Algorithm::kRs256:
      return "RS256";
    case Algorithm::kEdDsa:
      return "EdDSA";
    case Algorithm::kHs256:
      return "HS256";
  }
  return "unknown";
}

std::optional<Algorithm> AlgorithmFromName(absl::string_view name) {
  if (name == "ES256") return Algorithm::kEs256;
  if (name == "RS256") return Algorithm::kRs256;
  if (name == "EdDSA") return Algorithm::kEdDsa;
  if (name == "HS256") return Algorithm::kHs256;
  return std::nullopt;
}

std::optional<Algorithm> ParseAlgorithmFlag(absl::string_view text) {
  for (Algorithm a : {Algorithm::kEs256, Algorithm::kRs256, Algorithm::kEdDsa,
                      Algorithm::kHs256}) {
    if (absl::EqualsIgnoreCase(text, AlgorithmName(a))) return a;
  }
  if (absl::EqualsIgnoreCase(text, "Ed25519")) return Algorithm::kEdDsa;
  return std::nullopt;
}

bool IsAsymmetric(Algorithm alg) { return alg != Algorithm::kHs256; }

}  // namespace token_authority::token

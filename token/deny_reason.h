// Why a token is refused; shared by the core verifier, the server and the
// client's LocalVerifier so that all give the same reasons and sentences.
#ifndef TOKEN_DENY_REASON_H_
#define TOKEN_DENY_REASON_H_

#include "absl/strings/string_view.h"

namespace token_authority::token {

// Numeric values equal those of proto tokenauthority.v1.DenyReason.
enum class DenyReason {
  kUnspecified = 0,            // not denied
  kMalformed = 1,              // not a well-formed JWT with the right claims
  kUnsupportedAlgorithm = 2,   // "alg" none/unknown, or not the key's alg
  kUnknownKey = 3,             // no such kid in the organisation, or retired
  kBadSignature = 4,           // the signature does not verify
  kExpired = 5,                // exp passed (beyond the leeway)
  kNotYetValid = 6,            // nbf in the future (beyond the leeway)
  kRevoked = 7,                // revoked (decided by a VerifyHooks)
  kTargetMismatch = 8,         // other organisation, group or stream
  kIpMismatch = 9,             // bound to another address or network
  kDomainMismatch = 10,        // bound to another domain
  kOrganizationDisabled = 11,  // organisation gone or without secure playback
};

inline constexpr int kMaxDenyReason = 11;

// The proto value name without prefix: "MALFORMED", ..., "UNSPECIFIED".
absl::string_view DenyReasonName(DenyReason reason);

// A generic sentence for people, e.g. kExpired -> "The token has expired.".
// The verifier's results carry a more specific detail sentence.
absl::string_view DenyReasonSentence(DenyReason reason);

}  // namespace token_authority::token

#endif  // TOKEN_DENY_REASON_H_

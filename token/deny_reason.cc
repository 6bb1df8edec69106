#include "token/deny_reason.h"

namespace token_authority::token {

absl::string_view DenyReasonName(DenyReason reason) {
  switch (reason) {
    case DenyReason::kUnspecified:
      return "UNSPECIFIED";
    case DenyReason::kMalformed:
      return "MALFORMED";
    case DenyReason::kUnsupportedAlgorithm:
      return "UNSUPPORTED_ALGORITHM";
    case DenyReason::kUnknownKey:
      return "UNKNOWN_KEY";
    case DenyReason::kBadSignature:
      return "BAD_SIGNATURE";
    case DenyReason::kExpired:
      return "EXPIRED";
    case DenyReason::kNotYetValid:
      return "NOT_YET_VALID";
    case DenyReason::kRevoked:
      return "REVOKED";
    case DenyReason::kTargetMismatch:
      return "TARGET_MISMATCH";
    case DenyReason::kIpMismatch:
      return "IP_MISMATCH";
    case DenyReason::kDomainMismatch:
      return "DOMAIN_MISMATCH";
    case DenyReason::kOrganizationDisabled:
      return "ORGANIZATION_DISABLED";
  }
  return "UNKNOWN";
}

absl::string_view DenyReasonSentence(DenyReason reason) {
  switch (reason) {
    case DenyReason::kUnspecified:
      return "The token is valid for this playback.";
    case DenyReason::kMalformed:
      return "The token is not a well-formed playback token.";
    case DenyReason::kUnsupportedAlgorithm:
      return "The token uses a signature algorithm that is not accepted.";
    case DenyReason::kUnknownKey:
      return "The token was signed with a key this organisation does not "
             "know or no longer uses.";
    case DenyReason::kBadSignature:
      return "The token's signature is not valid.";
    case DenyReason::kExpired:
      return "The token has expired.";
    case DenyReason::kNotYetValid:
      return "The token is not valid yet.";
    case DenyReason::kRevoked:
      return "The token has been revoked.";
    case DenyReason::kTargetMismatch:
      return "The token does not cover this organisation, stream group or "
             "stream.";
    case DenyReason::kIpMismatch:
      return "The token is bound to another IP address or network.";
    case DenyReason::kDomainMismatch:
      return "The token is bound to another domain.";
    case DenyReason::kOrganizationDisabled:
      return "Secure playback is not enabled for this organisation.";
  }
  return "The token was refused.";
}

}  // namespace token_authority::token

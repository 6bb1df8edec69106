// The API's enum values, times and targets in words, for people (tokenctl,
// the dialogs). The conversions themselves are in convert/proto_convert.h.
// Pure functions; thread-safe.
//
// One spelling per value everywhere: an enum value is its name without the
// enum's prefix, lower-cased, words joined by '-' ("TOKEN_STATE_NOT_YET_VALID"
// -> "not-yet-valid", "DENY_REASON_IP_MISMATCH" -> "ip-mismatch"); algorithms
// keep their JOSE names ("ES256", "EdDSA"). Times are RFC 3339 in UTC to the
// second ("2025-03-01T12:00:00Z").
#ifndef CLIENT_PROTO_TEXT_H_
#define CLIENT_PROTO_TEXT_H_

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client {

// For people: "ES256", "active", "not-yet-valid", "invalid", "ip-mismatch",
// "admin", "primary", ... Unset values print "unspecified"; numbers the
// enum does not know print "unknown".
std::string AlgorithmText(tokenauthority::v1::Algorithm alg);
std::string TokenStateText(tokenauthority::v1::TokenState state);
std::string DenyReasonText(tokenauthority::v1::DenyReason reason);
std::string ApiKeyRoleText(tokenauthority::v1::ApiKeyRole role);
std::string SigningKeyStateText(tokenauthority::v1::SigningKeyState state);

// Any enum value of the API in the words above (Algorithm values by their
// JOSE names).
std::string EnumValueText(const google::protobuf::EnumValueDescriptor& value);

// `t` as RFC 3339 in UTC to the second: "2025-03-01T12:00:00Z" (a fraction
// of a second is cut, never rounded up).
std::string UtcSecondsText(absl::Time t);

// For people: "entire stream group abc", "streams a, b",
// "entire organisation", or "none" for an empty target.
std::string DescribeTarget(const tokenauthority::v1::Target& target);

}  // namespace token_authority::client

#endif  // CLIENT_PROTO_TEXT_H_

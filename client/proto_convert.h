// Conversions between the token core's values and the generated proto
// messages, for the client side. Pure functions; thread-safe.
#ifndef CLIENT_PROTO_CONVERT_H_
#define CLIENT_PROTO_CONVERT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "token/algorithm.h"
#include "token/claims.h"
#include "token/deny_reason.h"
#include "token/target.h"
#include "token/token_spec.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client {

// Whole seconds and nanoseconds of `t` (t must be finite).
google::protobuf::Timestamp ToProtoTimestamp(absl::Time t);
// An unset (default) timestamp is the Unix epoch here; callers check
// has_...() first.
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& ts);

google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

tokenauthority::v1::Target ToProtoTarget(const token::Target& target);
// nullopt when no kind is set (or organization is false).
std::optional<token::Target> FromProtoTarget(
    const tokenauthority::v1::Target& target);

// The proto spec of a core spec (unset optionals stay unset).
tokenauthority::v1::TokenSpec ToProtoSpec(const token::TokenSpec& spec);

// A Token record from verified or decoded claims (no state, key or
// revocation fields; the caller fills those it knows).
tokenauthority::v1::Token TokenFromClaims(const token::Claims& claims);

tokenauthority::v1::DenyReason ToProtoDenyReason(token::DenyReason reason);
tokenauthority::v1::Algorithm ToProtoAlgorithm(token::Algorithm alg);

// For people: "ES256", "active", "revoked", "admin", "primary", ... Unset
// values print "unspecified".
std::string AlgorithmText(tokenauthority::v1::Algorithm alg);
std::string TokenStateText(tokenauthority::v1::TokenState state);
std::string DenyReasonText(tokenauthority::v1::DenyReason reason);
std::string ApiKeyRoleText(tokenauthority::v1::ApiKeyRole role);
std::string SigningKeyStateText(tokenauthority::v1::SigningKeyState state);

// For people: "entire stream group abc", "streams a, b",
// "entire organisation", or "none" for an empty target.
std::string DescribeTarget(const tokenauthority::v1::Target& target);

}  // namespace token_authority::client

#endif  // CLIENT_PROTO_CONVERT_H_

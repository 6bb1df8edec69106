// Conversions between the token core's values (token/) and the generated
// tokenauthority.v1 messages, written once for both ends: the server (which
// adds its records' conversions in server/proto_conversion.h) and the client.
// Pure functions; thread-safe. Conversions from protos that can meet bad
// input validate it and name the field on error.
#ifndef CONVERT_PROTO_CONVERT_H_
#define CONVERT_PROTO_CONVERT_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "token/algorithm.h"
#include "token/claims.h"
#include "token/deny_reason.h"
#include "token/target.h"
#include "token/token_spec.h"
#include "token/validation.h"
#include "tokenauthority/v1/token_service.pb.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::convert {

// --- Times -------------------------------------------------------------

// Whole seconds (floor) and nanoseconds of `t`, which must be finite.
google::protobuf::Timestamp ToProtoTimestamp(absl::Time t);
// A timestamp received from a caller: INVALID_ARGUMENT "<field>: ..." when
// it lies outside 0001-01-01..9999-12-31 (google.protobuf.Timestamp's range)
// or its nanos outside [0, 1e9).
absl::StatusOr<absl::Time> FromProtoTimestamp(
    const google::protobuf::Timestamp& ts, absl::string_view field);
// A timestamp from the authority itself (a record, an event), for display:
// no check; an unset timestamp is the Unix epoch, so callers check has_...()
// first.
absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& ts);

google::protobuf::Duration ToProtoDuration(absl::Duration d);
// INVALID_ARGUMENT "<field>: not a valid duration" for seconds beyond
// +-10,000 years, nanos outside (-1e9, 1e9) or of the other sign.
absl::StatusOr<absl::Duration> FromProtoDuration(
    const google::protobuf::Duration& d, absl::string_view field);

// --- The token's values ------------------------------------------------

// Always selects the oneof, even for a stream list that is empty (so that
// the other end can say what is wrong with it).
tokenauthority::v1::Target ToProtoTarget(const token::Target& target);
// nullopt when no kind is set, or when "organization" is set to false (see
// FromProtoSpec for the problem it is in a spec).
std::optional<token::Target> FromProtoTarget(
    const tokenauthority::v1::Target& target);

// The proto spec of a core spec (unset optionals stay unset).
tokenauthority::v1::TokenSpec ToProtoSpec(const token::TokenSpec& spec);
// The spec as given. Problems the core spec cannot carry (an "organization"
// target set to false, a bad lifetime or timestamp) go to `violations`
// (field names as in token/validation.h), so that the caller reports them
// together with ValidateTokenSpec's.
token::TokenSpec FromProtoSpec(const tokenauthority::v1::TokenSpec& spec,
                               std::vector<token::FieldViolation>* violations);

// A Token message from verified or decoded claims (no state, key or
// revocation fields; the caller fills those it knows).
tokenauthority::v1::Token TokenFromClaims(const token::Claims& claims);

// The numeric values are equal by design (token/deny_reason.h). A value
// outside the enum (which the core never makes) is MALFORMED, never
// UNSPECIFIED, which means "allowed".
tokenauthority::v1::DenyReason ToProtoDenyReason(token::DenyReason reason);

tokenauthority::v1::Algorithm ToProtoAlgorithm(token::Algorithm alg);
// UNSPECIFIED is the default algorithm (ES256); INVALID_ARGUMENT
// "algorithm: unknown value N" outside the enum.
absl::StatusOr<token::Algorithm> FromProtoAlgorithm(
    tokenauthority::v1::Algorithm algorithm);

}  // namespace token_authority::convert

#endif  // CONVERT_PROTO_CONVERT_H_

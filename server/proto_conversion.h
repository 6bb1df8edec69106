// Conversions between the tokenauthority.v1 protos and the domain types of
// the core (token/, storage/, server/token_authority.h). Pure functions,
// thread-safe. Conversions from protos validate what the domain types cannot
// express (enum values, timestamp ranges) and name the field on error.
#ifndef SERVER_PROTO_CONVERSION_H_
#define SERVER_PROTO_CONVERSION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/token_authority.h"
#include "storage/token_store.h"
#include "token/algorithm.h"
#include "token/decoder.h"
#include "token/token_spec.h"
#include "token/verifier.h"
#include "tokenauthority/v1/admin_service.pb.h"
#include "tokenauthority/v1/audit_service.pb.h"
#include "tokenauthority/v1/key_service.pb.h"
#include "tokenauthority/v1/token_service.pb.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::server {

namespace v1 = ::tokenauthority::v1;

// --- Enumerations ------------------------------------------------------

v1::ApiKeyRole ToProto(storage::ApiKeyRole role);
// InvalidArgument "role: ..." for UNSPECIFIED or unknown values.
absl::StatusOr<storage::ApiKeyRole> FromProto(v1::ApiKeyRole role);
v1::TokenState ToProto(storage::TokenState state);
// nullopt for UNSPECIFIED; InvalidArgument "state: ..." for unknown values.
absl::StatusOr<std::optional<storage::TokenState>> FromProto(
    v1::TokenState state);
// --- Requests ----------------------------------------------------------

absl::StatusOr<storage::TokenFilter> FromProto(
    const v1::ListTokensRequest& request);
storage::PageRequest PageFromProto(int32_t page_size,
                                   const std::string& page_token);
// INVALID_ARGUMENT "state: unknown value N" for a state outside the enum
// (the store refuses expired/revoked with its own sentence).
absl::StatusOr<storage::RevokeFilter> FromProto(
    const v1::RevokeTokensRequest& request);
absl::StatusOr<storage::AuditFilter> FromProto(
    const v1::ListAuditEventsRequest& request);
VerifyRequest FromProto(const v1::VerifyTokenRequest& request);

// --- Answers -----------------------------------------------------------

// `text` with every byte sequence that is not well-formed UTF-8 (including
// overlong forms, surrogates and code points above U+10FFFF) replaced by
// U+FFFD. Proto3 `string` fields must hold valid UTF-8, and decoded tokens
// (DecodeToken, verifier details) carry whatever bytes an attacker chose.
std::string ValidUtf8(absl::string_view text);

void ToProto(const TokenRecord& record, v1::Token* out);
void ToProto(const IssuedToken& issued, v1::IssueTokenResponse* out);
void ToProto(const DecodeResult& result, v1::DecodeTokenResponse* out);
void ToProto(const token::VerifyResult& result, v1::VerifyTokenResponse* out);
void ToProto(const storage::RevocationEvent& event, v1::RevocationEvent* out);
// Leaves `snapshot` to the caller.
void ToProto(const OrganizationState& state, v1::OrganizationStateEvent* out);
void ToProto(const storage::SigningKey& key, v1::SigningKey* out);
void ToProto(const storage::AuditEvent& event, v1::AuditEvent* out);
void ToProto(const storage::Organization& org, v1::Organization* out);
void ToProto(const storage::ApiKey& key, v1::ApiKey* out);

}  // namespace token_authority::server

#endif  // SERVER_PROTO_CONVERSION_H_

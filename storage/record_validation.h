// Input checks shared by every TokenStore backend: each returns OK or an
// InvalidArgument whose message starts with the offending field's name.
// Also the token-id codec (22 base64url characters <-> 16 bytes).
#ifndef STORAGE_RECORD_VALIDATION_H_
#define STORAGE_RECORD_VALIDATION_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/token_store.h"

namespace token_authority::storage {

// 22 base64url characters (no padding, canonical: the unused low bits of the
// last character are zero) -> 16 bytes. InvalidArgument naming `field`.
absl::StatusOr<std::string> DecodeTokenId(absl::string_view id,
                                          absl::string_view field = "token_id");
// 16 bytes -> 22 base64url characters. Precondition: bytes.size() == 16.
std::string EncodeTokenId(absl::string_view bytes);

// 1..max characters of [A-Za-z0-9._-].
absl::Status CheckIdentifier(absl::string_view value, absl::string_view field,
                             size_t max_length);
// Valid UTF-8 without control characters, at most `max_chars` code points;
// empty allowed unless `required`.
absl::Status CheckText(absl::string_view value, absl::string_view field,
                       size_t max_chars, bool required = false);
// Printable ASCII without spaces (0x21..0x7e), 1..max bytes.
absl::Status CheckToken68(absl::string_view value, absl::string_view field,
                          size_t max_length);

// A finite time on a whole second -> Unix seconds.
absl::StatusOr<int64_t> WholeSeconds(absl::Time t, absl::string_view field);
// A finite time -> Unix microseconds (floored). InvalidArgument if infinite.
absl::StatusOr<int64_t> Micros(absl::Time t, absl::string_view field);

absl::Status CheckOrganization(const Organization& org);
absl::Status CheckOrganizationUpdate(const OrganizationUpdate& update);
absl::Status CheckApiKey(const ApiKey& key);
absl::Status CheckToken(const Token& token);
absl::Status CheckSigningKey(const SigningKey& key);
absl::Status CheckAuditContext(const AuditContext& audit);
// organization_id required (an identifier).
absl::Status CheckOrganizationId(absl::string_view organization_id);
// organization_id may be empty (service-wide).
absl::Status CheckOptionalOrganizationId(absl::string_view organization_id);
absl::Status CheckTokenFilter(const TokenFilter& filter);
absl::Status CheckRevokeFilter(const RevokeFilter& filter);
absl::Status CheckAuditFilter(const AuditFilter& filter);
absl::Status CheckReason(absl::string_view reason);
// 0 -> kDefaultPageSize; 1..kMaxPageSize as is; else InvalidArgument
// "page_size: ...".
absl::StatusOr<int> EffectivePageSize(int page_size);

}  // namespace token_authority::storage

#endif  // STORAGE_RECORD_VALIDATION_H_

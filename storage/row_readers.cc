#include "storage/row_readers.h"

#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"

namespace token_authority::storage::sqlite {

std::optional<absl::Time> OptionalMicros(const Statement& s, int col) {
  return readers::OptionalMicros(s, col);
}

int64_t FloorSeconds(absl::Time t) {
  return absl::ToInt64Seconds(
      absl::Floor(t - absl::UnixEpoch(), absl::Seconds(1)));
}

absl::StatusOr<Token> ReadToken(const Statement& s) {
  return readers::ReadToken(s);
}

absl::StatusOr<AuditEvent> ReadAudit(const Statement& s) {
  return readers::ReadAudit(s);
}

Organization ReadOrganization(const Statement& s) {
  return readers::ReadOrganization(s);
}

absl::StatusOr<ApiKey> ReadApiKey(const Statement& s) {
  return readers::ReadApiKey(s);
}

absl::StatusOr<std::string> ReadSigningKey(const Statement& s, SigningKey* k) {
  return readers::ReadSigningKey(s, k);
}

RevocationEvent ReadRevocation(const Statement& s) {
  return readers::ReadRevocation(s);
}

}  // namespace token_authority::storage::sqlite

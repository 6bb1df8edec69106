// Row -> record readers shared by every TokenStore backend: each reads the
// current row of a result in the column order of the list named beside it
// (token_queries.h, row_readers.h). `Row` is any type with the accessors of
// sqlite::Statement: IsNull(col), Int64(col), Text(col) (a string view),
// String(col) ("" for NULL) and Blob(col) (bytes, "" for NULL). Pure
// functions of the row: no I/O, no locking.
#ifndef STORAGE_RECORD_READERS_H_
#define STORAGE_RECORD_READERS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/record_validation.h"
#include "storage/token_store.h"

namespace token_authority::storage::readers {

// Stored times: microseconds since the Unix epoch (records' own times) or
// whole seconds (a token's issued/not-before/expiry, as in its JWT).
template <typename Row>
std::optional<absl::Time> OptionalMicros(const Row& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return absl::FromUnixMicros(s.Int64(col));
}

// Columns of kTokenColumns (token_queries.h).
template <typename Row>
absl::StatusOr<Token> ReadToken(const Row& s) {
  Token t;
  t.id = EncodeTokenId(s.Blob(1));
  t.organization_id = s.String(2);
  TA_ASSIGN_OR_RETURN(t.target_kind, sqlite::TargetKindFromColumn(s.Int64(3)));
  switch (t.target_kind) {
    case token::Target::Kind::kStreamGroup:
      t.stream_group_id = s.String(4);
      break;
    case token::Target::Kind::kStreams:
      t.streams = absl::StrSplit(s.Text(4), ',', absl::SkipEmpty());
      break;
    case token::Target::Kind::kOrganization:
      break;
  }
  t.issued_at = absl::FromUnixSeconds(s.Int64(5));
  t.not_before = absl::FromUnixSeconds(s.IsNull(6) ? s.Int64(5) : s.Int64(6));
  t.expires_at = absl::FromUnixSeconds(s.Int64(7));
  t.key_id = s.String(8);
  TA_ASSIGN_OR_RETURN(t.algorithm, sqlite::AlgorithmFromColumn(s.Text(9)));
  t.jwt_sha256 = std::string(s.Blob(10));
  t.issued_by = s.String(11);
  t.user_id = s.String(12);
  t.tag = s.String(13);
  t.client_ip = s.String(14);
  t.domain = s.String(15);
  t.request_id = s.String(16);
  t.spec_fingerprint = std::string(s.Blob(17));
  t.revoked_at = OptionalMicros(s, 18);
  t.revocation_sequence = s.IsNull(19) ? 0 : s.Int64(19);
  t.revocation_reason = s.String(20);
  return t;
}

// Columns of kAuditColumns (token_queries.h).
template <typename Row>
absl::StatusOr<AuditEvent> ReadAudit(const Row& s) {
  AuditEvent e;
  e.id = s.Int64(0);
  e.time = absl::FromUnixMicros(s.Int64(1));
  TA_ASSIGN_OR_RETURN(e.action, AuditActionFromNumber(s.Int64(2)));
  e.actor = s.String(3);
  e.organization_id = s.String(4);
  if (!s.IsNull(5)) e.token_id = EncodeTokenId(s.Blob(5));
  e.tag = s.String(6);
  e.user_id = s.String(7);
  e.request_id = s.String(8);
  e.detail = s.String(9);
  return e;
}

// Columns of kOrgColumns (row_readers.h).
template <typename Row>
Organization ReadOrganization(const Row& s) {
  Organization o;
  o.id = s.String(0);
  o.name = s.String(1);
  o.secure_enabled = s.Int64(2) != 0;
  o.created_at = absl::FromUnixMicros(s.Int64(3));
  o.updated_at = absl::FromUnixMicros(s.Int64(4));
  return o;
}

// Columns of kApiKeyColumns (row_readers.h).
template <typename Row>
absl::StatusOr<ApiKey> ReadApiKey(const Row& s) {
  ApiKey k;
  k.id = s.String(0);
  k.organization_id = s.String(1);
  TA_ASSIGN_OR_RETURN(k.role, ApiKeyRoleFromNumber(s.Int64(2)));
  k.name = s.String(3);
  k.secret_hash = std::string(s.Blob(4));
  k.created_at = absl::FromUnixMicros(s.Int64(5));
  k.revoked_at = OptionalMicros(s, 6);
  k.last_used_at = OptionalMicros(s, 7);
  return k;
}

// Columns of kSigningKeyColumns (row_readers.h): every field but
// private_key; returns the sealed private key.
template <typename Row>
absl::StatusOr<std::string> ReadSigningKey(const Row& s, SigningKey* k) {
  k->organization_id = s.String(0);
  k->kid = s.String(1);
  TA_ASSIGN_OR_RETURN(k->algorithm, sqlite::AlgorithmFromColumn(s.Text(2)));
  TA_ASSIGN_OR_RETURN(k->state, sqlite::KeyStateFromColumn(s.Int64(3)));
  k->created_at = absl::FromUnixMicros(s.Int64(4));
  k->retired_at = OptionalMicros(s, 5);
  return std::string(s.Blob(6));
}

// Columns of kRevocationsSinceSql (token_queries.h).
template <typename Row>
RevocationEvent ReadRevocation(const Row& s) {
  RevocationEvent e;
  e.sequence = s.Int64(0);
  e.token_id = EncodeTokenId(s.Blob(1));
  e.organization_id = s.String(2);
  e.revoked_at = absl::FromUnixMicros(s.Int64(3));
  e.expires_at = absl::FromUnixSeconds(s.Int64(4));
  return e;
}

}  // namespace token_authority::storage::readers

#endif  // STORAGE_RECORD_READERS_H_

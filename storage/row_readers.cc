#include "storage/row_readers.h"

#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/record_validation.h"

namespace token_authority::storage::sqlite {

std::optional<absl::Time> OptionalMicros(const Statement& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return FromMicros(s.Int64(col));
}

int64_t FloorSeconds(absl::Time t) {
  return absl::ToInt64Seconds(
      absl::Floor(t - absl::UnixEpoch(), absl::Seconds(1)));
}

absl::StatusOr<Token> ReadToken(const Statement& s) {
  Token t;
  t.id = EncodeTokenId(s.Blob(1));
  t.organization_id = s.String(2);
  TA_ASSIGN_OR_RETURN(t.target_kind, TargetKindFromColumn(s.Int64(3)));
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
  TA_ASSIGN_OR_RETURN(t.algorithm, AlgorithmFromColumn(s.Text(9)));
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

AuditEvent ReadAudit(const Statement& s) {
  AuditEvent e;
  e.id = s.Int64(0);
  e.time = FromMicros(s.Int64(1));
  e.action = static_cast<AuditAction>(s.Int64(2));
  e.actor = s.String(3);
  e.organization_id = s.String(4);
  if (!s.IsNull(5)) e.token_id = EncodeTokenId(s.Blob(5));
  e.tag = s.String(6);
  e.user_id = s.String(7);
  e.request_id = s.String(8);
  e.detail = s.String(9);
  return e;
}

Organization ReadOrganization(const Statement& s) {
  Organization o;
  o.id = s.String(0);
  o.name = s.String(1);
  o.secure_enabled = s.Int64(2) != 0;
  o.created_at = FromMicros(s.Int64(3));
  o.updated_at = FromMicros(s.Int64(4));
  return o;
}

ApiKey ReadApiKey(const Statement& s) {
  ApiKey k;
  k.id = s.String(0);
  k.organization_id = s.String(1);
  k.role = static_cast<ApiKeyRole>(s.Int64(2));
  k.name = s.String(3);
  k.secret_hash = std::string(s.Blob(4));
  k.created_at = FromMicros(s.Int64(5));
  k.revoked_at = OptionalMicros(s, 6);
  k.last_used_at = OptionalMicros(s, 7);
  return k;
}

absl::StatusOr<std::string> ReadSigningKey(const Statement& s, SigningKey* k) {
  k->organization_id = s.String(0);
  k->kid = s.String(1);
  TA_ASSIGN_OR_RETURN(k->algorithm, AlgorithmFromColumn(s.Text(2)));
  TA_ASSIGN_OR_RETURN(k->state, KeyStateFromColumn(s.Int64(3)));
  k->created_at = FromMicros(s.Int64(4));
  k->retired_at = OptionalMicros(s, 5);
  return std::string(s.Blob(6));
}

RevocationEvent ReadRevocation(const Statement& s) {
  RevocationEvent e;
  e.sequence = s.Int64(0);
  e.token_id = EncodeTokenId(s.Blob(1));
  e.organization_id = s.String(2);
  e.revoked_at = FromMicros(s.Int64(3));
  e.expires_at = absl::FromUnixSeconds(s.Int64(4));
  return e;
}

}  // namespace token_authority::storage::sqlite

// SqliteTokenStoreImpl: signing keys, sealed at rest with AES-256-GCM under
// the key-encryption key, with organisation and kid as associated data.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/random.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/kek_binding.h"
#include "storage/key_encryption_key.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"

namespace token_authority::storage::sqlite {
namespace {

// Seals key.private_key under `kek` and inserts the key of organisation row
// `org_no` in `state`. AlreadyExists naming the kid.
absl::StatusOr<SigningKey> InsertKeyRow(WriteCtx& ctx,
                                        const KeyEncryptionKey& kek,
                                        RandomSource& random,
                                        const SigningKey& key, int64_t org_no,
                                        token::KeyState state) {
  TA_ASSIGN_OR_RETURN(
      std::string sealed,
      kek.Seal(key.private_key, SigningKeyAad(key.organization_id, key.kid),
               random));
  TA_ASSIGN_OR_RETURN(
      Statement s,
      ctx.conn.Prepare("INSERT INTO signing_keys(org_no, kid, algorithm, "
                       "state, created_at, retired_at, sealed_key) VALUES (?1, "
                       "?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"));
  s.BindInt64(1, org_no);
  s.BindText(2, key.kid);
  s.BindText(3, AlgorithmColumn(key.algorithm));
  s.BindInt64(4, KeyStateColumn(state));
  s.BindInt64(5, ctx.NowMicros());
  if (state == token::KeyState::kRetired) {
    s.BindInt64(6, ctx.NowMicros());
  } else {
    s.BindNull(6);
  }
  s.BindBlob(7, sealed);
  TA_RETURN_IF_ERROR(s.Run());
  if (ctx.conn.Changes() == 0) {
    return SigningKeyExistsError(key.kid);
  }
  return InsertedSigningKey(key, state, ctx.NowMicros());
}

// The key `kid` of organisation row `org_no`, its private key opened.
// NotFound naming the kid.
absl::StatusOr<SigningKey> ReadSigningKeyRow(Connection& c,
                                             const KeyEncryptionKey& kek,
                                             int64_t org_no,
                                             absl::string_view kid) {
  TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(absl::StrCat(
                                       "SELECT ", kSigningKeyColumns,
                                       " WHERE k.org_no = ?1 AND k.kid = ?2")));
  s.BindInt64(1, org_no);
  s.BindText(2, kid);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return SigningKeyNotFoundError(kid);
  SigningKey k;
  TA_ASSIGN_OR_RETURN(const std::string sealed, ReadSigningKey(s, &k));
  TA_ASSIGN_OR_RETURN(
      k.private_key, kek.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
  return k;
}

// Every row of `s` (kSigningKeyColumns), private keys opened.
absl::StatusOr<std::vector<SigningKey>> ReadSigningKeys(
    Statement& s, const KeyEncryptionKey& kek) {
  std::vector<SigningKey> out;
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    SigningKey k;
    TA_ASSIGN_OR_RETURN(const std::string sealed, ReadSigningKey(s, &k));
    TA_ASSIGN_OR_RETURN(
        k.private_key,
        kek.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
    out.push_back(std::move(k));
  }
  return out;
}

// The kid of the organisation's primary key, "" when it has none.
absl::StatusOr<std::string> PrimaryKid(WriteCtx& ctx, int64_t org_no) {
  TA_ASSIGN_OR_RETURN(Statement s,
                      ctx.conn.Prepare("SELECT kid FROM signing_keys WHERE "
                                       "org_no = ?1 AND state = ?2"));
  s.BindInt64(1, org_no);
  s.BindInt64(2, kStoredPrimary);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.String(0) : std::string();
}

}  // namespace

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::InsertSigningKey(
    const SigningKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckInsertSigningKey(key, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    if (key.state == token::KeyState::kPrimary) {
      TA_ASSIGN_OR_RETURN(const std::string primary, PrimaryKid(ctx, org_no));
      if (!primary.empty()) return PrimaryKeyExistsError(primary);
    }
    TA_ASSIGN_OR_RETURN(
        out, InsertKeyRow(ctx, kek_, random_, key, org_no, key.state));
    return WriteAudit(ctx, audit, KeyCreatedEvent(org_no, key));
  }));
  return out;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::RotateSigningKey(
    const SigningKey& new_key, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(const SigningKey key,
                      CheckRotateSigningKey(new_key, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    TA_ASSIGN_OR_RETURN(const std::string previous, PrimaryKid(ctx, org_no));
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("UPDATE signing_keys SET state = ?2 WHERE org_no = "
                           "?1 AND state = ?3"));
      s.BindInt64(1, org_no);
      s.BindInt64(2, kStoredActive);
      s.BindInt64(3, kStoredPrimary);
      TA_RETURN_IF_ERROR(s.Run());
    }
    TA_ASSIGN_OR_RETURN(out, InsertKeyRow(ctx, kek_, random_, key, org_no,
                                          token::KeyState::kPrimary));
    return WriteAudit(ctx, audit, KeyRotatedEvent(org_no, key, previous));
  }));
  return out;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::RetireSigningKey(
    absl::string_view organization_id, absl::string_view kid,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckRetireSigningKey(organization_id, kid, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    TA_ASSIGN_OR_RETURN(out, ReadSigningKeyRow(ctx.conn, kek_, org_no, kid));
    if (out.state == token::KeyState::kRetired) return absl::OkStatus();
    if (out.state == token::KeyState::kPrimary) {
      return RetirePrimaryKeyError(kid);
    }
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare(
              "UPDATE signing_keys SET state = ?4, retired_at = ?3 "
              "WHERE org_no = ?1 AND kid = ?2"));
      s.BindInt64(1, org_no);
      s.BindText(2, kid);
      s.BindInt64(3, ctx.NowMicros());
      s.BindInt64(4, kStoredRetired);
      TA_RETURN_IF_ERROR(s.Run());
    }
    out.state = token::KeyState::kRetired;
    out.retired_at = FromMicros(ctx.NowMicros());
    return WriteAudit(ctx, audit, KeyRetiredEvent(org_no, kid));
  }));
  return out;
}

absl::StatusOr<std::vector<SigningKey>> SqliteTokenStoreImpl::ListSigningKeys(
    absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(int64_t org_no, LookupOrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(absl::StrCat(
                                       "SELECT ", kSigningKeyColumns,
                                       " WHERE k.org_no = ?1 ORDER BY k.no")));
  s.BindInt64(1, org_no);
  return ReadSigningKeys(s, kek_);
}

absl::StatusOr<std::vector<SigningKey>>
SqliteTokenStoreImpl::ListAllSigningKeys() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat("SELECT ", kSigningKeyColumns,
                                              " ORDER BY k.no")));
  return ReadSigningKeys(s, kek_);
}

}  // namespace token_authority::storage::sqlite

// PostgresTokenStoreImpl: signing keys, sealed at rest with AES-256-GCM
// under the key-encryption key, with organisation and kid as associated data
// (kek_binding.h), as in the SQLite store.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/kek_binding.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"

namespace token_authority::storage::pg {
namespace {

const std::string& KeySelect() {
  static const std::string* const kSql = new std::string(PostgresDialect(
      absl::StrCat("SELECT ", sqlite::kSigningKeyColumns, " ")));
  return *kSql;
}

absl::StatusOr<SigningKey> InsertKeyRow(WriteCtx& ctx,
                                        const KeyEncryptionKey& kek,
                                        RandomSource& random,
                                        const SigningKey& key, int64_t org_no,
                                        token::KeyState state) {
  TA_ASSIGN_OR_RETURN(
      std::string sealed,
      kek.Seal(key.private_key, SigningKeyAad(key.organization_id, key.kid),
               random));
  const bool retired = state == token::KeyState::kRetired;
  TA_ASSIGN_OR_RETURN(
      Result r,
      ctx.conn.Query(
          "INSERT INTO signing_keys(org_no, kid, algorithm, state, "
          "created_at, retired_at, sealed_key) VALUES ($1, $2, $3, $4, $5, "
          "$6, $7) ON CONFLICT DO NOTHING RETURNING no",
          Params()
              .Int(org_no)
              .Text(key.kid)
              .Text(sqlite::AlgorithmColumn(key.algorithm))
              .Int(sqlite::KeyStateColumn(state))
              .Int(ctx.NowMicros())
              .OptionalInt(retired ? std::optional<int64_t>(ctx.NowMicros())
                                   : std::nullopt)
              .Bytes(sealed)));
  if (r.rows() == 0) {
    return SigningKeyExistsError(key.kid);
  }
  return InsertedSigningKey(key, state, ctx.NowMicros());
}

// Every row of `r`, private keys opened.
absl::StatusOr<std::vector<SigningKey>> OpenKeys(const Result& r,
                                                 const KeyEncryptionKey& kek) {
  std::vector<SigningKey> out;
  for (int i = 0; i < r.rows(); ++i) {
    SigningKey k;
    TA_ASSIGN_OR_RETURN(const std::string sealed,
                        readers::ReadSigningKey(r.row(i), &k));
    TA_ASSIGN_OR_RETURN(
        k.private_key,
        kek.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
    out.push_back(std::move(k));
  }
  return out;
}

// The kid of the organisation's primary key, or "". First locks the
// organisation's row, so that replicas changing its keys take turns: with
// no primary key there is no key row to lock, and two replicas adding the
// first primary key at once would both succeed. FOR NO KEY UPDATE: token
// inserts (whose foreign key check takes KEY SHARE) do not wait for it.
absl::StatusOr<std::string> PrimaryKid(Connection& c, int64_t org_no) {
  TA_RETURN_IF_ERROR(
      c.Run("SELECT no FROM organizations WHERE no = $1 FOR NO KEY UPDATE",
            Params().Int(org_no)));
  TA_ASSIGN_OR_RETURN(
      Result r, c.Query("SELECT kid FROM signing_keys WHERE org_no = $1 AND "
                        "state = $2 FOR UPDATE",
                        Params().Int(org_no).Int(sqlite::kStoredPrimary)));
  return r.rows() == 0 ? std::string() : r.row(0).String(0);
}

}  // namespace

absl::StatusOr<SigningKey> PostgresTokenStoreImpl::InsertSigningKey(
    const SigningKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckInsertSigningKey(key, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    if (key.state == token::KeyState::kPrimary) {
      TA_ASSIGN_OR_RETURN(std::string primary, PrimaryKid(ctx.conn, org_no));
      if (!primary.empty()) return PrimaryKeyExistsError(primary);
    }
    TA_ASSIGN_OR_RETURN(
        out, InsertKeyRow(ctx, kek_, random_, key, org_no, key.state));
    return WriteAudit(ctx, audit, KeyCreatedEvent(org_no, key));
  }));
  return out;
}

absl::StatusOr<SigningKey> PostgresTokenStoreImpl::RotateSigningKey(
    const SigningKey& new_key, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(const SigningKey key,
                      CheckRotateSigningKey(new_key, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    TA_ASSIGN_OR_RETURN(std::string previous, PrimaryKid(ctx.conn, org_no));
    TA_RETURN_IF_ERROR(ctx.conn.Run(
        "UPDATE signing_keys SET state = $2 WHERE org_no = $1 AND state = $3",
        Params()
            .Int(org_no)
            .Int(sqlite::kStoredActive)
            .Int(sqlite::kStoredPrimary)));
    TA_ASSIGN_OR_RETURN(out, InsertKeyRow(ctx, kek_, random_, key, org_no,
                                          token::KeyState::kPrimary));
    return WriteAudit(ctx, audit, KeyRotatedEvent(org_no, key, previous));
  }));
  return out;
}

absl::StatusOr<SigningKey> PostgresTokenStoreImpl::RetireSigningKey(
    absl::string_view organization_id, absl::string_view kid,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckRetireSigningKey(organization_id, kid, audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    TA_ASSIGN_OR_RETURN(
        Result r,
        ctx.conn.Query(KeySelect() + "WHERE k.org_no = $1 AND k.kid = $2 FOR "
                                     "UPDATE OF k",
                       Params().Int(org_no).Text(kid)));
    if (r.rows() == 0) return SigningKeyNotFoundError(kid);
    TA_ASSIGN_OR_RETURN(std::vector<SigningKey> keys, OpenKeys(r, kek_));
    out = std::move(keys[0]);
    if (out.state == token::KeyState::kRetired) return absl::OkStatus();
    if (out.state == token::KeyState::kPrimary) {
      return RetirePrimaryKeyError(kid);
    }
    TA_RETURN_IF_ERROR(ctx.conn.Run(
        "UPDATE signing_keys SET state = $4, retired_at = $3 WHERE org_no = "
        "$1 AND kid = $2",
        Params()
            .Int(org_no)
            .Text(kid)
            .Int(ctx.NowMicros())
            .Int(sqlite::kStoredRetired)));
    out.state = token::KeyState::kRetired;
    out.retired_at = absl::FromUnixMicros(ctx.NowMicros());
    return WriteAudit(ctx, audit, KeyRetiredEvent(org_no, kid));
  }));
  return out;
}

absl::StatusOr<std::vector<SigningKey>> PostgresTokenStoreImpl::ListSigningKeys(
    absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(int64_t org_no, LookupOrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(
      Result r, c->Query(KeySelect() + "WHERE k.org_no = $1 ORDER BY k.no",
                         Params().Int(org_no)));
  return OpenKeys(r, kek_);
}

absl::StatusOr<std::vector<SigningKey>>
PostgresTokenStoreImpl::ListAllSigningKeys() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r, c->Query(KeySelect() + "ORDER BY k.no"));
  return OpenKeys(r, kek_);
}

}  // namespace token_authority::storage::pg

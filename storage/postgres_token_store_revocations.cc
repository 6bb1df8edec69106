// PostgresTokenStoreImpl: revocation (one token, or in bulk by filter) and
// the revocation log. Sequences come from the one row of
// revocation_counter, locked by the revoking transaction before any token
// row: concurrent revoking transactions (of any replica) take their
// sequences in commit order, and a reader that sees sequence N sees every
// sequence below it.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {
namespace {

// Locks the counter (before any token row, so two revoking transactions
// never wait for each other the other way round) and returns its value.
absl::StatusOr<int64_t> LockCounter(Connection& c) {
  return c.QueryInt64("SELECT last FROM revocation_counter FOR UPDATE");
}

// Revokes token row `no`: the next sequence, a revocation event and the
// token's revocation columns. The caller holds the counter lock.
absl::StatusOr<int64_t> RevokeRow(WriteCtx& ctx, int64_t no, int64_t org_no,
                                  absl::string_view id_bytes,
                                  int64_t expires_at,
                                  absl::string_view reason) {
  Connection& c = ctx.conn;
  TA_ASSIGN_OR_RETURN(
      int64_t seq,
      c.QueryInt64("UPDATE revocation_counter SET last = last + 1 RETURNING "
                   "last"));
  TA_RETURN_IF_ERROR(
      c.Run("INSERT INTO revocations(seq, token_id, org_no, revoked_at, "
            "expires_at) VALUES ($1, $2, $3, $4, $5)",
            Params()
                .Int(seq)
                .Bytes(id_bytes)
                .Int(org_no)
                .Int(ctx.NowMicros())
                .Int(expires_at)));
  TA_RETURN_IF_ERROR(
      c.Run("UPDATE tokens SET revoked_at = $2, revocation_seq = $3, "
            "revocation_reason = $4 WHERE no = $1",
            Params().Int(no).Int(ctx.NowMicros()).Int(seq).TextOrNull(reason)));
  return seq;
}

// The next batch of tokens to revoke, at the transaction's time, locked.
absl::StatusOr<std::vector<RevokeCandidate>> SelectRevokeBatch(
    WriteCtx& ctx, const sqlite::RevokeQuery& q) {
  sqlite::RevokeQuery at_now = q;
  at_now.now_seconds = sqlite::FloorSeconds(ctx.now);
  const sqlite::BoundQuery bq = sqlite::BuildRevokeSelectQuery(at_now, false);
  TA_ASSIGN_OR_RETURN(
      Result rows, ctx.conn.Query(PostgresDialect(bq.sql) + " FOR UPDATE OF t",
                                  ParamsOf(bq)));
  std::vector<RevokeCandidate> out;
  out.reserve(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) {
    const Row r = rows.row(i);
    out.push_back(RevokeCandidate{r.Int64(0), r.Blob(1), r.Int64(2), r.Int64(3),
                                  r.String(4), r.String(5)});
  }
  return out;
}

absl::StatusOr<int64_t> RevokeOne(WriteCtx& ctx, const RevokeCandidate& r,
                                  int64_t org_no, absl::string_view reason) {
  return RevokeRow(ctx, r.no, org_no, r.id, r.exp, reason);
}

// One transaction of RevokeTokens (write_rules.h: RevokeCandidates), the
// counter locked first.
absl::Status RevokeBatch(WriteCtx& ctx, RevokeTokensRun& run) {
  TA_RETURN_IF_ERROR(LockCounter(ctx.conn).status());
  TA_ASSIGN_OR_RETURN(std::vector<RevokeCandidate> rows,
                      SelectRevokeBatch(ctx, run.q));
  return RevokeCandidates(ctx, rows, run, RevokeOne);
}

}  // namespace

absl::StatusOr<Token> PostgresTokenStoreImpl::RevokeToken(
    absl::string_view organization_id, absl::string_view token_id,
    absl::string_view reason, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(
      const std::string id_bytes,
      CheckRevokeToken(organization_id, token_id, reason, audit));
  Token out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    Connection& c = ctx.conn;
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    TA_RETURN_IF_ERROR(LockCounter(c).status());
    TA_ASSIGN_OR_RETURN(
        Result r, c.Query("SELECT no, expires_at, revoked_at IS NOT NULL, "
                          "tag, user_id FROM tokens WHERE id = $1 AND org_no "
                          "= $2 FOR UPDATE",
                          Params().Bytes(id_bytes).Int(org_no)));
    if (r.rows() == 0) return TokenNotFoundError(token_id);
    const Row row0 = r.row(0);
    const int64_t no = row0.Int64(0);
    if (row0.Int64(2) == 0) {
      TA_RETURN_IF_ERROR(
          RevokeRow(ctx, no, org_no, id_bytes, row0.Int64(1), reason).status());
      TA_RETURN_IF_ERROR(
          WriteAudit(ctx, audit,
                     TokenRevokedEvent(org_no, id_bytes, row0.String(3),
                                       row0.String(4), reason)));
    }
    TA_ASSIGN_OR_RETURN(out, ReadTokenByNo(c, no));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RevokeTokensResult> PostgresTokenStoreImpl::RevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, bool dry_run, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(RevokeTokensRun run,
                      StartRevokeTokens(organization_id, filter, reason, audit,
                                        options_.revoke_batch_size));
  sqlite::RevokeQuery& q = run.q;
  {
    TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
    TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
    // Every token acknowledged before this call is visible now; later ones
    // have larger numbers and are left alone.
    TA_ASSIGN_OR_RETURN(
        q.max_no, c->QueryInt64("SELECT coalesce(max(no), 0) FROM tokens"));
    q.now_seconds = sqlite::FloorSeconds(clock_.Now());
    if (dry_run) {
      const sqlite::BoundQuery bq = sqlite::BuildRevokeSelectQuery(q, true);
      TA_ASSIGN_OR_RETURN(int64_t n,
                          c->QueryInt64(PostgresDialect(bq.sql), ParamsOf(bq)));
      return RevokeTokensResult{n, 0};
    }
  }
  while (!run.done) {
    TA_RETURN_IF_ERROR(RevokeNextBatch(writer_, run, RevokeBatch));
  }
  TA_ASSIGN_OR_RETURN(run.result.last_sequence, MaxRevocationSequence());
  return run.result;
}

absl::StatusOr<std::vector<RevocationEvent>>
PostgresTokenStoreImpl::ListRevocationsSince(int64_t after_sequence,
                                             int limit) {
  TA_RETURN_IF_ERROR(CheckRevocationLimit(limit));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(sqlite::kRevocationsSinceSql),
                               Params().Int(after_sequence).Int(limit)));
  std::vector<RevocationEvent> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(readers::ReadRevocation(r.row(i)));
  }
  return out;
}

absl::StatusOr<std::vector<RevocationEvent>>
PostgresTokenStoreImpl::ListActiveRevocations(absl::Time now) {
  TA_RETURN_IF_ERROR(Micros(now, "now").status());
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(sqlite::kActiveRevocationsSql),
                               Params().Int(sqlite::FloorSeconds(now))));
  std::vector<RevocationEvent> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back(readers::ReadRevocation(r.row(i)));
  }
  return out;
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::MaxRevocationSequence() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  return c->QueryInt64("SELECT last FROM revocation_counter");
}

}  // namespace token_authority::storage::pg

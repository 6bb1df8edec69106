// SqliteTokenStoreImpl: revocation (one token, or in bulk by filter) and
// the revocation log that WatchRevocations and LocalVerifier follow.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"
#include "storage/token_queries.h"

namespace token_authority::storage::sqlite {
namespace {

// Revokes token row `no` in the writer's transaction: a revocation event and
// the token's revocation columns. Returns the event's sequence.
absl::StatusOr<int64_t> RevokeRow(WriteCtx& ctx, int64_t no, int64_t org_no,
                                  absl::string_view id_bytes,
                                  int64_t expires_at,
                                  absl::string_view reason) {
  Connection& c = ctx.conn;
  {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        c.Prepare("INSERT INTO revocations(token_id, org_no, revoked_at, "
                  "expires_at) VALUES (?1, ?2, ?3, ?4)"));
    s.BindBlob(1, id_bytes);
    s.BindInt64(2, org_no);
    s.BindInt64(3, ctx.NowMicros());
    s.BindInt64(4, expires_at);
    TA_RETURN_IF_ERROR(s.Run());
  }
  const int64_t seq = c.LastInsertRowId();
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("UPDATE tokens SET revoked_at = ?2, revocation_seq = ?3, "
                "revocation_reason = ?4 WHERE no = ?1"));
  s.BindInt64(1, no);
  s.BindInt64(2, ctx.NowMicros());
  s.BindInt64(3, seq);
  s.BindTextOrNull(4, reason);
  TA_RETURN_IF_ERROR(s.Run());
  return seq;
}

// The next batch of tokens to revoke, at the transaction's time.
absl::StatusOr<std::vector<RevokeCandidate>> SelectRevokeBatch(
    WriteCtx& ctx, const RevokeQuery& q) {
  std::vector<RevokeCandidate> rows;
  RevokeQuery bq_in = q;
  bq_in.now_seconds = FloorSeconds(ctx.now);
  const BoundQuery bq = BuildRevokeSelectQuery(bq_in, false);
  TA_ASSIGN_OR_RETURN(Statement s, ctx.conn.Prepare(bq.sql));
  bq.Bind(s);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    rows.push_back(RevokeCandidate{s.Int64(0), std::string(s.Blob(1)),
                                   s.Int64(2), s.Int64(3), s.String(4),
                                   s.String(5)});
  }
  return rows;
}

// The store's revocation of one RevokeTokens candidate.
absl::StatusOr<int64_t> RevokeOne(WriteCtx& ctx, const RevokeCandidate& r,
                                  int64_t org_no, absl::string_view reason) {
  return RevokeRow(ctx, r.no, org_no, r.id, r.exp, reason);
}

// One transaction of RevokeTokens (write_rules.h: RevokeCandidates).
absl::Status RevokeBatch(WriteCtx& ctx, RevokeTokensRun& run) {
  TA_ASSIGN_OR_RETURN(std::vector<RevokeCandidate> rows,
                      SelectRevokeBatch(ctx, run.q));
  return RevokeCandidates(ctx, rows, run, RevokeOne);
}

}  // namespace

absl::StatusOr<Token> SqliteTokenStoreImpl::RevokeToken(
    absl::string_view organization_id, absl::string_view token_id,
    absl::string_view reason, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(
      const std::string id_bytes,
      CheckRevokeToken(organization_id, token_id, reason, audit));
  Token out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    Connection& c = ctx.conn;
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    int64_t no = 0;
    int64_t exp = 0;
    bool revoked = false;
    std::string tag, user_id;
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          c.Prepare("SELECT no, expires_at, revoked_at IS NOT NULL, tag, "
                    "user_id FROM tokens WHERE id = ?1 AND org_no = ?2"));
      s.BindBlob(1, id_bytes);
      s.BindInt64(2, org_no);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return TokenNotFoundError(token_id);
      no = s.Int64(0);
      exp = s.Int64(1);
      revoked = s.Int64(2) != 0;
      tag = s.String(3);
      user_id = s.String(4);
    }
    if (!revoked) {
      TA_RETURN_IF_ERROR(
          RevokeRow(ctx, no, org_no, id_bytes, exp, reason).status());
      TA_RETURN_IF_ERROR(WriteAudit(
          ctx, audit,
          TokenRevokedEvent(org_no, id_bytes, tag, user_id, reason)));
    }
    TA_ASSIGN_OR_RETURN(out, ReadTokenByNo(c, no));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RevokeTokensResult> SqliteTokenStoreImpl::RevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, bool dry_run, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(RevokeTokensRun run,
                      StartRevokeTokens(organization_id, filter, reason, audit,
                                        options_.revoke_batch_size));
  RevokeQuery& q = run.q;
  {
    TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
    TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
    // Every token acknowledged before this call is visible to this fresh
    // read; tokens issued later have larger numbers and are left alone.
    TA_ASSIGN_OR_RETURN(
        q.max_no, c->QueryInt64("SELECT coalesce(max(no), 0) FROM tokens"));
    q.now_seconds = FloorSeconds(clock_.Now());
    if (dry_run) {
      const BoundQuery bq = BuildRevokeSelectQuery(q, true);
      TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
      bq.Bind(s);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return absl::InternalError("count returned no row");
      return RevokeTokensResult{s.Int64(0), 0};
    }
  }
  while (!run.done) {
    TA_RETURN_IF_ERROR(RevokeNextBatch(writer_, run, RevokeBatch));
  }
  TA_ASSIGN_OR_RETURN(run.result.last_sequence, MaxRevocationSequence());
  return run.result;
}

// --------------------------------------------------------------------------
// Revocation log.
// --------------------------------------------------------------------------

absl::StatusOr<std::vector<RevocationEvent>>
SqliteTokenStoreImpl::ListRevocationsSince(int64_t after_sequence, int limit) {
  TA_RETURN_IF_ERROR(CheckRevocationLimit(limit));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(kRevocationsSinceSql));
  s.BindInt64(1, after_sequence);
  s.BindInt64(2, limit);
  return s.ReadAll(ReadRevocation);
}

absl::StatusOr<std::vector<RevocationEvent>>
SqliteTokenStoreImpl::ListActiveRevocations(absl::Time now) {
  TA_ASSIGN_OR_RETURN(int64_t us, Micros(now, "now"));
  (void)us;
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(kActiveRevocationsSql));
  s.BindInt64(1, FloorSeconds(now));
  return s.ReadAll(ReadRevocation);
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::MaxRevocationSequence() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  // AUTOINCREMENT keeps the highest sequence ever used in sqlite_sequence,
  // even after the sweep deleted the rows.
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name "
                 "= 'revocations'), 0)"));
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("no row");
  return s.Int64(0);
}

}  // namespace token_authority::storage::sqlite

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

// A bulk revocation over its transactions.
struct RevokeTokensRun {
  // Set once: the organisation, filter, bounds and batch size. Advanced by
  // each committed batch: the keyset position.
  RevokeQuery q;
  absl::string_view reason;
  const AuditContext* audit = nullptr;
  std::string filter_text;
  RevokeTokensResult result;
  bool done = false;
};

// A token RevokeBatch revokes (the columns of BuildRevokeSelectQuery).
struct RevokeCandidate {
  int64_t no;
  std::string id;
  int64_t exp;
  int64_t iat;
  std::string tag;
  std::string user_id;
};

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

// One transaction of RevokeTokens: revokes the next q.limit matching tokens,
// each with its audit event, and after the last batch writes the event of
// the whole revocation. `run` advances only when every write succeeded.
absl::Status RevokeBatch(WriteCtx& ctx, RevokeTokensRun& run) {
  const RevokeQuery& q = run.q;
  const AuditContext& audit = *run.audit;
  TA_ASSIGN_OR_RETURN(std::vector<RevokeCandidate> rows,
                      SelectRevokeBatch(ctx, q));
  std::optional<int64_t> actor_no;
  TA_ASSIGN_OR_RETURN(actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  int64_t count = 0;
  for (const RevokeCandidate& r : rows) {
    TA_RETURN_IF_ERROR(
        RevokeRow(ctx, r.no, q.org_no, r.id, r.exp, run.reason).status());
    AuditRow a{AuditAction::kTokenRevoked, q.org_no};
    a.actor_no = actor_no;
    a.token_id_bytes = r.id;
    a.tag = r.tag;
    a.user_id = r.user_id;
    a.request_id = audit.request_id;
    a.detail = std::string(run.reason);
    TA_RETURN_IF_ERROR(InsertAudit(ctx, a));
    ++count;
  }
  const bool last = static_cast<int>(rows.size()) < q.limit;
  if (last) {
    AuditRow a{AuditAction::kTokensRevoked, q.org_no};
    a.actor_no = actor_no;
    a.tag = q.filter.tag;
    a.user_id = q.filter.user_id;
    a.request_id = audit.request_id;
    a.detail =
        audit.detail.empty()
            ? absl::StrCat("count=", run.result.count + count, " ",
                           run.filter_text,
                           run.reason.empty() ? "" : " reason=", run.reason)
            : audit.detail;
    TA_RETURN_IF_ERROR(InsertAudit(ctx, a));
  }
  // Only now (the batch's writes succeeded) advance the caller's state.
  run.result.count += count;
  if (!rows.empty()) {
    run.q.after = std::make_pair(rows.back().iat, rows.back().no);
  }
  run.done = last;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Token> SqliteTokenStoreImpl::RevokeToken(
    absl::string_view organization_id, absl::string_view token_id,
    absl::string_view reason, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
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
      if (!row) {
        return absl::NotFoundError(
            absl::StrCat("token ", token_id, " not found"));
      }
      no = s.Int64(0);
      exp = s.Int64(1);
      revoked = s.Int64(2) != 0;
      tag = s.String(3);
      user_id = s.String(4);
    }
    if (!revoked) {
      TA_RETURN_IF_ERROR(
          RevokeRow(ctx, no, org_no, id_bytes, exp, reason).status());
      AuditRow row{AuditAction::kTokenRevoked, org_no};
      row.token_id_bytes = id_bytes;
      row.tag = tag;
      row.user_id = user_id;
      row.detail = std::string(reason);
      TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
      TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    }
    TA_ASSIGN_OR_RETURN(out, ReadTokenByNo(c, no));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RevokeTokensResult> SqliteTokenStoreImpl::RevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, bool dry_run, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckRevokeFilter(filter));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  RevokeTokensRun run;
  RevokeQuery& q = run.q;
  q.filter = filter;
  q.limit = options_.revoke_batch_size;
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
  run.reason = reason;
  run.audit = &audit;
  run.filter_text = RevokeFilterText(filter);
  while (!run.done) {
    TA_RETURN_IF_ERROR(
        writer_.Write([&](WriteCtx& ctx) { return RevokeBatch(ctx, run); }));
  }
  TA_ASSIGN_OR_RETURN(run.result.last_sequence, MaxRevocationSequence());
  return run.result;
}

// --------------------------------------------------------------------------
// Revocation log.
// --------------------------------------------------------------------------

absl::StatusOr<std::vector<RevocationEvent>>
SqliteTokenStoreImpl::ListRevocationsSince(int64_t after_sequence, int limit) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError("limit: must be between 1 and 10000");
  }
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

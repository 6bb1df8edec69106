// What runs inside either store's writer transaction around its SQL, written
// once over the store's write context `Ctx` (sqlite::WriteCtx, pg::WriteCtx:
// BasicWriteCtx<Connection>). The store's namespace (found by
// argument-dependent lookup through Ctx's connection type) declares
//   absl::Status InsertAudit(Ctx& ctx, const AuditRow& row);
//   // The (row number, algorithm) of the signing key `kid` of organisation
//   // row `org_no`, else the service-wide one (org_no 0); nullopt if none.
//   absl::StatusOr<std::optional<std::pair<int64_t, token::Algorithm>>>
//   LookupSigningKey(Conn& c, int64_t org_no, const std::string& kid);
//   // How many active service-wide admin keys other than `id` are
//   // committed now, after waiting for any other process's transaction
//   // that may revoke one.
//   absl::StatusOr<int64_t> CountOtherActiveAdminKeys(Conn& c,
//                                                     const std::string& id);
// Internal to storage/.
#ifndef STORAGE_WRITE_RULES_H_
#define STORAGE_WRITE_RULES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "base/status_macros.h"
#include "storage/store_rules.h"
#include "storage/token_store.h"

namespace token_authority::storage {

// Sets row's actor (InvalidArgument naming "actor" for an unknown API key)
// and request id from `audit`, and its detail when audit.detail is set.
template <typename Ctx>
absl::Status AuditFromContext(const AuditContext& audit, AuditRow* row,
                              Ctx& ctx) {
  TA_ASSIGN_OR_RETURN(row->actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  row->request_id = audit.request_id;
  if (!audit.detail.empty()) row->detail = audit.detail;
  return absl::OkStatus();
}

// The row number of the token's signing key (the organisation's own, else a
// service-wide one), checked against the token's algorithm: InvalidArgument
// naming key_id or algorithm. Cached in the writer's cache (keys are never
// deleted and never change their algorithm).
template <typename Ctx>
absl::StatusOr<int64_t> SigningKeyNo(Ctx& ctx, int64_t org_no,
                                     const Token& token) {
  auto& keys = ctx.cache().signing_keys;
  auto key = std::make_pair(org_no, token.key_id);
  auto cached = keys.find(key);
  if (cached == keys.end()) {
    TA_ASSIGN_OR_RETURN(auto found,
                        LookupSigningKey(ctx.conn, org_no, token.key_id));
    if (!found.has_value()) return NoSigningKeyError(token);
    cached = keys.emplace(std::move(key), *found).first;
  }
  TA_RETURN_IF_ERROR(CheckKeyAlgorithm(token, cached->second.second));
  return cached->second.first;
}

// Refuses to revoke `key` (read in this transaction) when it is the last
// active service-wide admin key (the keys that administer the service; an
// organisation's own admin keys do not count): FailedPrecondition naming
// api_key_id. Checked in the writer's transaction, so that two revocations,
// also from two replicas on one PostgreSQL database, cannot remove the last
// two.
template <typename Ctx>
absl::Status CheckNotLastAdminKey(Ctx& ctx, const ApiKey& key) {
  if (key.role != ApiKeyRole::kAdmin || !key.organization_id.empty() ||
      key.revoked_at.has_value()) {
    return absl::OkStatus();
  }
  TA_ASSIGN_OR_RETURN(const int64_t others,
                      CountOtherActiveAdminKeys(ctx.conn, key.id));
  return others > 0 ? absl::OkStatus() : LastAdminKeyError(key.id);
}

// Writes a mutation's event `row` with `audit`'s actor, request id and
// detail, at ctx.AuditTime(), in the operation's savepoint: a mutation and
// its audit event are written both or neither.
template <typename Ctx>
absl::Status WriteAudit(Ctx& ctx, const AuditContext& audit, AuditRow row) {
  TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
  return InsertAudit(ctx, row);
}

// The token.issued event of `ins` (token row of `org_no`, issued by API key
// row `issued_by`); the audit context's actor, if any, is the event's
// actor.
template <typename Ctx>
absl::StatusOr<AuditRow> TokenIssuedAudit(Ctx& ctx, int64_t org_no,
                                          const TokenInsert& ins,
                                          std::optional<int64_t> issued_by) {
  AuditRow row = TokenIssuedEvent(org_no, ins, issued_by);
  if (!ins.audit.actor.empty()) {
    TA_ASSIGN_OR_RETURN(row.actor_no, ctx.ApiKeyNo(ins.audit.actor, "actor"));
  }
  return row;
}

// Writes TokenIssuedAudit's event.
template <typename Ctx>
absl::Status WriteTokenIssuedAudit(Ctx& ctx, int64_t org_no,
                                   const TokenInsert& ins,
                                   std::optional<int64_t> issued_by) {
  TA_ASSIGN_OR_RETURN(AuditRow row,
                      TokenIssuedAudit(ctx, org_no, ins, issued_by));
  return InsertAudit(ctx, row);
}

// One transaction of RevokeTokens after its store selected `rows` (the next
// run.q.limit matching tokens): revokes each with its audit event and, after
// the last batch, writes the event of the whole revocation. `run` advances
// only when every write succeeded. `revoke_row(ctx, candidate, org_no,
// reason)` is the store's revocation of one token row (its sequence).
template <typename Ctx, typename RevokeRowFn>
absl::Status RevokeCandidates(Ctx& ctx,
                              const std::vector<RevokeCandidate>& rows,
                              RevokeTokensRun& run, RevokeRowFn revoke_row) {
  const int64_t org_no = run.q.org_no;
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> actor_no,
                      ctx.ApiKeyNo(run.audit.actor, "actor"));
  for (const RevokeCandidate& r : rows) {
    TA_RETURN_IF_ERROR(revoke_row(ctx, r, org_no, run.reason).status());
    AuditRow a = TokenRevokedEvent(org_no, r.id, r.tag, r.user_id, run.reason);
    a.actor_no = actor_no;
    a.request_id = run.audit.request_id;
    TA_RETURN_IF_ERROR(InsertAudit(ctx, a));
  }
  if (static_cast<int>(rows.size()) < run.q.limit) {
    TA_RETURN_IF_ERROR(InsertAudit(
        ctx,
        TokensRevokedEvent(run, actor_no, static_cast<int64_t>(rows.size()))));
  }
  // Only now (the batch's writes succeeded) advance the caller's state.
  AdvanceRevokeRun(rows, run);
  return absl::OkStatus();
}

// One transaction of RevokeTokens through a store's writer (its
// Write(fn)): `batch(ctx, run)` (the store's RevokeCandidates) runs on a
// copy of `run` taken at each attempt, since an operation may run more than
// once (its batch ran again); the copy replaces `run` once committed.
template <typename Writer, typename BatchFn>
absl::Status RevokeNextBatch(Writer& writer, RevokeTokensRun& run,
                             BatchFn batch) {
  RevokeTokensRun next;
  TA_RETURN_IF_ERROR(writer.Write([&](auto& ctx) {
    next = run;
    return batch(ctx, next);
  }));
  run = std::move(next);
  return absl::OkStatus();
}

// InsertToken through a store's writer (its Write(fn)): checks and prepares
// on the caller's thread, then runs `run(ctx, ins)`, the store's part, in
// the writer's transaction.
template <typename Writer, typename RunFn>
absl::StatusOr<InsertTokenResult> InsertTokenThrough(Writer& writer,
                                                     const Token& token,
                                                     const AuditContext& audit,
                                                     RunFn run) {
  TA_ASSIGN_OR_RETURN(std::unique_ptr<TokenInsert> ins,
                      PrepareTokenInsert(token, audit));
  TA_RETURN_IF_ERROR(writer.Write([&](auto& ctx) { return run(ctx, *ins); }));
  return std::move(ins->out);
}

// InsertTokenAsync likewise, through the writer's WriteAsync: `done` gets
// the result on the writer's completion thread, or a refusal of the input
// on this one.
template <typename Writer, typename RunFn>
void InsertTokenAsyncThrough(Writer& writer, const Token& token,
                             const AuditContext& audit,
                             TokenStore::InsertTokenDone done, RunFn run) {
  absl::StatusOr<std::unique_ptr<TokenInsert>> prepared =
      PrepareTokenInsert(token, audit);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<TokenInsert> ins = *std::move(prepared);
  writer.WriteAsync([ins, run](auto& ctx) { return run(ctx, *ins); },
                    [ins, done = std::move(done)](const absl::Status& status) {
                      if (status.ok()) {
                        done(std::move(ins->out));
                      } else {
                        done(status);
                      }
                    });
}

}  // namespace token_authority::storage

#endif  // STORAGE_WRITE_RULES_H_

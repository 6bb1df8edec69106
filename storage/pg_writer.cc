#include "storage/pg_writer.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace token_authority::storage::pg {

absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id) {
  if (id.empty()) return 0;
  TA_ASSIGN_OR_RETURN(
      Result r,
      c.Query("SELECT no FROM organizations WHERE id = $1 AND no != 0",
              Params().Text(id)));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("organization ", id, " not found"));
  }
  return r.row(0).Int64(0);
}

absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field) {
  if (id.empty()) return std::optional<int64_t>();
  TA_ASSIGN_OR_RETURN(Result r, c.Query("SELECT no FROM api_keys WHERE id = $1",
                                        Params().Text(id)));
  if (r.rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": unknown API key ", id));
  }
  return std::optional<int64_t>(r.row(0).Int64(0));
}

Writer::Writer(std::unique_ptr<Connection> conn, const Clock& clock,
               int max_batch_size, int64_t last_audit_time,
               WriterStatsCounter* stats)
    : GroupCommitQueueOf(max_batch_size, stats),
      conn_(std::move(conn)),
      clock_(clock),
      last_audit_time_(last_audit_time) {}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  GroupCommitQueue::Start("ta-pg-writer", "ta-pg-complete",
                          [this](std::vector<Op*>& batch) { RunBatch(batch); });
}

absl::Status Writer::EnsureConnected() {
  if (conn_->ok()) return absl::OkStatus();
  if (!down_) {
    down_ = true;
    backoff_ = absl::Milliseconds(50);
    next_attempt_ = absl::Now();
    std::cerr << "token store: PostgreSQL connection lost; writes answer "
                 "UNAVAILABLE until it is back\n";
  }
  if (absl::Now() < next_attempt_) {
    return absl::UnavailableError(
        "PostgreSQL connection lost; reconnecting in the background");
  }
  absl::Status st = conn_->Reset();
  if (!st.ok()) {
    next_attempt_ = absl::Now() + backoff_;
    backoff_ = std::min(backoff_ * 2, absl::Seconds(2));
    return st;
  }
  down_ = false;
  std::cerr << "token store: PostgreSQL connection re-established\n";
  return absl::OkStatus();
}

void Writer::RunBatch(std::vector<Op*>& batch) {
  absl::Status st;
  // Optimistic first: no savepoints (each costs two round trips an
  // operation). If an operation fails, the whole transaction is rolled back
  // and the batch runs again with a savepoint each, so the failing
  // operation fails alone. A batch of one needs no savepoint: its failure
  // is the transaction's.
  bool savepoints = false;
  int aborts = 0;
  for (;;) {
    st = EnsureConnected();
    if (!st.ok()) break;
    const auto start = BeginTransaction();
    bool op_failed = false;
    st = TryBatch(batch, savepoints, &op_failed);
    if (op_failed) {
      savepoints = true;
      continue;
    }
    if (st.ok()) Committed(batch.size(), start);
    if (!absl::IsAborted(st) || ++aborts == 3) break;
  }
  Finish(batch, batch.size(), st.ok() ? nullptr : &st);
}

void Writer::AbortTransaction() {
  (void)conn_->Flush();  // statements still in the pipeline go with it
  (void)conn_->ExecScript("ROLLBACK");
  cache_.Clear();
}

absl::Status Writer::RunInSavepoint(Op* op, WriteCtx& ctx) {
  Connection& c = *conn_;
  absl::Status st = c.Run("SAVEPOINT op");
  if (st.ok()) {
    st = Run(op, ctx);
    if (absl::IsAborted(st) || absl::IsUnavailable(st)) return st;
    if (st.ok()) {
      st = c.Run("RELEASE SAVEPOINT op");
    } else {
      // Rows the operation saw may be gone with its savepoint.
      cache_.Clear();
      TA_RETURN_IF_ERROR(c.Run("ROLLBACK TO SAVEPOINT op"));
    }
  }
  op->status = st;
  return absl::OkStatus();
}

absl::Status Writer::TryBatch(std::vector<Op*>& batch, bool savepoints,
                              bool* op_failed) {
  Connection& c = *conn_;
  TA_RETURN_IF_ERROR(c.Run("BEGIN"));
  const bool alone = batch.size() == 1;
  // Optimistic batches of several send what they can in pipeline mode.
  const bool pipeline = !savepoints && !alone;
  for (Op* op : batch) {
    WriteCtx ctx(&c, clock_.Now(), &last_audit_time_, &cache_);
    ctx.pipeline = pipeline;
    // A failure that ends the batch: an aborted or lost transaction (retried
    // when aborted), or a failed savepoint rollback.
    absl::Status end;
    if (savepoints && !alone) {
      end = RunInSavepoint(op, ctx);
    } else {
      op->status = Run(op, ctx);
      const absl::Status& st = op->status;
      if (absl::IsAborted(st) || absl::IsUnavailable(st)) {
        end = st;
      } else if (!st.ok() && alone) {
        // The transaction holds nothing but the failed operation's writes.
        AbortTransaction();
        return absl::OkStatus();
      } else if (!st.ok()) {
        // Run the batch again, a savepoint each.
        AbortTransaction();
        *op_failed = true;
        return absl::OkStatus();
      }
    }
    if (!end.ok()) {
      AbortTransaction();
      return end;
    }
  }
  if (pipeline) {
    // A failed statement of the pipeline: as a failed operation.
    absl::Status sent = c.Flush();
    if (!sent.ok()) {
      AbortTransaction();
      if (absl::IsAborted(sent) || absl::IsUnavailable(sent)) return sent;
      *op_failed = true;
      return absl::OkStatus();
    }
  }
  absl::Status commit = c.Run("COMMIT");
  if (!commit.ok()) {
    if (!c.Idle()) (void)c.ExecScript("ROLLBACK");
    cache_.Clear();
    return absl::Status(commit.code(),
                        absl::StrCat("commit: ", commit.message()));
  }
  return absl::OkStatus();
}

}  // namespace token_authority::storage::pg

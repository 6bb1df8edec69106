#include "storage/group_commit_writer.h"

#include <utility>

#include "base/status_macros.h"

namespace token_authority::storage::sqlite {

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Connection> conn,
                                     const Clock& clock, int max_batch_size,
                                     int64_t last_audit_time,
                                     WriterStatsCounter* stats)
    : GroupCommitQueueOf(max_batch_size, stats),
      conn_(std::move(conn)),
      clock_(clock),
      last_audit_time_(last_audit_time) {}

GroupCommitWriter::~GroupCommitWriter() { Stop(); }

void GroupCommitWriter::Start() {
  GroupCommitQueue::Start("ta-writer", "ta-completion",
                          [this](std::vector<Op*>& batch) { RunBatch(batch); });
}

absl::Status GroupCommitWriter::RunSql(absl::string_view sql) {
  TA_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(sql));
  return s.Run();
}

void GroupCommitWriter::RunBatch(std::vector<Op*>& batch) {
  const auto start = BeginTransaction();
  absl::Status begin = RunSql("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    const absl::Status st = Annotate(begin, "begin write transaction");
    Finish(batch, batch.size(), &st);
    return;
  }
  if (!RunOps(batch)) return;
  absl::Status commit = RunSql("COMMIT");
  if (!commit.ok()) {
    if (conn_->InTransaction()) (void)conn_->Exec("ROLLBACK");
    cache_.Clear();
    const absl::Status cause = Annotate(commit, "commit");
    for (Op* op : batch) {
      if (op->status.ok()) op->status = OwnCopy(cause);
    }
  } else {
    Committed(batch.size(), start);
  }
  Finish(batch, batch.size(), nullptr);
}

bool GroupCommitWriter::RunOps(std::vector<Op*>& batch) {
  Connection& conn = *conn_;
  for (size_t i = 0; i < batch.size(); ++i) {
    Op* op = batch[i];
    if (!RunSql("SAVEPOINT op").ok()) {
      // A SAVEPOINT failed: abort the batch.
      (void)conn.Exec("ROLLBACK");
      cache_.Clear();
      const absl::Status cause = absl::UnavailableError(
          "write transaction failed to open a savepoint");
      Finish(batch, batch.size(), &cause);
      return false;
    }
    WriteCtx ctx(&conn, clock_.Now(), &last_audit_time_, &cache_);
    absl::Status st = Run(op, ctx);
    if (!conn.InTransaction()) {
      // SQLite rolled the whole transaction back (e.g. disk full, I/O
      // error): every operation of the batch so far is lost. Fail them
      // with the cause; the rest go back to the front of the queue.
      const absl::Status cause =
          st.ok() ? absl::UnavailableError("write transaction rolled back")
                  : st;
      cache_.Clear();
      Finish(batch, i + 1, &cause);
      Requeue(batch, i + 1);
      return false;
    }
    if (st.ok()) st = RunSql("RELEASE op");
    if (!st.ok()) {
      cache_.Clear();
      absl::Status rb = RunSql("ROLLBACK TO op");
      if (rb.ok()) rb = RunSql("RELEASE op");
      if (!rb.ok()) {
        // Cannot isolate this operation: give up on the whole batch.
        (void)conn.Exec("ROLLBACK");
        const absl::Status cause = Annotate(rb, "rollback of one operation");
        Finish(batch, batch.size(), &cause);
        return false;
      }
    }
    op->status = st;
  }
  return true;
}

}  // namespace token_authority::storage::sqlite

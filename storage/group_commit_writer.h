// The SQLite store's one writer, with group commit: the shared queue
// (group_commit_queue.h, threads "ta-writer" and "ta-completion") with
// SQLite's transaction steps. Each batch runs in one BEGIN IMMEDIATE
// transaction with a SAVEPOINT per operation (a failing operation is rolled
// back alone and fails only its caller), and is answered after COMMIT.
#ifndef STORAGE_GROUP_COMMIT_WRITER_H_
#define STORAGE_GROUP_COMMIT_WRITER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "storage/group_commit_queue.h"
#include "storage/sqlite_db.h"
#include "storage/write_context.h"
#include "storage/writer_stats.h"

namespace token_authority::storage::sqlite {

// Thread-safe. Write and Stop must not be called from an operation (the
// writer would wait for itself), nor Stop from a completion callback.
class GroupCommitWriter {
 public:
  using DoneFn = GroupCommitQueue::DoneFn;

  // `conn` is the writer's connection (owned). `clock` and `stats` are not
  // owned and must outlive this. `last_audit_time`: the newest audit time in
  // the database (microseconds), below which no audit time goes.
  GroupCommitWriter(std::unique_ptr<Connection> conn, const Clock& clock,
                    int max_batch_size, int64_t last_audit_time,
                    WriterStatsCounter* stats);
  // Stop().
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // The writer's connection, for set-up before Start (a WAL hook); after
  // Start only the writer thread uses it.
  Connection& connection() { return *conn_; }

  // Starts the writer and completion threads. At most once.
  void Start();

  // Queues `fn` and waits until its batch committed (or failed): what `fn`
  // returned, or the failure of the transaction. Unavailable once stopped.
  absl::Status Write(WriteFn fn) { return queue_.Write(std::move(fn)); }
  // Queues `fn` and returns; `done` (non-empty) gets what Write would have
  // returned once the batch committed (or failed), on the completion
  // thread; Unavailable on this thread once stopped.
  void WriteAsync(WriteFn fn, DoneFn done) {
    queue_.WriteAsync(std::move(fn), std::move(done));
  }

  // Refuses new operations (Unavailable), runs every queued one, runs every
  // completion callback, then ends both threads. Idempotent.
  void Stop() { queue_.Stop(); }

 private:
  using Queue = GroupCommitQueueOf<WriteCtx>;
  using Op = GroupCommitQueue::Op;

  // The queue's BatchFn: one transaction.
  void RunBatch(std::vector<Op*>& batch);
  // Runs each operation of the open transaction in its own savepoint. False
  // when the batch could not go on: then its operations are finished (or
  // re-queued) already.
  bool RunOps(std::vector<Op*>& batch);
  // Runs `sql` (cached) on the writer's connection.
  absl::Status RunSql(absl::string_view sql);

  const std::unique_ptr<Connection> conn_;
  const Clock& clock_;

  // The writer thread only.
  int64_t last_audit_time_;
  WriterCache cache_;

  // Last: its threads end before the members they use are destroyed.
  Queue queue_;
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_GROUP_COMMIT_WRITER_H_

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

// Thread-safe. Write, WriteAsync and Stop (group_commit_queue.h): Write
// queues `fn` and waits until its batch committed (or failed), WriteAsync
// hands the result to `done` on the completion thread, Stop drains the queue
// and the completions; none may be called from an operation (the writer
// would wait for itself), nor Stop from a completion callback.
class GroupCommitWriter : public GroupCommitQueueOf<WriteCtx> {
 public:
  // `conn` is the writer's connection (owned). `clock` and `stats` are not
  // owned and must outlive this. `last_audit_time`: the newest audit time in
  // the database (microseconds), below which no audit time goes.
  GroupCommitWriter(std::unique_ptr<Connection> conn, const Clock& clock,
                    int max_batch_size, int64_t last_audit_time,
                    WriterStatsCounter* stats);
  // Stop(), before the members the threads use are gone.
  ~GroupCommitWriter();

  // The writer's connection, for set-up before Start (a WAL hook); after
  // Start only the writer thread uses it.
  Connection& connection() { return *conn_; }

  // Starts the writer and completion threads. At most once.
  void Start();

 private:
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
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_GROUP_COMMIT_WRITER_H_

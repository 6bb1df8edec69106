// PostgresTokenStore's one writer connection, with group commit: every
// mutation is a closure (WriteFn) queued to one thread ("ta-pg-writer"),
// which takes everything queued (up to max_batch_size), runs it in one
// transaction, COMMITs with synchronous_commit on, and only then answers
// the callers. Optimistically first, without savepoints: if an operation
// fails, the transaction is rolled back and the batch runs again with a
// SAVEPOINT per operation (a failing operation is rolled back alone and
// fails only its caller; a batch of one needs no savepoint). In an
// optimistic batch of several, operations may send statements in libpq
// pipeline mode (WriteCtx::pipeline): the pipeline is drained before
// COMMIT, and a failure in it counts as a failed operation. Asynchronous
// operations complete on a second thread ("ta-pg-complete"), never on the
// writer. A batch the server aborts (serialization failure, deadlock with
// another replica) is run again, up to 3 times. A lost connection is re-opened
// before the next batch, with backoff (50 ms doubling to 2 s between attempts;
// batches in between fail at once with Unavailable), and one line on stderr
// says when the connection is lost and when it is back.
#ifndef STORAGE_PG_WRITER_H_
#define STORAGE_PG_WRITER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "storage/basic_write_ctx.h"
#include "storage/group_commit_queue.h"
#include "storage/pg_connection.h"
#include "storage/writer_stats.h"

namespace token_authority::storage::pg {

// The row number of organisation `id` (0 for ""), NotFound naming it; of
// API key `id` (nullopt for ""), InvalidArgument naming `field`.
absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id);
absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field);

// Writer thread only, for one operation (basic_write_ctx.h).
using WriteCtx = BasicWriteCtx<Connection>;

// A write operation: a non-OK status rolls back its writes alone (the batch
// runs again, a savepoint each). It may run more than once (after another
// operation of its batch failed, or the server aborted the batch), so it
// sets its outputs afresh each time.
using WriteFn = std::function<absl::Status(WriteCtx&)>;

// Thread-safe. Write, WriteAsync and Stop as the queue's
// (group_commit_queue.h); none may be called from an operation.
class Writer : public GroupCommitQueueOf<WriteCtx> {
 public:
  // `clock` and `stats` not owned; they outlive this.
  Writer(std::unique_ptr<Connection> conn, const Clock& clock,
         int max_batch_size, int64_t last_audit_time,
         WriterStatsCounter* stats);
  // Stop(), before the members the threads use are gone.
  ~Writer();

  void Start();

 private:
  // The queue's BatchFn: runs `batch` in one transaction (again when the
  // server aborted it); sets every operation's status.
  void RunBatch(std::vector<Op*>& batch);
  // One attempt: BEGIN, the operations (each in a savepoint if
  // `savepoints`), COMMIT. Returns the failure of the transaction itself
  // (the operations' own in their ops). Without savepoints, a failed
  // operation rolls the transaction back and sets *op_failed (run again
  // with savepoints).
  absl::Status TryBatch(std::vector<Op*>& batch, bool savepoints,
                        bool* op_failed);
  // Runs `op` in a savepoint of its own (its status in op->status); a
  // failure that ends the batch (aborted or lost transaction, failed
  // rollback of the savepoint).
  absl::Status RunInSavepoint(Op* op, WriteCtx& ctx);
  // Ends the open transaction after a failure that ends the batch.
  void AbortTransaction();
  // Re-opens a lost connection (at most once per backoff period).
  absl::Status EnsureConnected();

  const std::unique_ptr<Connection> conn_;
  const Clock& clock_;

  // The writer thread only.
  int64_t last_audit_time_;
  WriterCache cache_;
  bool down_ = false;  // the connection was lost and is not back yet
  absl::Duration backoff_;
  absl::Time next_attempt_;  // absl::Now() time of the next reconnect
};

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_WRITER_H_

// The SQLite store's one writer, with group commit. Every mutation is a
// closure (WriteFn) queued to one thread ("ta-writer"), which takes
// everything queued (up to max_batch_size), runs it in one BEGIN IMMEDIATE
// transaction with a SAVEPOINT per operation (a failing operation is rolled
// back alone and fails only its caller), COMMITs, and only then answers the
// callers. Asynchronous operations are completed on a second thread
// ("ta-completion"), never on the writer.
#ifndef STORAGE_GROUP_COMMIT_WRITER_H_
#define STORAGE_GROUP_COMMIT_WRITER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/background_loop.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "storage/sqlite_db.h"
#include "storage/write_context.h"
#include "storage/writer_stats.h"

namespace token_authority::storage::sqlite {

// Thread-safe. Write and Stop must not be called from an operation (the
// writer would wait for itself), nor Stop from a completion callback.
class GroupCommitWriter {
 public:
  using DoneFn = std::function<void(const absl::Status&)>;

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
  absl::Status Write(WriteFn fn);
  // Queues `fn` and returns; `done` (non-empty) gets what Write would have
  // returned once the batch committed (or failed), on the completion
  // thread; Unavailable on this thread once stopped.
  void WriteAsync(WriteFn fn, DoneFn done);

  // Refuses new operations (Unavailable), runs every queued one, runs every
  // completion callback, then ends both threads. Idempotent.
  void Stop();

 private:
  struct Op;

  // Queues `op` unless stopped.
  bool Enqueue(Op* op);
  // The writer thread's run: batches until the queue is empty.
  void DrainQueue();
  // Moves up to max_batch_size queued operations into `batch`; false when
  // none was queued.
  bool TakeBatch(std::vector<Op*>* batch);
  void RunBatch(std::vector<Op*>& batch);
  // Runs each operation of the open transaction in its own savepoint. False
  // when the batch could not go on: then its operations are finished (or
  // re-queued) already.
  bool RunOps(std::vector<Op*>& batch);
  // Sets the status of batch[0, to) to `*override` (if non-null), counts
  // them, and hands them back: waiting callers are woken, asynchronous
  // operations queued for completion.
  void Finish(std::vector<Op*>& batch, size_t to, const absl::Status* override);
  // Runs `sql` (cached) on the writer's connection.
  absl::Status RunSql(absl::string_view sql);
  // The completion thread's run: completes queued operations until none is
  // left.
  void CompleteQueued();

  const std::unique_ptr<Connection> conn_;
  const Clock& clock_;
  const int max_batch_size_;
  WriterStatsCounter& stats_;

  // The writer thread only.
  int64_t last_audit_time_;
  WriterCache cache_;
  // RunBatch's batch and Finish's lists of callers to wake and of operations
  // to complete (kept to reuse their memory).
  std::vector<Op*> batch_;
  std::vector<Op*> wake_scratch_;
  std::vector<Op*> completion_scratch_;

  Mutex queue_mu_;
  std::deque<Op*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool closed_ ABSL_GUARDED_BY(queue_mu_) = false;

  // Operations of WriteAsync whose batch is done: their callbacks may take
  // locks that threads waiting on the writer hold, or run gRPC work (a
  // reply's Finish may run other calls' handlers inline), and must not
  // delay the next commit. The writer hands over a batch with one wake-up.
  Mutex completion_mu_;
  std::vector<Op*> completion_queue_ ABSL_GUARDED_BY(completion_mu_);
  std::vector<Op*> completing_;  // the completion thread only

  // Last: the threads end before the members they use are destroyed.
  BackgroundLoop completion_loop_;
  BackgroundLoop writer_loop_;
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_GROUP_COMMIT_WRITER_H_

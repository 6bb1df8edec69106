// The group-commit queue both stores' writers are built on: callers queue
// operations, one writer thread takes everything queued (up to
// max_batch_size) and hands the batch to the store's transaction steps
// (BatchFn: BEGIN, a SAVEPOINT per operation, COMMIT, in SQLite's or
// PostgreSQL's way), which hand it back through Finish once the batch
// committed or failed. Only then are the callers answered: waiting callers
// are woken (the writer wakes the first, each woken caller two more: a
// tree, so the wake-ups of a full batch are not the writer's work), and
// asynchronous operations are completed on a second thread, never on the
// writer. The queue counts batches, operations and commit times
// (writer_stats.h).
#ifndef STORAGE_GROUP_COMMIT_QUEUE_H_
#define STORAGE_GROUP_COMMIT_QUEUE_H_

#include <semaphore.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "base/background_loop.h"
#include "base/mutex.h"
#include "storage/writer_stats.h"

namespace token_authority::storage {

// Thread-safe. Write, WriteAsync and Stop must not be called from the
// BatchFn (the writer would wait for itself), nor Stop from a completion.
class GroupCommitQueue {
 public:
  using DoneFn = std::function<void(const absl::Status&)>;

  // One queued operation; a writer's operation type derives from it (see
  // GroupCommitQueueOf below) and adds what the transaction steps run.
  struct Op {
    Op();
    virtual ~Op();
    Op(const Op&) = delete;
    Op& operator=(const Op&) = delete;
    void Notify() { sem_post(&posted); }
    void Wait();

    absl::Status status;
    // Set for WriteAsync: called with `status` after the batch, on the
    // completion thread, which then deletes the operation; nobody waits.
    DoneFn done;
    // Callers of the same batch this caller wakes once woken itself (a
    // wake-up is a system call, and the writer is the bottleneck). Set by
    // the writer before it wakes anyone.
    Op* wake_next[2] = {nullptr, nullptr};
    // Posted by the writer after `status`; the caller waits for it. A
    // semaphore: the woken caller takes no mutex the waker may still hold,
    // and POSIX lets it destroy the semaphore as soon as sem_wait returned.
    sem_t posted;
  };

  // Runs `batch` (one or more operations) in one transaction and hands every
  // operation back through Finish, or a prefix of them through Finish and
  // the rest through Requeue. Writer thread.
  using BatchFn = std::function<void(std::vector<Op*>& batch)>;

  // `stats` not owned; it outlives this.
  GroupCommitQueue(int max_batch_size, WriterStatsCounter* stats);
  // Stop().
  ~GroupCommitQueue();
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Queues `op` (the caller's) and waits until its batch is finished: its
  // status. Unavailable once stopped.
  absl::Status Write(Op* op);
  // Queues `op` (op->done set) and returns; op->done gets its status on the
  // completion thread (Unavailable on this thread once stopped).
  void WriteAsync(std::unique_ptr<Op> op);

  // Refuses new operations (Unavailable), runs every queued one, runs every
  // completion, then ends both threads. Idempotent.
  void Stop();

 protected:
  // Starts the writer thread (`writer_thread`, running `run_batch`) and the
  // completion thread. At most once.
  void Start(std::string writer_thread, std::string completion_thread,
             BatchFn run_batch);

  // --- For the BatchFn, on the writer thread -------------------------------
  // Sets the status of batch[0, to) to `*override` (if non-null; each a
  // copy of its own, OwnCopy), counts them, and hands them back: waiting
  // callers are woken, asynchronous operations queued for completion.
  void Finish(std::vector<Op*>& batch, size_t to, const absl::Status* override);
  // A status with a representation of its own, for one caller: an error
  // shared by several callers would be reference-counted across threads
  // inside Debian's libabsl_status, which ThreadSanitizer cannot see.
  static absl::Status OwnCopy(const absl::Status& status);
  // Puts batch[from, end) back at the front of the queue, in order.
  void Requeue(const std::vector<Op*>& batch, size_t from);
  // Counts a transaction begun; returns its start, for Committed.
  std::chrono::steady_clock::time_point BeginTransaction();
  // Counts a committed transaction of `operations` begun at `start`.
  void Committed(size_t operations,
                 std::chrono::steady_clock::time_point start);

 private:
  bool Enqueue(Op* op);
  // The writer thread's run: batches until the queue is empty.
  void DrainQueue();
  // The completion thread's run: completes queued operations until none is
  // left.
  void CompleteQueued();
  // Wakes the waiting operations among batch[0, to) as a tree and queues the
  // asynchronous ones for completion.
  void HandBack(std::vector<Op*>& batch, size_t to);

  const int max_batch_size_;
  WriterStatsCounter& stats_;
  BatchFn run_batch_;  // set by Start, then the writer thread's

  // The writer thread only: its batch and HandBack's lists (kept to reuse
  // their memory).
  std::vector<Op*> batch_;
  std::vector<Op*> wake_scratch_;
  std::vector<Op*> completion_scratch_;

  Mutex queue_mu_;
  std::deque<Op*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool closed_ ABSL_GUARDED_BY(queue_mu_) = false;

  // Operations of WriteAsync whose batch is done: their callbacks may take
  // locks that threads waiting on the writer hold, or run gRPC work, and
  // must not delay the next commit. Handed over with one wake-up a batch.
  Mutex completion_mu_;
  std::vector<Op*> completion_queue_ ABSL_GUARDED_BY(completion_mu_);
  std::vector<Op*> completing_;  // the completion thread only

  // Last: the threads end before the members they use are destroyed.
  BackgroundLoop completion_loop_;
  BackgroundLoop writer_loop_;
};

// The queue for operations that run on a writer context `Ctx` (each store's
// WriteCtx): Write/WriteAsync take the operation as a function of it. Each
// store's writer derives from it, starts it with its transaction steps
// (BatchFn), which run each operation with Run.
template <typename Ctx>
class GroupCommitQueueOf : public GroupCommitQueue {
 public:
  using WriteFn = std::function<absl::Status(Ctx&)>;
  using GroupCommitQueue::GroupCommitQueue;

  absl::Status Write(WriteFn fn) {
    TypedOp op;
    op.fn = std::move(fn);
    return GroupCommitQueue::Write(&op);
  }
  void WriteAsync(WriteFn fn, DoneFn done) {
    auto op = std::make_unique<TypedOp>();
    op->fn = std::move(fn);
    // Through Op&, whose members clang-tidy resolves in this template: it
    // then sees the move (performance-unnecessary-value-param).
    Op& base = *op;
    base.done = std::move(done);
    GroupCommitQueue::WriteAsync(std::move(op));
  }

 protected:
  // Runs operation `op` (queued by this queue) on `ctx`.
  static absl::Status Run(Op* op, Ctx& ctx) {
    return static_cast<TypedOp*>(op)->fn(ctx);
  }

 private:
  struct TypedOp : Op {
    WriteFn fn;
  };
};

}  // namespace token_authority::storage

#endif  // STORAGE_GROUP_COMMIT_QUEUE_H_

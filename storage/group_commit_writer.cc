#include "storage/group_commit_writer.h"

#include <semaphore.h>

#include <cassert>
#include <chrono>
#include <utility>

#include "base/status_macros.h"

namespace token_authority::storage::sqlite {
namespace {

// Whether `status` says the storage failed (disk full, I/O error, a lost or
// corrupt file), as SQLite's errors are mapped (sqlite_db.cc), rather than
// that the operation was refused (not found, already exists, ...).
bool IsStorageFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct GroupCommitWriter::Op {
  WriteFn fn;
  absl::Status status;
  // Set for WriteAsync: called with `status` after the batch, on the
  // completion thread, which then deletes the operation; nobody waits on
  // `posted`.
  DoneFn done;
  // Callers of the same batch this caller wakes once woken itself, so that
  // the writer wakes only the first one and goes on with the next batch:
  // a wake-up is a system call, and the writer is the bottleneck. Set by the
  // writer before it wakes anyone; they wait until this caller wakes them.
  Op* wake_next[2] = {nullptr, nullptr};
  // Posted by the writer (Notify) after `status`; the caller waits for it.
  // A semaphore, not a mutex and condition variable: the woken caller does
  // not have to take a mutex the waker may still hold (and be preempted
  // with), and POSIX lets the caller destroy it as soon as sem_wait
  // returned, while sem_post may still be returning. ThreadSanitizer sees
  // sem_post/sem_wait as release/acquire.
  Op() { sem_init(&posted, /*pshared=*/0, /*value=*/0); }
  ~Op() { sem_destroy(&posted); }
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  void Notify() { sem_post(&posted); }
  void Wait() {
    while (sem_wait(&posted) != 0) {
      // EINTR: a signal handler ran; wait on.
    }
  }
  sem_t posted;
};

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Connection> conn,
                                     const Clock& clock, int max_batch_size,
                                     int64_t last_audit_time,
                                     WriterStatsCounter* stats)
    : conn_(std::move(conn)),
      clock_(clock),
      max_batch_size_(max_batch_size),
      stats_(*stats),
      last_audit_time_(last_audit_time) {}

GroupCommitWriter::~GroupCommitWriter() { Stop(); }

void GroupCommitWriter::Start() {
  writer_loop_.Start("ta-writer", absl::InfiniteDuration(),
                     [this] { DrainQueue(); });
  completion_loop_.Start("ta-completion", absl::InfiniteDuration(),
                         [this] { CompleteQueued(); });
}

void GroupCommitWriter::Stop() {
  {
    MutexLock lock(&queue_mu_);
    closed_ = true;
  }
  // Stop serves a pending wake-up, and every operation queued before
  // closed_ was set woke the loop (Enqueue): the queue ends empty.
  writer_loop_.Stop();
  // The writer is done: every asynchronous operation is queued for
  // completion. Run them all, then stop.
  completion_loop_.Stop();
}

bool GroupCommitWriter::Enqueue(Op* op) {
  MutexLock lock(&queue_mu_);
  if (closed_) return false;
  const bool wake = queue_.empty();
  queue_.push_back(op);
  // The writer drains the queue on each run, so only the first operation
  // after a drain needs to wake it. Woken under queue_mu_, so that Stop,
  // which sets closed_ under it and then stops the loop, sees the wake-up.
  if (wake) writer_loop_.Wake();
  return true;
}

absl::Status GroupCommitWriter::Write(WriteFn fn) {
  Op op;
  op.fn = std::move(fn);
  if (!Enqueue(&op)) return absl::UnavailableError("token store is shut down");
  op.Wait();
  // Pass the wake-up on (see Op::wake_next); `op` is gone once we return,
  // theirs not before they are woken.
  for (Op* next : op.wake_next) {
    if (next != nullptr) next->Notify();
  }
  return op.status;
}

void GroupCommitWriter::WriteAsync(WriteFn fn, DoneFn done) {
  assert(done != nullptr);  // an empty one would be taken for a waiter
  auto op = std::make_unique<Op>();
  op->fn = std::move(fn);
  op->done = std::move(done);
  Op* raw = op.release();
  if (Enqueue(raw)) return;  // the completion thread deletes it
  op.reset(raw);
  op->done(absl::UnavailableError("token store is shut down"));
}

void GroupCommitWriter::DrainQueue() {
  while (TakeBatch(&batch_)) RunBatch(batch_);
}

bool GroupCommitWriter::TakeBatch(std::vector<Op*>* batch) {
  batch->clear();
  MutexLock lock(&queue_mu_);
  while (!queue_.empty() && static_cast<int>(batch->size()) < max_batch_size_) {
    batch->push_back(queue_.front());
    queue_.pop_front();
  }
  return !batch->empty();
}

absl::Status GroupCommitWriter::RunSql(absl::string_view sql) {
  TA_ASSIGN_OR_RETURN(Statement s, conn_->Prepare(sql));
  return s.Run();
}

void GroupCommitWriter::RunBatch(std::vector<Op*>& batch) {
  stats_.AddTransaction();
  // Wall time of the transaction, for the stats only (not the injected
  // clock, which tests fix).
  const auto start = std::chrono::steady_clock::now();
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
      if (op->status.ok()) op->status = cause;
    }
  } else {
    stats_.AddCommitted(static_cast<int64_t>(batch.size()),
                        std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count());
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
    absl::Status st = op->fn(ctx);
    if (!conn.InTransaction()) {
      // SQLite rolled the whole transaction back (e.g. disk full, I/O
      // error): every operation of the batch so far is lost. Fail them
      // with the cause; the rest go back to the front of the queue.
      const absl::Status cause =
          st.ok() ? absl::UnavailableError("write transaction rolled back")
                  : st;
      cache_.Clear();
      Finish(batch, i + 1, &cause);
      MutexLock lock(&queue_mu_);
      for (size_t j = batch.size(); j > i + 1; --j) {
        queue_.push_front(batch[j - 1]);
      }
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

void GroupCommitWriter::Finish(std::vector<Op*>& batch, size_t to,
                               const absl::Status* override) {
  int64_t failed = 0;
  const absl::Status* storage_failure = nullptr;
  for (size_t i = 0; i < to; ++i) {
    if (override != nullptr) batch[i]->status = *override;
    if (!batch[i]->status.ok()) ++failed;
    if (storage_failure == nullptr && IsStorageFailure(batch[i]->status)) {
      storage_failure = &batch[i]->status;
    }
  }
  stats_.AddOperations(static_cast<int64_t>(to), failed);
  if (storage_failure != nullptr) stats_.AddStorageFailure(*storage_failure);
  // Notify last: a caller may destroy its operation as soon as it wakes.
  // The waiting callers wake each other as a binary tree rooted at the
  // first (log2(batch) wake-ups deep), keeping the writer's share at one.
  // Asynchronous operations are completed here, after that wake-up.
  std::vector<Op*>& waiters = wake_scratch_;
  std::vector<Op*>& completions = completion_scratch_;
  waiters.clear();
  completions.clear();
  for (size_t i = 0; i < to; ++i) {
    (batch[i]->done ? completions : waiters).push_back(batch[i]);
  }
  for (size_t k = 0; k < waiters.size(); ++k) {
    for (size_t c = 0; c < 2; ++c) {
      const size_t child = 2 * k + 1 + c;
      waiters[k]->wake_next[c] =
          child < waiters.size() ? waiters[child] : nullptr;
    }
  }
  if (!waiters.empty()) waiters.front()->Notify();
  if (!completions.empty()) {
    bool wake;
    {
      MutexLock lock(&completion_mu_);
      wake = completion_queue_.empty();
      completion_queue_.insert(completion_queue_.end(), completions.begin(),
                               completions.end());
    }
    if (wake) completion_loop_.Wake();
  }
}

void GroupCommitWriter::CompleteQueued() {
  while (true) {
    {
      MutexLock lock(&completion_mu_);
      if (completion_queue_.empty()) return;
      completing_.swap(completion_queue_);
    }
    for (Op* raw : completing_) {
      std::unique_ptr<Op> op(raw);
      op->done(op->status);
    }
    completing_.clear();
  }
}

}  // namespace token_authority::storage::sqlite

#include "storage/group_commit_queue.h"

#include <cassert>
#include <utility>

namespace token_authority::storage {
namespace {

// Whether `status` says the storage failed (disk full, I/O error, a lost or
// corrupt file, a lost connection), as both stores map their errors, rather
// than that the operation was refused (not found, already exists, ...).
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

absl::Status GroupCommitQueue::OwnCopy(const absl::Status& status) {
  return absl::Status(status.code(), status.message());
}

GroupCommitQueue::Op::Op() { sem_init(&posted, /*pshared=*/0, /*value=*/0); }

GroupCommitQueue::Op::~Op() { sem_destroy(&posted); }

void GroupCommitQueue::Op::Wait() {
  while (sem_wait(&posted) != 0) {
    // EINTR: a signal handler ran; wait on.
  }
}

GroupCommitQueue::GroupCommitQueue(int max_batch_size,
                                   WriterStatsCounter* stats)
    : max_batch_size_(max_batch_size), stats_(*stats) {}

GroupCommitQueue::~GroupCommitQueue() { Stop(); }

void GroupCommitQueue::Start(std::string writer_thread,
                             std::string completion_thread, BatchFn run_batch) {
  run_batch_ = std::move(run_batch);
  writer_loop_.Start(std::move(writer_thread), absl::InfiniteDuration(),
                     [this] { DrainQueue(); });
  completion_loop_.Start(std::move(completion_thread), absl::InfiniteDuration(),
                         [this] { CompleteQueued(); });
}

void GroupCommitQueue::Stop() {
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

bool GroupCommitQueue::Enqueue(Op* op) {
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

absl::Status GroupCommitQueue::Write(Op* op) {
  if (!Enqueue(op)) return absl::UnavailableError("token store is shut down");
  op->Wait();
  // Pass the wake-up on (see Op::wake_next); `op` is gone once we return,
  // theirs not before they are woken.
  for (Op* next : op->wake_next) {
    if (next != nullptr) next->Notify();
  }
  return op->status;
}

void GroupCommitQueue::WriteAsync(std::unique_ptr<Op> op) {
  assert(op->done != nullptr);  // an empty one would be taken for a waiter
  Op* raw = op.release();
  if (Enqueue(raw)) return;  // the completion thread deletes it
  op.reset(raw);
  op->done(absl::UnavailableError("token store is shut down"));
}

void GroupCommitQueue::DrainQueue() {
  while (true) {
    batch_.clear();
    {
      MutexLock lock(&queue_mu_);
      while (!queue_.empty() &&
             static_cast<int>(batch_.size()) < max_batch_size_) {
        batch_.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (batch_.empty()) return;
    run_batch_(batch_);
  }
}

void GroupCommitQueue::Requeue(const std::vector<Op*>& batch, size_t from) {
  MutexLock lock(&queue_mu_);
  for (size_t j = batch.size(); j > from; --j) queue_.push_front(batch[j - 1]);
}

std::chrono::steady_clock::time_point GroupCommitQueue::BeginTransaction() {
  stats_.AddTransaction();
  // Wall time of the transaction, for the stats only (not the injected
  // clock, which tests fix).
  return std::chrono::steady_clock::now();
}

void GroupCommitQueue::Committed(size_t operations,
                                 std::chrono::steady_clock::time_point start) {
  stats_.AddCommitted(static_cast<int64_t>(operations),
                      std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count());
}

void GroupCommitQueue::Finish(std::vector<Op*>& batch, size_t to,
                              const absl::Status* override) {
  int64_t failed = 0;
  const absl::Status* storage_failure = nullptr;
  for (size_t i = 0; i < to; ++i) {
    if (override != nullptr) batch[i]->status = OwnCopy(*override);
    if (!batch[i]->status.ok()) ++failed;
    if (storage_failure == nullptr && IsStorageFailure(batch[i]->status)) {
      storage_failure = &batch[i]->status;
    }
  }
  stats_.AddOperations(static_cast<int64_t>(to), failed);
  if (storage_failure != nullptr) stats_.AddStorageFailure(*storage_failure);
  HandBack(batch, to);
}

void GroupCommitQueue::HandBack(std::vector<Op*>& batch, size_t to) {
  // Notify last: a caller may destroy its operation as soon as it wakes.
  // The waiting callers wake each other as a binary tree rooted at the
  // first (log2(batch) wake-ups deep), keeping the writer's share at one.
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
  if (completions.empty()) return;
  bool wake;
  {
    MutexLock lock(&completion_mu_);
    wake = completion_queue_.empty();
    completion_queue_.insert(completion_queue_.end(), completions.begin(),
                             completions.end());
  }
  if (wake) completion_loop_.Wake();
}

void GroupCommitQueue::CompleteQueued() {
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

}  // namespace token_authority::storage

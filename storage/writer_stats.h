// The group-commit writer's counters, one type for both stores
// (SqliteTokenStore and PostgresTokenStore: GetWriterStats), and the
// thread-safe counter behind them: the writer (group_commit_queue.h) counts
// batches and operations; on SQLite its WAL hook also counts the WAL's
// growth and its own checkpoints, the checkpointer its checkpoints.
#ifndef STORAGE_WRITER_STATS_H_
#define STORAGE_WRITER_STATS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "base/mutex.h"

namespace token_authority::storage {

// Upper bounds of WriterStats' histogram buckets (a last bucket holds the
// rest): operations per write transaction, and a transaction's time from
// BEGIN to the end of its COMMIT (fsync included) in microseconds.
inline constexpr std::array<int64_t, 9> kBatchSizeBounds = {1,  2,  4,   8,  16,
                                                            32, 64, 128, 256};
inline constexpr std::array<int64_t, 12> kCommitMicrosBounds = {
    100,   250,   500,   1000,   2500,   5000,
    10000, 25000, 50000, 100000, 250000, 1000000};

// Counters of a store's group-commit writer since Open (both stores; the
// WAL and checkpoint counters are SQLite's and stay 0 on PostgreSQL).
struct WriterStats {
  int64_t transactions = 0;  // write transactions attempted (batches)
  int64_t operations = 0;    // operations run (OK or failed)
  int64_t failed_operations = 0;
  int64_t wal_frames = 0;          // frames in the WAL after the last commit
  int64_t wal_frames_written = 0;  // pages written to the WAL (by commits)
  int64_t checkpoints = 0;         // background checkpoints completed
  int64_t writer_checkpoints = 0;  // checkpoints the writer had to run
  // Batches in which the storage failed (disk full, I/O error, a corrupt
  // file: the transaction as a whole or one of its operations), and the
  // latest such error.
  int64_t storage_failures = 0;
  std::string last_failure;
  // Committed transactions: how many operations each held, and how long
  // each took (bucket i counts values <= the bounds' i-th and above the one
  // before; the last, the rest), with the sum of those times.
  std::array<int64_t, kBatchSizeBounds.size() + 1> batch_sizes{};
  std::array<int64_t, kCommitMicrosBounds.size() + 1> commit_micros{};
  int64_t commit_micros_sum = 0;
  int64_t committed_operations = 0;  // the sum of batch_sizes' values
};

// Thread-safe.
class WriterStatsCounter {
 public:
  WriterStatsCounter() = default;
  WriterStatsCounter(const WriterStatsCounter&) = delete;
  WriterStatsCounter& operator=(const WriterStatsCounter&) = delete;

  // A snapshot.
  WriterStats Get() const {
    MutexLock lock(&mu_);
    return stats_;
  }

  // One write transaction attempted.
  void AddTransaction() {
    MutexLock lock(&mu_);
    ++stats_.transactions;
  }
  // `operations` run, `failed` of them not OK.
  void AddOperations(int64_t operations, int64_t failed) {
    MutexLock lock(&mu_);
    stats_.operations += operations;
    stats_.failed_operations += failed;
  }
  // A commit left `frames` frames in the WAL, having written `written`.
  void AddCommit(int64_t frames, int64_t written) {
    MutexLock lock(&mu_);
    stats_.wal_frames = frames;
    stats_.wal_frames_written += written;
  }
  // A write transaction of `operations` committed in `micros`.
  void AddCommitted(int64_t operations, int64_t micros) {
    MutexLock lock(&mu_);
    ++stats_.batch_sizes[BucketOf(kBatchSizeBounds, operations)];
    ++stats_.commit_micros[BucketOf(kCommitMicrosBounds, micros)];
    stats_.commit_micros_sum += micros;
    stats_.committed_operations += operations;
  }
  // A batch in which the storage failed (disk full, I/O error): the
  // transaction as a whole or an operation of it, with `error`.
  void AddStorageFailure(const absl::Status& error) {
    MutexLock lock(&mu_);
    ++stats_.storage_failures;
    stats_.last_failure = std::string(error.message());
  }
  void AddCheckpoint() {
    MutexLock lock(&mu_);
    ++stats_.checkpoints;
  }
  void AddWriterCheckpoint() {
    MutexLock lock(&mu_);
    ++stats_.writer_checkpoints;
  }

 private:
  template <size_t N>
  static size_t BucketOf(const std::array<int64_t, N>& bounds, int64_t v) {
    size_t i = 0;
    while (i < N && v > bounds[i]) ++i;
    return i;
  }

  mutable Mutex mu_;
  WriterStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::storage

#endif  // STORAGE_WRITER_STATS_H_

// The counters behind SqliteTokenStore::GetWriterStats, under one lock: the
// writer counts batches and operations, its WAL hook the WAL's growth and
// its own checkpoints, the checkpointer its checkpoints.
#ifndef STORAGE_WRITER_STATS_H_
#define STORAGE_WRITER_STATS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "storage/sqlite_token_store.h"

namespace token_authority::storage::sqlite {

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

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_WRITER_STATS_H_

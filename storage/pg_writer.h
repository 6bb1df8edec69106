// PostgresTokenStore's one writer connection, with group commit: every
// mutation is a closure (WriteFn) queued to one thread ("ta-pg-writer"),
// which takes everything queued (up to max_batch_size), runs it in one
// transaction with a SAVEPOINT per operation (a failing operation is rolled
// back alone and fails only its caller), COMMITs with synchronous_commit on,
// and only then answers the callers. Asynchronous operations complete on a
// second thread ("ta-pg-complete"), never on the writer. A batch the server
// aborts (serialization failure, deadlock with another replica) is run
// again, up to 3 times. A lost connection is re-opened before the next
// batch, with backoff (50 ms doubling to 2 s between attempts; batches in
// between fail at once with Unavailable), and one line on stderr says when
// the connection is lost and when it is back.
#ifndef STORAGE_PG_WRITER_H_
#define STORAGE_PG_WRITER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "storage/pg_connection.h"

namespace token_authority::storage::pg {

// The row number of organisation `id` (0 for ""), NotFound naming it; of
// API key `id` (nullopt for ""), InvalidArgument naming `field`.
absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id);
absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field);

// What an operation sees inside the writer's transaction. Writer thread
// only, for one operation.
class WriteCtx {
 public:
  WriteCtx(Connection* conn, absl::Time now, int64_t* last_audit_time,
           std::unordered_map<std::string, int64_t>* org_cache)
      : conn(*conn),
        now(now),
        last_audit_time_(last_audit_time),
        org_cache_(org_cache) {}

  Connection& conn;
  const absl::Time now;

  // LookupOrgNo, cached (organisations are never deleted).
  absl::StatusOr<int64_t> OrgNo(absl::string_view id);
  absl::StatusOr<std::optional<int64_t>> ApiKeyNo(absl::string_view id,
                                                  absl::string_view field) {
    return LookupApiKeyNo(conn, id, field);
  }
  int64_t NowMicros() const { return absl::ToUnixMicros(now); }
  // This writer's audit times never decrease.
  int64_t AuditTime() {
    *last_audit_time_ = std::max(*last_audit_time_, NowMicros());
    return *last_audit_time_;
  }

 private:
  int64_t* last_audit_time_;
  std::unordered_map<std::string, int64_t>* org_cache_;
};

// A write operation: runs in a savepoint of its own; a non-OK status rolls
// back its writes alone. It may run more than once (a batch the server
// aborted runs again), so it sets its outputs afresh each time.
using WriteFn = std::function<absl::Status(WriteCtx&)>;

// Thread-safe. Write and Stop must not be called from an operation.
class Writer {
 public:
  using DoneFn = std::function<void(const absl::Status&)>;

  Writer(std::unique_ptr<Connection> conn, const Clock& clock,
         int max_batch_size, int64_t last_audit_time);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void Start();
  // Queues `fn` and waits until its batch committed (or failed).
  // Unavailable once stopped.
  absl::Status Write(WriteFn fn);
  // Queues `fn`; `done` gets what Write would have returned, on the
  // completion thread (Unavailable on this thread once stopped).
  void WriteAsync(WriteFn fn, DoneFn done);
  // Refuses new operations, runs every queued one and every completion,
  // then ends both threads. Idempotent.
  void Stop();

 private:
  struct Op;

  bool Enqueue(Op* op);
  void DrainQueue();
  // Runs `batch` in one transaction; sets every operation's status.
  void RunBatch(std::vector<Op*>& batch);
  // One attempt: BEGIN, the operations in savepoints, COMMIT. Returns the
  // failure of the transaction itself (the operations' own in their ops).
  absl::Status TryBatch(std::vector<Op*>& batch);
  // Re-opens a lost connection (at most once per backoff period).
  absl::Status EnsureConnected();
  void Finish(std::vector<Op*>& batch);
  void CompleteQueued();

  const std::unique_ptr<Connection> conn_;
  const Clock& clock_;
  const int max_batch_size_;

  // The writer thread only.
  int64_t last_audit_time_;
  std::unordered_map<std::string, int64_t> org_cache_;
  bool down_ = false;  // the connection was lost and is not back yet
  absl::Duration backoff_;
  absl::Time next_attempt_;  // absl::Now() time of the next reconnect

  Mutex queue_mu_;
  std::deque<Op*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool closed_ ABSL_GUARDED_BY(queue_mu_) = false;

  Mutex completion_mu_;
  std::vector<Op*> completion_queue_ ABSL_GUARDED_BY(completion_mu_);

  // Last: the threads end before the members they use are destroyed.
  BackgroundLoop completion_loop_;
  BackgroundLoop writer_loop_;
};

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_WRITER_H_

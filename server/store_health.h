// Whether the store can still do its job, for grpc.health.v1: a server
// whose database is unusable must say NOT_SERVING so that load balancers and
// orchestrators send traffic elsewhere, and SERVING again once it recovers.
//
// Every `interval` (on a thread "ta-store-health") it checks:
//  - the database file: still there, and the same file (device and inode)
//    as when the store opened it. A deleted or replaced file leaves the
//    server writing into a file nobody can open again: NOT_SERVING until
//    the same file is back (in practice: until a restart).
//  - writes: once a write failed for the storage's sake (disk full, I/O
//    error), NOT_SERVING while the data directory's file system has less
//    than `min_free_bytes` free or a probe write through the store
//    (SqliteTokenStore::ProbeWrite) fails; SERVING once both are fine (the
//    next such failure starts checking again). Both are needed: on a full
//    disk small writes (a probe, an API key's last use) may still fit in
//    space SQLite reuses while tokens do not, so neither they nor a later
//    successful write end the failure; and an I/O error leaves free space as
//    it was.
//  - with `probe_every_check` (a store on a database server: PostgreSQL),
//    instead of the above, a probe write on every check: NOT_SERVING while
//    the store cannot write (its connection to the server is lost, the
//    server refuses writes), with the first failure's message as the reason
//    until a probe commits again: then SERVING.
// Reads keep working meanwhile; only the health status changes.
#ifndef SERVER_STORE_HEALTH_H_
#define SERVER_STORE_HEALTH_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/mutex.h"

namespace token_authority::server {

struct StoreHealthOptions {
  // The database file to watch; empty: not watched.
  std::string database_path;
  // A directory on the database's file system (the data directory), and
  // the free space it needs after a failed write; empty: not checked.
  std::string data_dir;
  int64_t min_free_bytes = int64_t{1} << 20;
  absl::Duration interval = absl::Seconds(1);
  // Probe on every check instead of after a failed write (needs a probe).
  bool probe_every_check = false;
};

// What the store's writer says about its latest writes.
struct StoreWriteState {
  // Batches in which the storage failed (disk full, I/O error), and the
  // latest such error.
  int64_t storage_failures = 0;
  std::string last_failure;
};

// Thread-safe.
class StoreHealth {
 public:
  using WriteStateFn = std::function<StoreWriteState()>;
  // A small write through the store; OK when it committed.
  using ProbeFn = std::function<absl::Status()>;
  // Called on every change, from the health thread (or CheckNow's caller),
  // never concurrently with itself. `reason` is empty when serving.
  using ChangeFn = std::function<void(bool serving, const std::string& reason)>;

  // Notes the database file's identity now (FailedPrecondition naming it if
  // it cannot be read) and starts checking; starts SERVING. Without
  // `write_state` writes are not watched; `probe` is needed with it.
  static absl::StatusOr<std::unique_ptr<StoreHealth>> Start(
      StoreHealthOptions options, WriteStateFn write_state, ProbeFn probe,
      ChangeFn on_change);
  // Stop().
  ~StoreHealth();
  StoreHealth(const StoreHealth&) = delete;
  StoreHealth& operator=(const StoreHealth&) = delete;

  // Runs the checks now (tests; the thread runs them every interval).
  void CheckNow();
  // Ends the thread; no ChangeFn call follows. Idempotent.
  void Stop();

  bool serving() const;
  // Why not serving ("" when serving).
  std::string reason() const;

 private:
  StoreHealth(StoreHealthOptions options, WriteStateFn write_state,
              ProbeFn probe, ChangeFn on_change, dev_t dev, ino_t ino);
  // The database file's problem, or "".
  std::string CheckDatabaseFile() const;
  // The writes' problem, or "". Probes while the last transaction failed.
  std::string CheckWrites() ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_);
  // With probe_every_check: the probe's problem, or "".
  std::string CheckProbe() const;
  const StoreHealthOptions options_;
  const WriteStateFn write_state_;
  const ProbeFn probe_;
  const ChangeFn on_change_;
  const dev_t dev_;
  const ino_t ino_;

  // Serialises checks (and so ChangeFn calls); taken before mu_.
  Mutex check_mu_;
  // storage_failures when the checks last passed: failures up to it are
  // over.
  int64_t recovered_at_ ABSL_GUARDED_BY(check_mu_) = 0;

  mutable Mutex mu_ ABSL_ACQUIRED_AFTER(check_mu_);
  std::string reason_ ABSL_GUARDED_BY(mu_);

  BackgroundLoop loop_;
};

}  // namespace token_authority::server

#endif  // SERVER_STORE_HEALTH_H_

// ReplicaSync: keeps one replica's in-memory state (revoked token ids,
// organisations with their keys and states, API keys) in step with changes
// committed through any replica of the same PostgreSQL database. Owned by
// AuthorityServer when the store is PostgreSQL.
//
// A thread ("ta-replica-sync") woken by the store's change listener
// (LISTEN ta_changes, storage/pg_change_listener.h) and every `interval` as
// a safety net: each pass (a) catches the revocation feed up (so
// VerifyToken refuses and WatchRevocations delivers revocations made
// elsewhere) and (b) reads the change log after the last sequence applied
// and re-reads each changed organisation or API key from the store through
// TokenAuthority (RefreshOrganization, RefreshApiKey). The change log's
// sequences are in commit order, so reading `seq > last` loses nothing: a
// missed notification or a reconnect only delays a change to the next pass.
// Refreshing is idempotent (this replica's own changes come back and change
// nothing), so the start sequence may be read before the authority loads
// its state and everything in between is applied again harmlessly.
#ifndef SERVER_REPLICA_SYNC_H_
#define SERVER_REPLICA_SYNC_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/mutex.h"
#include "server/token_authority.h"
#include "storage/postgres_token_store.h"

namespace token_authority::server {

struct ReplicaSyncOptions {
  // A pass at least this often, notified or not.
  absl::Duration interval = absl::Seconds(1);
  // Change log entries read per query.
  int batch_size = 1000;
};

class ReplicaSync {
 public:
  // Starts the thread and the listener. `start_sequence`: the store's
  // MaxChangeSequence() read before `authority` loaded its state. `store`
  // and `authority` are not owned and must outlive this object.
  static std::unique_ptr<ReplicaSync> Start(storage::PostgresTokenStore* store,
                                            TokenAuthority* authority,
                                            int64_t start_sequence,
                                            ReplicaSyncOptions options = {});
  // Stop().
  ~ReplicaSync();
  ReplicaSync(const ReplicaSync&) = delete;
  ReplicaSync& operator=(const ReplicaSync&) = delete;

  // One pass: revocations, then every change after the last applied one.
  // Stops at the first error (the store's), which the next pass retries
  // from the same sequence. Thread-safe (passes are serialised).
  absl::Status SyncOnce();
  // The sequence of the last change applied.
  int64_t last_sequence() const;
  // Stops the listener and the thread. Idempotent.
  void Stop();

 private:
  ReplicaSync(storage::PostgresTokenStore* store, TokenAuthority* authority,
              int64_t start_sequence, ReplicaSyncOptions options);
  // Applies `changes` (one refresh per entity); the store's first error.
  absl::Status Apply(const std::vector<storage::ChangeEvent>& changes);
  // One line on stderr when passes start failing and when they recover.
  void Report(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::PostgresTokenStore* const store_;
  TokenAuthority* const authority_;
  const ReplicaSyncOptions options_;

  // Serialises passes.
  mutable Mutex mu_;
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_);
  bool failing_ ABSL_GUARDED_BY(mu_) = false;

  BackgroundLoop loop_;
  // Wakes loop_; stopped before it.
  std::unique_ptr<storage::ChangeListener> listener_;
};

}  // namespace token_authority::server

#endif  // SERVER_REPLICA_SYNC_H_

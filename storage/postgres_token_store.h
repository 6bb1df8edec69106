// The TokenStore for several replicas: one PostgreSQL database shared by
// every replica, through libpq. The same semantics as SqliteTokenStore
// (token_store.h), point by point:
// - every mutation is answered only after its transaction COMMITted with
//   synchronous_commit on (checked at Open);
// - concurrent mutations share a transaction (group commit on one writer
//   connection, a SAVEPOINT per operation: pg_writer.h);
// - keyset pagination with the same opaque page tokens (page_token.h), the
//   same list/count queries (token_queries.h through pg_sql.h) and record
//   readers (record_readers.h);
// - the revocation sequence is assigned in commit order, never reused;
// - signing keys are sealed with the same AES-256-GCM key-encryption key
//   (kek_binding.h), checked at Open;
// - request ids are unique per organisation by a UNIQUE constraint, so two
//   replicas retrying one request make one token.
// Reads use a small pool of connections. Schema migrations run under an
// advisory lock (pg_schema.h), so replicas starting together migrate once.
#ifndef STORAGE_POSTGRES_TOKEN_STORE_H_
#define STORAGE_POSTGRES_TOKEN_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "storage/key_encryption_key.h"
#include "storage/managed_token_store.h"
#include "storage/token_store.h"

namespace token_authority::storage {

// What a change_log row says changed (pg_schema.cc, v2): replicas re-read
// that entity from the store.
enum class ChangeKind {
  kOrganization,  // entity_id: the organisation's id
  kSigningKey,    // entity_id: the key's kid
  kApiKey,        // entity_id: the API key's id
};

// One row of the change log, written by triggers at every insert or
// update of what replicas cache. Sequences are in commit order across
// replicas: a reader that sees seq N sees every seq below it.
struct ChangeEvent {
  int64_t seq = 0;
  ChangeKind kind = ChangeKind::kOrganization;
  std::string organization_id;  // "" for a service-wide API key
  std::string entity_id;
};

// Wakes a callback when another replica (or this one) committed a change
// or a revocation (pg_change_listener.h). Destroying it stops its thread.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
};

struct PostgresTokenStoreOptions {
  // libpq connection string: "postgresql://user@host:port/db" or
  // "host=... port=... dbname=...". Required.
  std::string conninfo;
  // The password, if not in `conninfo` (e.g. read from a file); overrides
  // one there.
  std::string password;
  // As SqliteTokenStoreOptions.
  absl::Duration retention = absl::Hours(24 * 90);
  absl::Duration sweep_interval = absl::Minutes(1);  // zero: no background
  int sweep_batch_size = 500;                        // 1..10000
  absl::Duration touch_flush_interval = absl::Seconds(1);
  int max_batch_size = 2048;     // 1..100000
  int revoke_batch_size = 1000;  // 1..100000
  int read_pool_size = 8;        // 1..64 idle read connections kept
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  // The key-encryption key, given or a file path (created only for a
  // database that holds no sealed key yet); one is required. Replicas of
  // one database must share it.
  std::optional<KeyEncryptionKey> key_encryption_key;
  std::string key_encryption_key_path;
};

class PostgresTokenStore : public ManagedTokenStore {
 public:
  static constexpr int kSchemaVersion = 2;

  // Connects, creates or migrates the schema (under an advisory lock),
  // checks synchronous_commit and the key-encryption key, starts the writer
  // and background threads. FailedPrecondition: a newer schema, a foreign
  // database, synchronous_commit off, a missing or wrong KEK.
  // InvalidArgument: bad options. Unavailable: the server cannot be
  // reached. On failure nothing is left running.
  static absl::StatusOr<std::unique_ptr<PostgresTokenStore>> Open(
      PostgresTokenStoreOptions options);

  // RunRetentionSweep, FlushTouches, GetWriterStats, DiskUsage
  // (pg_database_size) and ProbeWrite: managed_token_store.h.

  // Runs `fn` while holding a database-wide lock that every replica's
  // RunExclusively (and schema migration) also takes: for once-only work
  // such as creating the bootstrap admin key. `fn` must not call
  // RunExclusively.
  virtual absl::Status RunExclusively(
      const std::function<absl::Status()>& fn) = 0;

  // Change log entries with seq > `after_seq`, ascending, at most `limit`
  // (1..10000). (postgres_token_store_changes.cc)
  virtual absl::StatusOr<std::vector<ChangeEvent>> ListChangesSince(
      int64_t after_seq, int limit) = 0;
  // The highest seq in the change log (0 when empty).
  virtual absl::StatusOr<int64_t> MaxChangeSequence() = 0;
  // Starts a thread with a connection of its own that LISTENs for changes
  // and revocations committed by any replica and calls `on_change` after
  // each notification and after each (re)connect (so that the caller
  // catches up: a notification missed while disconnected loses nothing).
  // `on_change` must be quick (it should wake a thread of the caller's).
  // Never fails: an unreachable server is retried with backoff.
  virtual std::unique_ptr<ChangeListener> ListenForChanges(
      std::function<void()> on_change) = 0;

 protected:
  PostgresTokenStore() = default;
};

}  // namespace token_authority::storage

#endif  // STORAGE_POSTGRES_TOKEN_STORE_H_

// The embedded TokenStore: one SQLite database file in WAL mode.
//
// Writes go through one writer thread with group commit: concurrent callers
// queue, the writer runs every queued operation in one transaction (each in
// its own SAVEPOINT, so a failing operation fails only its own caller) and
// answers each caller after COMMIT returned. Reads run on a small pool of
// read-only connections and never wait for the writer. A background thread
// removes tokens expired for longer than the retention period, in small
// batches, and writes coalesced TouchApiKey updates; another checkpoints the
// WAL so that the writer never pays for it. At synchronous=FULL or EXTRA the
// writer's connection hands each commit's WAL frames to the file system as
// one write before its sync (storage/wal_buffer_vfs.h), and woken callers
// wake the rest of their batch, so the writer spends its time in SQLite.
#ifndef STORAGE_SQLITE_TOKEN_STORE_H_
#define STORAGE_SQLITE_TOKEN_STORE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "storage/key_encryption_key.h"
#include "storage/managed_token_store.h"
#include "storage/token_store.h"
#include "storage/writer_stats.h"

namespace token_authority::storage {

// PRAGMA synchronous levels
// (https://sqlite.org/pragma.html#pragma_synchronous).
enum class SyncMode { kOff = 0, kNormal = 1, kFull = 2, kExtra = 3 };

struct SqliteTokenStoreOptions {
  // The database file; created (with its schema) if it does not exist. Its
  // directory must exist.
  std::string path;
  // The SQLite VFS to open every connection with; empty: the default VFS.
  // The VFS must already be registered (sqlite3_vfs_register). At
  // synchronous FULL or EXTRA the writer's connection uses it through a
  // shim that gathers each commit's WAL writes (storage/wal_buffer_vfs.h).
  std::string vfs;
  // Durability of a COMMIT. FULL (default) survives power loss in WAL mode.
  SyncMode synchronous = SyncMode::kFull;
  absl::Duration busy_timeout = absl::Seconds(5);

  // Tokens are deleted once expired for longer than this (with their
  // revocation events); audit events are kept.
  absl::Duration retention = absl::Hours(24 * 90);
  // How often the background sweep runs; absl::ZeroDuration() disables the
  // background thread's sweep (RunRetentionSweep still works).
  absl::Duration sweep_interval = absl::Minutes(1);
  // Tokens deleted per sweep transaction (1..10000).
  int sweep_batch_size = 500;
  // How often coalesced TouchApiKey updates are written.
  absl::Duration touch_flush_interval = absl::Seconds(1);

  // Group commit: at most this many operations per transaction (1..100000).
  int max_batch_size = 2048;
  // Tokens revoked per transaction by RevokeTokens (1..100000).
  int revoke_batch_size = 1000;
  // Read connections kept open (1..64); more are opened on demand under
  // load and closed when returned beyond this number.
  int read_pool_size = 8;
  // Page cache per connection, KiB (writer >= 1024, readers >= 256).
  int writer_cache_kib = 65536;
  int reader_cache_kib = 16384;
  // A background thread checkpoints the WAL into the database (PASSIVE,
  // on its own connection) once it holds this many frames (100..1000000);
  // at 4x this the writer checkpoints itself so the WAL stays bounded.
  int checkpoint_frames = 4000;
  // Upper bound on the database file size in bytes (PRAGMA max_page_count);
  // 0: no limit beyond the disk's. Writes past it fail with
  // ResourceExhausted, and succeed again once the sweep freed space.
  int64_t max_database_bytes = 0;
  // Page size of a NEW database (power of two, 512..65536); an existing
  // database keeps its own. 2048 rather than SQLite's 4096: every token
  // dirties ~8 index pages at random places, so smaller pages halve the
  // bytes each commit writes and fsyncs (+40% durable inserts/s measured)
  // while rows still fill them well (<= 600 bytes/token at 1M).
  int page_size = 2048;

  // Not owned; must outlive the store. Defaults: the real clock and the
  // secure random source.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;

  // The key-encryption key for signing keys at rest: either given directly,
  // or a path. With a path, the file is created (mode 0600) only when the
  // database holds no encrypted key yet; if the database already holds
  // encrypted keys, a missing file is FailedPrecondition and nothing is
  // created. A key that does not decrypt what the database holds is
  // FailedPrecondition at Open. One of the two is required.
  std::optional<KeyEncryptionKey> key_encryption_key;
  std::string key_encryption_key_path;
};

class SqliteTokenStore : public ManagedTokenStore {
 public:
  // The newest schema version this build writes (PRAGMA user_version).
  static constexpr int kSchemaVersion = 2;

  // Opens (creating or migrating) the database, checks that WAL and the
  // configured synchronous level are in force, checks the key-encryption
  // key, and starts the writer and background threads.
  // FailedPrecondition: the file is not a database, was written by a newer
  // schema version, or the key-encryption key is missing or wrong.
  // InvalidArgument: bad options (naming the option). Unavailable: the file
  // cannot be opened. On failure nothing is left running.
  static absl::StatusOr<std::unique_ptr<SqliteTokenStore>> Open(
      SqliteTokenStoreOptions options);

  // RunRetentionSweep, FlushTouches, GetWriterStats, DiskUsage (the main
  // database file plus its WAL) and ProbeWrite: managed_token_store.h.

  // PRAGMA integrity_check on a fresh read connection: OK, or DataLoss
  // with the first problems reported.
  virtual absl::Status CheckIntegrity() = 0;

 protected:
  SqliteTokenStore() = default;
};

}  // namespace token_authority::storage

#endif  // STORAGE_SQLITE_TOKEN_STORE_H_

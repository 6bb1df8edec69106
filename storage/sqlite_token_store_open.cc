// SqliteTokenStore::Open: checks the options, opens (creating or migrating)
// the database, resolves the key-encryption key and checks it against the
// database, and starts the store. Read-only checks come first, so that a
// foreign, newer or wrongly keyed database is refused without being changed.
#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/kek_binding.h"
#include "storage/key_encryption_key.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "storage/sqlite_token_store.h"
#include "storage/sqlite_token_store_impl.h"
#include "storage/store_options.h"
#include "storage/wal_buffer_vfs.h"

namespace token_authority::storage {
namespace {

using sqlite::Annotate;
using sqlite::Connection;
using sqlite::ConnectionOptions;
using sqlite::Statement;

// InvalidArgument naming the first bad option.
absl::Status CheckOptions(const SqliteTokenStoreOptions& o) {
  if (o.path.empty()) return BadOption("path", "required");
  if (o.busy_timeout < absl::ZeroDuration()) {
    return BadOption("busy_timeout", "must not be negative");
  }
  TA_RETURN_IF_ERROR(CheckSharedOptions(o));
  if (o.checkpoint_frames < 100 || o.checkpoint_frames > 1000000) {
    return BadOption("checkpoint_frames", "must be between 100 and 1000000");
  }
  if (o.writer_cache_kib < 1024 || o.reader_cache_kib < 256) {
    return BadOption(
        o.writer_cache_kib < 1024 ? "writer_cache_kib" : "reader_cache_kib",
        "too small");
  }
  if (o.page_size < 512 || o.page_size > 65536 ||
      (o.page_size & (o.page_size - 1)) != 0) {
    return BadOption("page_size", "must be a power of two from 512 to 65536");
  }
  if (o.max_database_bytes < 0) {
    return BadOption("max_database_bytes", "must not be negative");
  }
  switch (o.synchronous) {
    case SyncMode::kOff:
    case SyncMode::kNormal:
    case SyncMode::kFull:
    case SyncMode::kExtra:
      return absl::OkStatus();
    default:
      return BadOption("synchronous", "unknown mode");
  }
}

// Reads meta value `key`, or nullopt.
absl::StatusOr<std::optional<std::string>> ReadMeta(Connection& c,
                                                    absl::string_view key) {
  TA_ASSIGN_OR_RETURN(Statement s,
                      c.Prepare("SELECT value FROM meta WHERE key = ?1"));
  s.BindText(1, key);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s.Blob(0)));
}

// Finds the key-encryption key and checks it against the database (which
// is at schema version >= 1; kek_binding.h). Creates the key file only for a
// database that holds no check value yet.
absl::StatusOr<KeyEncryptionKey> ResolveKek(Connection& c,
                                            const SqliteTokenStoreOptions& o,
                                            bool* needs_check_value) {
  KekRecord record;
  TA_ASSIGN_OR_RETURN(record.check, ReadMeta(c, "kek_check"));
  TA_ASSIGN_OR_RETURN(record.fingerprint, ReadMeta(c, "kek_fingerprint"));
  TA_ASSIGN_OR_RETURN(int64_t keys,
                      c.QueryInt64("SELECT count(*) FROM signing_keys"));
  record.holds_signing_keys = keys > 0;
  *needs_check_value = !record.check.has_value();
  return storage::ResolveKek(record, o.key_encryption_key,
                             o.key_encryption_key_path, o.path, *o.random);
}

// Opens the writer's connection, creating the file if needed. When every
// commit syncs the WAL (synchronous FULL or EXTRA) it goes through a VFS
// shim that gathers each commit's WAL writes into one
// (storage/wal_buffer_vfs.h), returned in `wal_vfs`, which must outlive the
// connection.
absl::StatusOr<std::unique_ptr<Connection>> OpenWriterConnection(
    const SqliteTokenStoreOptions& options,
    std::unique_ptr<sqlite::WalBufferVfs>* wal_vfs) {
  ConnectionOptions conn_opts{options.vfs, options.busy_timeout, true};
  if (options.synchronous >= SyncMode::kFull) {
    absl::StatusOr<std::unique_ptr<sqlite::WalBufferVfs>> registered =
        sqlite::WalBufferVfs::Register(options.vfs);
    if (!registered.ok()) {
      return absl::UnavailableError(
          absl::StrCat(options.path, ": ", registered.status().message()));
    }
    *wal_vfs = *std::move(registered);
    conn_opts.vfs = (*wal_vfs)->name();
  }
  return Connection::Open(options.path, conn_opts);
}

// The database's schema version, after refusing (read-only) a database of a
// newer schema, and one with objects but no schema version (written by
// something else: never adopted).
absl::StatusOr<int> CheckedSchemaVersion(Connection& conn,
                                         const std::string& path) {
  absl::StatusOr<int> version = sqlite::SchemaVersion(conn);
  if (!version.ok()) return Annotate(version.status(), path);
  if (*version > sqlite::kLatestSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": database schema version ", *version,
        " is newer than this build supports (", sqlite::kLatestSchemaVersion,
        "): upgrade token-authority"));
  }
  if (*version == 0) {
    // A new database has no schema objects yet.
    TA_ASSIGN_OR_RETURN(int64_t objects,
                        conn.QueryInt64("SELECT count(*) FROM sqlite_master"));
    if (objects > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          path,
          ": not a token-authority database (it holds other tables and no "
          "schema version); refusing to change it"));
    }
  }
  return *version;
}

// The writer connection's settings: the page size of a new database (at
// schema `version` 0), WAL, the synchronous level and foreign keys (each
// checked to be in force), the WAL size limit, the page cache, the size cap.
absl::Status ConfigureWriter(Connection& conn,
                             const SqliteTokenStoreOptions& options,
                             int version) {
  if (version == 0) {
    // Only a new database takes the page size (WAL fixes it afterwards).
    TA_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("PRAGMA page_size = ", options.page_size)));
  }
  TA_ASSIGN_OR_RETURN(std::string mode,
                      conn.QueryString("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        options.path, ": cannot use WAL journal mode (got ", mode, ")"));
  }
  TA_RETURN_IF_ERROR(conn.Exec(absl::StrCat(
      "PRAGMA synchronous = ", static_cast<int>(options.synchronous))));
  TA_ASSIGN_OR_RETURN(int64_t sync, conn.QueryInt64("PRAGMA synchronous"));
  if (sync != static_cast<int>(options.synchronous)) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.path, ": PRAGMA synchronous is ", sync,
                     ", expected ", static_cast<int>(options.synchronous)));
  }
  TA_RETURN_IF_ERROR(conn.Exec("PRAGMA foreign_keys = ON"));
  TA_ASSIGN_OR_RETURN(int64_t fk, conn.QueryInt64("PRAGMA foreign_keys"));
  if (fk != 1) {
    return absl::FailedPreconditionError("foreign keys cannot be enabled");
  }
  // Keep the WAL file from growing without bound after large bursts.
  TA_RETURN_IF_ERROR(conn.Exec("PRAGMA journal_size_limit = 67108864"));
  TA_RETURN_IF_ERROR(conn.Exec(
      absl::StrCat("PRAGMA cache_size = -", options.writer_cache_kib)));
  if (options.max_database_bytes > 0) {
    TA_ASSIGN_OR_RETURN(int64_t page_size, conn.QueryInt64("PRAGMA page_size"));
    TA_RETURN_IF_ERROR(conn.Exec(absl::StrCat(
        "PRAGMA max_page_count = ",
        std::max<int64_t>(1, options.max_database_bytes / page_size))));
  }
  return absl::OkStatus();
}

// Stores the check value of `kek` (and its fingerprint) in meta, so that a
// later Open tells a wrong key.
absl::Status WriteKekCheck(Connection& conn, const KeyEncryptionKey& kek,
                           RandomSource& random) {
  TA_ASSIGN_OR_RETURN(std::string check, SealKekCheck(kek, random));
  sqlite::Transaction txn(&conn);
  TA_RETURN_IF_ERROR(txn.Begin());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      conn.Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)"));
  s.BindText(1, "kek_check");
  s.BindBlob(2, check);
  TA_RETURN_IF_ERROR(s.Run());
  s.Reset();
  s.BindText(1, "kek_fingerprint");
  s.BindBlob(2, kek.Fingerprint());
  TA_RETURN_IF_ERROR(s.Run());
  return txn.Commit();
}

// The checkpointer's own connection.
absl::StatusOr<std::unique_ptr<Connection>> OpenCheckpointer(
    const SqliteTokenStoreOptions& options) {
  ConnectionOptions ckpt_opts{options.vfs, options.busy_timeout, false};
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> checkpointer,
                      Connection::Open(options.path, ckpt_opts));
  // Checkpoints sync as the configured level says (a per-connection
  // setting).
  TA_RETURN_IF_ERROR(checkpointer->Exec(absl::StrCat(
      "PRAGMA synchronous = ", static_cast<int>(options.synchronous))));
  return checkpointer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteTokenStore>> SqliteTokenStore::Open(
    SqliteTokenStoreOptions options) {
  SetDefaultSources(&options);
  TA_RETURN_IF_ERROR(CheckOptions(options));

  // Declared before the connection, which must close first.
  std::unique_ptr<sqlite::WalBufferVfs> wal_vfs;
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                      OpenWriterConnection(options, &wal_vfs));
  TA_ASSIGN_OR_RETURN(int version, CheckedSchemaVersion(*conn, options.path));
  std::optional<KeyEncryptionKey> kek;
  bool needs_check_value = true;
  if (version >= 1) {
    TA_ASSIGN_OR_RETURN(kek, ResolveKek(*conn, options, &needs_check_value));
  }
  TA_RETURN_IF_ERROR(ConfigureWriter(*conn, options, version));
  absl::Status migrated = sqlite::Migrate(*conn);
  if (!migrated.ok()) return Annotate(migrated, options.path);
  if (!kek.has_value()) {
    TA_ASSIGN_OR_RETURN(kek, ResolveKek(*conn, options, &needs_check_value));
  }
  if (needs_check_value) {
    TA_RETURN_IF_ERROR(WriteKekCheck(*conn, *kek, *options.random));
  }
  TA_ASSIGN_OR_RETURN(
      int64_t last_audit_time,
      conn->QueryInt64("SELECT coalesce(max(time), 0) FROM audit_events"));
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> checkpointer,
                      OpenCheckpointer(options));

  auto store = std::make_unique<sqlite::SqliteTokenStoreImpl>(
      std::move(options), std::move(wal_vfs), std::move(conn),
      std::move(checkpointer), *std::move(kek), last_audit_time);
  store->Start();
  return std::unique_ptr<SqliteTokenStore>(std::move(store));
}

}  // namespace token_authority::storage

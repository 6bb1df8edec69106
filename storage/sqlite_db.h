// Thin RAII layer over the SQLite C API used by the SQLite store: a
// connection that caches prepared statements, a statement lease that resets
// itself, SQLite result codes mapped to absl::Status, and a transaction
// object whose destructor rolls back (Chromium sql/transaction.h).
#ifndef STORAGE_SQLITE_DB_H_
#define STORAGE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace token_authority::storage::sqlite {
namespace internal {
// What a row reader gives: T for T or absl::StatusOr<T>.
template <typename T>
struct Unwrapped {
  using type = T;
  static constexpr bool kFallible = false;
};
template <typename T>
struct Unwrapped<absl::StatusOr<T>> {
  using type = T;
  static constexpr bool kFallible = true;
};
}  // namespace internal

// Prefixes a status message with `context` ("context: message"), keeping the
// code; OK stays OK.
absl::Status Annotate(const absl::Status& st, absl::string_view context);

// Maps a SQLite result code to a Status whose message holds `context`, the
// code's name and the connection's error message (if `db` is non-null):
// FULL -> ResourceExhausted; BUSY/LOCKED/IOERR/CANTOPEN/READONLY/PROTOCOL ->
// Unavailable; CORRUPT/NOTADB -> DataLoss (NOTADB: FailedPrecondition);
// CONSTRAINT -> AlreadyExists; anything else -> Internal.
absl::Status Error(sqlite3* db, int rc, absl::string_view context);

// Process-wide SQLite settings, applied once (later calls do nothing); must
// run before anything initialises SQLite (sqlite3_open_v2, sqlite3_vfs_find,
// ...), so Connection::Open and WalBufferVfs::Register call it first.
// SQLITE_CONFIG_MEMSTATUS off: SQLite's memory statistics take a global mutex
// on every sqlite3_malloc and sqlite3_free (perf: 7 % of the writer thread's
// CPU under IssueToken load). Nothing here reads them (sqlite3_memory_used,
// heap limits). If other code in the process initialised SQLite first,
// sqlite3_config answers SQLITE_MISUSE and the default stays: still correct.
void ConfigureSqlite();

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbDeleter>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// A prepared statement borrowed from a Connection's cache. Binding indexes
// start at 1, column indexes at 0. Resets and clears bindings when it goes
// out of scope. Not thread-safe (neither is its Connection).
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  void BindInt64(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  // The bytes are copied (SQLITE_TRANSIENT).
  void BindText(int i, absl::string_view v);
  void BindBlob(int i, absl::string_view v);
  // Binds NULL for an empty string.
  void BindTextOrNull(int i, absl::string_view v);
  void BindBlobOrNull(int i, absl::string_view v);
  void BindOptionalInt64(int i, std::optional<int64_t> v);

  // Rewinds the statement so that it can be stepped again from the start
  // (sqlite3_reset); bindings are kept, rebind what changes. The result code
  // of the last step, which sqlite3_reset repeats, is ignored: Step and Run
  // already reported it.
  void Reset() { sqlite3_reset(stmt_); }

  // Steps once: true if a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, ignoring rows.
  absl::Status Run();
  // Steps to completion and returns read(*this) of every row, in order; a
  // reader returning absl::StatusOr<T> gives T, or its first error.
  template <typename Read>
  auto ReadAll(Read read) -> absl::StatusOr<
      std::vector<typename internal::Unwrapped<decltype(read(*this))>::type>> {
    std::vector<typename internal::Unwrapped<decltype(read(*this))>::type> out;
    while (true) {
      absl::StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return out;
      auto value = read(*this);
      if constexpr (internal::Unwrapped<decltype(value)>::kFallible) {
        if (!value.ok()) return value.status();
        out.push_back(*std::move(value));
      } else {
        out.push_back(std::move(value));
      }
    }
  }

  bool IsNull(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
  }
  int64_t Int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<int64_t> OptionalInt64(int col) const;
  // Text/blob bytes (empty for NULL); valid until the next Step or reset.
  absl::string_view Text(int col) const;
  absl::string_view Blob(int col) const;
  std::string String(int col) const { return std::string(Text(col)); }

  sqlite3_stmt* raw() const { return stmt_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Options for opening a connection.
struct ConnectionOptions {
  std::string vfs;  // empty: default VFS
  absl::Duration busy_timeout = absl::Seconds(5);
  bool create = true;  // SQLITE_OPEN_CREATE
};

// One SQLite connection with a cache of prepared statements. Used by one
// thread at a time (SQLITE_OPEN_NOMUTEX); the owner serialises access.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& path, const ConnectionOptions& options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* db() const { return db_.get(); }

  // A cached prepared statement for `sql` (prepared on first use). `sql`
  // must be one statement.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // Prepares `sql` without caching (one-off statements).
  absl::StatusOr<StmtPtr> PrepareUncached(absl::string_view sql);
  // Runs one or more statements, ignoring result rows (sqlite3_exec).
  absl::Status Exec(const std::string& sql);
  // Runs a single-value query (e.g. "PRAGMA journal_mode") and returns the
  // first column of the first row as text ("" if there is no row).
  absl::StatusOr<std::string> QueryString(absl::string_view sql);
  absl::StatusOr<int64_t> QueryInt64(absl::string_view sql);

  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db()); }
  int Changes() const { return sqlite3_changes(db()); }
  bool InTransaction() const { return !sqlite3_get_autocommit(db()); }

 private:
  explicit Connection(DbPtr db) : db_(std::move(db)) {}

  // Statements are declared after db_ so they are finalized first.
  DbPtr db_;
  // Looked up by string_view: no copy of the SQL text per statement.
  absl::flat_hash_map<std::string, StmtPtr> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; the destructor rolls back if not committed.
class Transaction {
 public:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Begin();
  absl::Status Commit();
  // Rolls back now (no-op if not begun or already finished).
  void Rollback();

 private:
  Connection* conn_;
  bool active_ = false;
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_SQLITE_DB_H_

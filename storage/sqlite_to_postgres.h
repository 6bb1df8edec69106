// Moving up from SQLite to PostgreSQL: copies everything a SqliteTokenStore
// holds (organisations, API keys, sealed signing keys, tokens with their
// streams and revocation state, the revocation log with its sequences,
// audit events with their times and ids, the key-encryption key's check
// value) into an empty PostgreSQL database, which PostgresTokenStore then
// opens with the same key-encryption key.
//
// The SQLite schema (schema.h) and the PostgreSQL one (pg_schema.h) have the
// same tables, columns and stored values, so rows are copied as they are,
// with their row numbers; the identity sequences are set past the copied
// numbers and the revocation counter to the highest sequence ever used
// (SQLite's AUTOINCREMENT remembers it after the sweep deleted the rows), so
// the next revocation gets the next sequence. tokens.request_hash (SQLite's
// index of request ids) is left NULL, as PostgresTokenStore writes it.
#ifndef STORAGE_SQLITE_TO_POSTGRES_H_
#define STORAGE_SQLITE_TO_POSTGRES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/key_encryption_key.h"

namespace token_authority::storage {

struct SqliteToPostgresOptions {
  // The SQLite database file (token-authority.db); must exist. Nothing may
  // write to it meanwhile (the server stopped: the caller holds its data
  // directory's lock); the copy reads it in one transaction.
  std::string sqlite_path;
  // The target: a libpq connection string or postgresql:// URL, and the
  // password if not in it (overrides one there).
  std::string conninfo;
  std::string password;
  // The key-encryption key the SQLite database's signing keys are sealed
  // with: given, or a file that must exist (never created here).
  std::optional<KeyEncryptionKey> key_encryption_key;
  std::string key_encryption_key_path;
  // Rows per INSERT statement (1..1000).
  int batch_rows = 200;
};

// Rows copied into one PostgreSQL table (organizations: without the
// service-wide row 0 that both schemas hold).
struct TableCopy {
  std::string table;
  int64_t rows = 0;
};

struct SqliteToPostgresReport {
  std::vector<TableCopy> tables;  // in copy order
  int64_t last_revocation_sequence = 0;
};

// Creates the PostgreSQL schema (pg::Migrate, under the set-up lock that
// replicas take at start, held throughout), then copies every row in one
// transaction, checks the row counts table by table against the SQLite
// database, and commits: all or nothing. FailedPrecondition, in one line:
// no SQLite database at the path, not a token-authority database or one of
// a newer schema, a missing key-encryption key file or a key that does not
// open the database's check value and every sealed signing key, a
// PostgreSQL database that is foreign, newer or not empty ("... holds N
// rows"; left untouched). Unavailable: PostgreSQL cannot be reached. DataLoss:
// counts that differ after the copy (rolled back). InvalidArgument: bad
// options.
absl::StatusOr<SqliteToPostgresReport> CopySqliteToPostgres(
    const SqliteToPostgresOptions& options);

}  // namespace token_authority::storage

#endif  // STORAGE_SQLITE_TO_POSTGRES_H_

// The PostgreSQL schema of PostgresTokenStore and its migrations, versioned
// in the table ta_schema. Migrate runs under a session advisory lock, so
// replicas starting together migrate once: the others wait, then find the
// schema current. The tables, columns and stored values are those of the
// SQLite schema (schema.h, column_codes.h), so the same queries
// (token_queries.h via pg_sql.h) and record readers serve both.
#ifndef STORAGE_PG_SCHEMA_H_
#define STORAGE_PG_SCHEMA_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/pg_connection.h"

namespace token_authority::storage::pg {

// v1: base schema; v2: the change log (change_log, its triggers, NOTIFY).
inline constexpr int kLatestSchemaVersion = 2;

// The advisory lock key that serialises migrations and first-start set-up
// (the KEK check value) across replicas.
inline constexpr int64_t kSetupLockKey = 0x74612d7067;  // "ta-pg"
// Held (transaction-level) by a transaction that checks for the last active
// admin key before revoking one.
inline constexpr int64_t kAdminKeysLockKey = 0x74612d616b;  // "ta-ak"

// Holds the set-up advisory lock on `conn` while it lives.
class SetupLock {
 public:
  static absl::StatusOr<SetupLock> Acquire(Connection* conn);
  SetupLock(SetupLock&& other) noexcept : conn_(other.conn_) {
    other.conn_ = nullptr;
  }
  SetupLock& operator=(SetupLock&&) = delete;
  ~SetupLock();

 private:
  explicit SetupLock(Connection* conn) : conn_(conn) {}
  Connection* conn_;
};

// The schema version (0: no ta_schema table).
absl::StatusOr<int> SchemaVersion(Connection& conn);

// Brings the database to kLatestSchemaVersion; the caller holds SetupLock.
// FailedPrecondition, in one line, for a database of a newer schema version
// or one that holds other tables but no ta_schema ("not a token-authority
// database"), which is never changed.
absl::Status Migrate(Connection& conn);

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_SCHEMA_H_

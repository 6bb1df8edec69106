// The SQLite schema and its migrations, by PRAGMA user_version. Version 0 is
// an empty database; each step N-1 -> N runs in its own transaction.
#ifndef STORAGE_SCHEMA_H_
#define STORAGE_SCHEMA_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage::sqlite {

// v1: base schema. v2: partial index tokens_revoked (lists of revoked
// tokens without scanning the organisation's tokens).
inline constexpr int kLatestSchemaVersion = 2;

// PRAGMA user_version. FailedPrecondition if the file is not a database.
absl::StatusOr<int> SchemaVersion(Connection& conn);

// Runs the steps from the current version up to `target`
// (<= kLatestSchemaVersion). FailedPrecondition if the database is newer than
// this build (current > kLatestSchemaVersion) or newer than `target`.
// Nothing is changed when already at `target`.
absl::Status Migrate(Connection& conn, int target = kLatestSchemaVersion);

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_SCHEMA_H_

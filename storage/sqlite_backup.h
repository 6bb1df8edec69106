// Consistent copies of a SQLite database, taken while other connections (or
// another process) keep writing to it: SQLite's online backup API, copying
// every page within one read transaction, so the copy is the database as of
// one commit. Used by `token-authority backup` and `restore`.
#ifndef STORAGE_SQLITE_BACKUP_H_
#define STORAGE_SQLITE_BACKUP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace token_authority::storage {

struct BackupStats {
  int64_t pages = 0;
  int64_t bytes = 0;
};

// Copies the database at `from` (which must exist) to the file `to` (which
// must not exist): a self-contained single file (rollback journal mode, no
// -wal), checked with PRAGMA integrity_check, synced, and only then renamed
// into place, so `to` is either complete or absent. Errors:
// FailedPrecondition naming "to" when it exists, or "from" when it is
// missing or not a database; DataLoss when the copy fails its integrity
// check; Unavailable when `from` stays locked longer than `busy_timeout`.
absl::StatusOr<BackupStats> BackupSqliteDatabase(const std::string& from,
                                                 const std::string& to);

}  // namespace token_authority::storage

#endif  // STORAGE_SQLITE_BACKUP_H_

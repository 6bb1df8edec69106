// Backups of a data directory's database, online (while the server runs),
// and their restore into a new data directory. The key-encryption key is not
// in a backup: the database holds the signing keys sealed under it, so a
// backup kept apart from kek.key reveals no signing key (README "Backups").
#ifndef SERVER_BACKUP_H_
#define SERVER_BACKUP_H_

#include <string>

#include "absl/status/statusor.h"
#include "storage/sqlite_backup.h"

namespace token_authority::server {

// A consistent copy of <data_dir>/token-authority.db as of one commit, at
// `to` (a new file). Works while the server runs. Errors: as
// storage::BackupSqliteDatabase, naming "data-dir" when it holds no
// database.
absl::StatusOr<storage::BackupStats> BackupDataDir(const std::string& data_dir,
                                                   const std::string& to);

// Restores the backup `from` into `data_dir`, which must be empty or absent
// (it is created, mode 0700), and copies `kek_file` in as its kek.key when
// given (then also checks that the key opens the restored store).
// FailedPrecondition naming "data-dir" when it is not empty, "kek-file" when
// it cannot be read or does not open the store; the backup's errors.
absl::StatusOr<storage::BackupStats> RestoreDataDir(
    const std::string& from, const std::string& kek_file,
    const std::string& data_dir);

}  // namespace token_authority::server

#endif  // SERVER_BACKUP_H_

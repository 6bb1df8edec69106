#include "server/backup.h"

#include <dirent.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/authority_server.h"
#include "server/data_dir.h"
#include "storage/sqlite_token_store.h"

namespace token_authority::server {
namespace {

// Whether `dir` exists and holds anything.
bool HasEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool any = false;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") {
      any = true;
      break;
    }
  }
  ::closedir(d);
  return any;
}

// Opens (and closes) the store of `data_dir` with its kek.key.
absl::Status CheckStoreOpens(const std::string& data_dir) {
  storage::SqliteTokenStoreOptions options;
  options.path = DatabasePath(data_dir);
  options.key_encryption_key_path = KekPath(data_dir);
  TA_ASSIGN_OR_RETURN(std::unique_ptr<storage::SqliteTokenStore> store,
                      storage::SqliteTokenStore::Open(std::move(options)));
  return store->Shutdown();
}

// The restore proper, into the existing, empty `data_dir`.
absl::StatusOr<storage::BackupStats> RestoreInto(const std::string& from,
                                                 const std::string& kek_file,
                                                 const std::string& kek,
                                                 const std::string& data_dir) {
  TA_ASSIGN_OR_RETURN(std::unique_ptr<DataDirLock> lock,
                      DataDirLock::Acquire(data_dir));
  TA_ASSIGN_OR_RETURN(
      storage::BackupStats stats,
      storage::BackupSqliteDatabase(from, DatabasePath(data_dir)));
  if (!kek_file.empty()) {
    TA_RETURN_IF_ERROR(WriteSecretFile(data_dir, KekPath(data_dir), kek));
    if (absl::Status opens = CheckStoreOpens(data_dir); !opens.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("kek-file: ", kek_file,
                       " does not open the restored store: ", opens.message()));
    }
  }
  return stats;
}

}  // namespace

absl::StatusOr<storage::BackupStats> BackupDataDir(const std::string& data_dir,
                                                   const std::string& to) {
  if (!FileExists(DatabasePath(data_dir))) {
    return absl::FailedPreconditionError(
        absl::StrCat("data-dir: ", data_dir, " holds no token-authority.db"));
  }
  return storage::BackupSqliteDatabase(DatabasePath(data_dir), to);
}

absl::StatusOr<storage::BackupStats> RestoreDataDir(
    const std::string& from, const std::string& kek_file,
    const std::string& data_dir) {
  if (HasEntries(data_dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data-dir: ", data_dir,
                     " is not empty; restore into a new, empty directory"));
  }
  std::string kek;
  if (!kek_file.empty()) {
    absl::StatusOr<std::string> read = ReadSmallFile(kek_file);
    if (!read.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("kek-file: ", read.status().message()));
    }
    kek = *std::move(read);
  }
  TA_RETURN_IF_ERROR(EnsureDirectory(data_dir));
  absl::StatusOr<storage::BackupStats> stats =
      RestoreInto(from, kek_file, kek, data_dir);
  if (!stats.ok()) {
    // Leave the directory as it was found (empty), so a retry can run.
    for (const std::string& path :
         {DatabasePath(data_dir), KekPath(data_dir)}) {
      ::unlink(path.c_str());
    }
  }
  return stats;
}

}  // namespace token_authority::server

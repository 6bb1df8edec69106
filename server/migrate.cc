#include "server/migrate.h"

#include <sys/stat.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/authority_server.h"
#include "server/data_dir.h"
#include "storage/sqlite_to_postgres.h"

namespace token_authority::server {

absl::StatusOr<std::string> MigrateDataDir(const MigrateRequest& request) {
  struct stat st;
  if (::stat(request.from.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--from: ", request.from, " is not a directory"));
  }
  if (!FileExists(DatabasePath(request.from))) {
    return absl::FailedPreconditionError(
        absl::StrCat("--from: ", request.from, " holds no token-authority.db"));
  }
  storage::SqliteToPostgresOptions options;
  options.sqlite_path = DatabasePath(request.from);
  options.conninfo = request.to;
  options.key_encryption_key_path =
      request.kek_file.empty() ? KekPath(request.from) : request.kek_file;
  if (!request.password_file.empty()) {
    TA_ASSIGN_OR_RETURN(options.password,
                        ReadDatabasePasswordFile(request.password_file));
  }
  absl::StatusOr<std::unique_ptr<DataDirLock>> lock =
      DataDirLock::Acquire(request.from);
  if (!lock.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--from: ", request.from,
                     " is in use by a running token-authority; stop it first"));
  }
  TA_ASSIGN_OR_RETURN(storage::SqliteToPostgresReport report,
                      storage::CopySqliteToPostgres(options));
  std::string summary;
  for (const storage::TableCopy& t : report.tables) {
    absl::StrAppend(&summary, t.table, ": copied ", t.rows, "\n");
  }
  absl::StrAppend(&summary, "migrated ", options.sqlite_path,
                  " into PostgreSQL, counts checked (revocation sequence at ",
                  report.last_revocation_sequence,
                  "); start the replicas with --database and --kek-file ",
                  options.key_encryption_key_path);
  return summary;
}

}  // namespace token_authority::server

#include "storage/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// fsync of a file, then of the directory holding it.
absl::Status SyncFileAndDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot sync ", path, ": ", std::strerror(err)));
  }
  ::close(fd);
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

struct BackupDeleter {
  void operator()(sqlite3_backup* b) const { sqlite3_backup_finish(b); }
};

// Copies every page of `src` into `dst` in one step (one read transaction
// on `src`: a consistent snapshot), retrying while `src` is locked.
absl::Status CopyPages(sqlite::Connection& src, sqlite::Connection& dst) {
  std::unique_ptr<sqlite3_backup, BackupDeleter> backup(
      sqlite3_backup_init(dst.db(), "main", src.db(), "main"));
  if (backup == nullptr) {
    return sqlite::Error(dst.db(), sqlite3_errcode(dst.db()), "backup");
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    const int rc = sqlite3_backup_step(backup.get(), -1);
    if (rc == SQLITE_DONE) break;
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    return sqlite::Error(src.db(), rc, "backup");
  }
  const int rc = sqlite3_backup_finish(backup.release());
  if (rc != SQLITE_OK) return sqlite::Error(dst.db(), rc, "backup");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackupStats> BackupSqliteDatabase(const std::string& from,
                                                 const std::string& to) {
  if (!Exists(from)) {
    return absl::FailedPreconditionError(
        absl::StrCat("from: ", from, " does not exist"));
  }
  if (Exists(to)) {
    return absl::FailedPreconditionError(
        absl::StrCat("to: ", to, " exists; give a new file name"));
  }
  sqlite::ConnectionOptions src_options;
  src_options.create = false;
  TA_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> src,
                      sqlite::Connection::Open(from, src_options));
  absl::StatusOr<std::string> version = src->QueryString("PRAGMA user_version");
  if (!version.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "from: ", from, " is not a database: ", version.status().message()));
  }
  const std::string tmp = to + ".tmp";
  ::unlink(tmp.c_str());
  BackupStats stats;
  {
    TA_ASSIGN_OR_RETURN(
        std::unique_ptr<sqlite::Connection> dst,
        sqlite::Connection::Open(tmp, sqlite::ConnectionOptions()));
    absl::Status copied = CopyPages(*src, *dst);
    if (copied.ok()) copied = dst->Exec("PRAGMA journal_mode=DELETE");
    absl::StatusOr<std::string> check =
        copied.ok() ? dst->QueryString("PRAGMA integrity_check")
                    : absl::StatusOr<std::string>(copied);
    absl::StatusOr<int64_t> pages = dst->QueryInt64("PRAGMA page_count");
    absl::StatusOr<int64_t> page_size = dst->QueryInt64("PRAGMA page_size");
    if (!check.ok() || *check != "ok" || !pages.ok() || !page_size.ok()) {
      dst.reset();
      ::unlink(tmp.c_str());
      if (!check.ok()) return check.status();
      return absl::DataLossError(absl::StrCat(
          "backup of ", from, " failed its integrity check: ",
          check.ok() ? *check : std::string(check.status().message())));
    }
    stats.pages = *pages;
    stats.bytes = *pages * *page_size;
  }
  TA_RETURN_IF_ERROR(SyncFileAndDir(tmp));
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ",
                                               to, ": ", std::strerror(err)));
  }
  TA_RETURN_IF_ERROR(SyncFileAndDir(to));
  return stats;
}

}  // namespace token_authority::storage

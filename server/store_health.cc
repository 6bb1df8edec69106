#include "server/store_health.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace token_authority::server {
namespace {

std::string ErrnoText(const std::string& what, int err) {
  return absl::StrCat(what, ": ", std::strerror(err));
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreHealth>> StoreHealth::Start(
    StoreHealthOptions options, WriteStateFn write_state, ProbeFn probe,
    ChangeFn on_change) {
  struct stat st {};
  if (!options.database_path.empty() &&
      ::stat(options.database_path.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        ErrnoText(absl::StrCat("cannot stat ", options.database_path), errno));
  }
  std::unique_ptr<StoreHealth> health(new StoreHealth(
      std::move(options), std::move(write_state), std::move(probe),
      std::move(on_change), st.st_dev, st.st_ino));
  StoreHealth* self = health.get();
  health->loop_.Start("ta-store-health", health->options_.interval,
                      [self] { self->CheckNow(); });
  return health;
}

StoreHealth::StoreHealth(StoreHealthOptions options, WriteStateFn write_state,
                         ProbeFn probe, ChangeFn on_change, dev_t dev,
                         ino_t ino)
    : options_(std::move(options)),
      write_state_(std::move(write_state)),
      probe_(std::move(probe)),
      on_change_(std::move(on_change)),
      dev_(dev),
      ino_(ino) {}

StoreHealth::~StoreHealth() { Stop(); }

void StoreHealth::Stop() { loop_.Stop(); }

bool StoreHealth::serving() const {
  MutexLock lock(&mu_);
  return reason_.empty();
}

std::string StoreHealth::reason() const {
  MutexLock lock(&mu_);
  return reason_;
}

void StoreHealth::CheckNow() {
  MutexLock check_lock(&check_mu_);
  std::string problem = CheckDatabaseFile();
  if (problem.empty()) {
    problem = options_.probe_every_check ? CheckProbe() : CheckWrites();
  }
  {
    MutexLock lock(&mu_);
    if (problem == reason_) return;
    // A probe that keeps failing keeps the reason it first failed with (its
    // message changes as the store retries): one change per outage.
    if (options_.probe_every_check && !problem.empty() && !reason_.empty()) {
      return;
    }
    reason_ = problem;
  }
  if (on_change_) on_change_(problem.empty(), problem);
}

std::string StoreHealth::CheckDatabaseFile() const {
  const std::string& path = options_.database_path;
  if (path.empty()) return "";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return absl::StrCat("database file ", path,
                        err == ENOENT ? " is gone (deleted or moved)"
                                      : ErrnoText(" cannot be read", err),
                        ": restore it or restart the server");
  }
  if (st.st_dev != dev_ || st.st_ino != ino_) {
    return absl::StrCat("database file ", path,
                        " was replaced by another file since the server "
                        "opened it: restart the server");
  }
  return "";
}

std::string StoreHealth::CheckProbe() const {
  if (!options_.probe_every_check) return "";
  const absl::Status probe =
      probe_ ? probe_() : absl::UnavailableError("no probe");
  if (probe.ok()) return "";
  // The first line (libpq's messages go on with hints).
  const absl::string_view message = probe.message();
  return absl::StrCat("the store cannot write: ",
                      message.substr(0, message.find('\n')));
}

std::string StoreHealth::CheckWrites() {
  if (!write_state_) return "";
  const StoreWriteState state = write_state_();
  if (state.storage_failures <= recovered_at_) return "";
  const std::string failing =
      absl::StrCat("writes fail (", state.last_failure, ")");
  if (!options_.data_dir.empty()) {
    struct statvfs fs {};
    if (::statvfs(options_.data_dir.c_str(), &fs) != 0) {
      return absl::StrCat(failing, "; ",
                          ErrnoText("statvfs " + options_.data_dir, errno));
    }
    const int64_t free_bytes =
        static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
    if (free_bytes < options_.min_free_bytes) {
      return absl::StrCat(failing, "; the file system of ", options_.data_dir,
                          " has ", free_bytes, " bytes free");
    }
  }
  const absl::Status probe =
      probe_ ? probe_() : absl::UnavailableError("no probe");
  if (!probe.ok()) {
    return absl::StrCat(failing,
                        ", and so does a probe write: ", probe.message());
  }
  recovered_at_ = state.storage_failures;
  return "";
}

}  // namespace token_authority::server

// The data directory of a token-authority: its files, creating it, writing
// secrets into it, and the lock that lets one process at a time use it (a
// second server, or an offline command while the server runs, is refused).
#ifndef SERVER_DATA_DIR_H_
#define SERVER_DATA_DIR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace token_authority::server {

// The files in a data directory.
std::string DatabasePath(const std::string& data_dir);  // token-authority.db
std::string KekPath(const std::string& data_dir);       // kek.key
std::string AdminKeyPath(const std::string& data_dir);  // admin.key

// Creates `dir` (mode 0700) if missing. FailedPrecondition naming
// "data-dir" if it is not a directory or cannot be created.
absl::Status EnsureDirectory(const std::string& dir);

bool FileExists(const std::string& path);

// Writes `content` to `path` in directory `dir` (mode 0600) atomically: a
// temporary file, fsync, rename, fsync of the directory.
absl::Status WriteSecretFile(const std::string& dir, const std::string& path,
                             const std::string& content);

// An exclusive lock on the data directory itself (flock on its descriptor),
// held while the object lives and released by the kernel if the process
// dies.
class DataDirLock {
 public:
  // FailedPrecondition "data-dir: DIR is in use by another token-authority
  // process; stop it first" when another process (or another object in this
  // one) holds it; the directory must exist.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(
      const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace token_authority::server

#endif  // SERVER_DATA_DIR_H_

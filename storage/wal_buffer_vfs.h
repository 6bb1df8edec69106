// A SQLite VFS shim for the group-commit writer's connection: it gathers the
// writes to the WAL file in memory and hands them to the underlying VFS as
// one write just before the WAL is synced (or read, resized or closed).
//
// SQLite writes each WAL frame with two system calls (its 24-byte header,
// then the page), so a commit of a few hundred pages costs a thousand small
// pwrite() calls, and each 4 KiB page of the OS page cache is dirtied several
// times: measured as about a quarter of the writer's time. With the shim a
// commit is one pwrite() and one fsync().
//
// Durability is unchanged: a write SQLite has not synced yet may be lost by a
// crash or power cut in any case (SQLite never relies on it), and every sync
// first writes out everything buffered, then calls the underlying sync.
// Only use it where every commit syncs the WAL (synchronous=FULL or EXTRA):
// with NORMAL or OFF other connections read committed frames that were never
// synced, which the shim may still hold. Other files than the WAL (database,
// wal-index) are opened by the underlying VFS directly, untouched.
#ifndef STORAGE_WAL_BUFFER_VFS_H_
#define STORAGE_WAL_BUFFER_VFS_H_

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace token_authority::storage::sqlite {

// Counters since Register; readable from any thread.
struct WalBufferStats {
  int64_t buffered_writes = 0;  // WAL writes SQLite made
  int64_t base_writes = 0;      // writes handed to the underlying VFS
};

class WalBufferVfs {
 public:
  // Registers a shim over the VFS named `base_vfs` (empty: the default VFS)
  // under a name of its own (name()), not as the default. The base VFS must
  // stay registered while the shim is. NotFound if there is no such VFS;
  // Internal if SQLite refuses the registration. Thread-safe.
  static absl::StatusOr<std::unique_ptr<WalBufferVfs>> Register(
      const std::string& base_vfs);

  // Unregisters the shim. Every connection opened with it must be closed
  // first.
  ~WalBufferVfs();
  WalBufferVfs(const WalBufferVfs&) = delete;
  WalBufferVfs& operator=(const WalBufferVfs&) = delete;

  // The name to open connections with (sqlite3_open_v2's zVfs).
  const std::string& name() const { return name_; }

  WalBufferStats stats() const {
    return {buffered_writes_.load(std::memory_order_relaxed),
            base_writes_.load(std::memory_order_relaxed)};
  }

 private:
  friend struct WalBufferVfsAccess;
  WalBufferVfs(sqlite3_vfs* base, std::string name);

  sqlite3_vfs* const base_;
  const std::string name_;
  sqlite3_vfs vfs_{};
  std::atomic<int64_t> buffered_writes_{0};
  std::atomic<int64_t> base_writes_{0};
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_WAL_BUFFER_VFS_H_

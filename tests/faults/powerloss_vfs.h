// A SQLite VFS shim for fault tests: power loss and a full disk.
//
// It wraps the default VFS (unix) through SQLite's documented sqlite3_vfs /
// sqlite3_io_methods interface (https://sqlite.org/c3ref/vfs.html) and models
// the operating system's page cache the way SQLite's own crash tests do
// (src/test6.c): for the durable files of a database (main database,
// rollback journal, WAL) every xWrite and xTruncate is kept in memory, shared
// by every handle of the same path (as the page cache is shared by every
// descriptor), and reaches the real file only when some handle of that path
// calls xSync. A "power cut" discards every write not yet synced; later opens
// (after RestorePower) see only what was synced. Creating and deleting files
// take effect at once (as in test6.c). Temporary files are passed through.
// The wal-index (-shm) is shared memory, not durable state: it is passed
// through, and SQLite rebuilds it from the WAL when the first connection
// opens the database after the cut (all connections of the old store must
// be closed first: the unix VFS shares the wal-index between connections of
// one process).
//
// xSync does not call fsync on the real file: the real file stands for the
// platter, so making a write durable is writing it there. Memory-mapped I/O
// (xFetch) is declined so every read goes through the shim.
//
// Full disk: an optional byte budget bounds the sum of the logical sizes of
// the durable files; a write or truncate that would grow past it fails with
// SQLITE_FULL (like ENOSPC) and changes nothing.
#ifndef TESTS_FAULTS_POWERLOSS_VFS_H_
#define TESTS_FAULTS_POWERLOSS_VFS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace token_authority::faults {

// What a power cut does to the writes that were not synced.
enum class CutMode {
  // Every unsynced write and truncate is lost (SQLite test6.c's base model).
  kDiscardAll,
  // Each unsynced write independently reaches the disk or not (a seeded
  // coin flip per write, in order): the page cache had written some of them
  // back before the power failed. Unsynced truncates are lost.
  kKeepRandomSubset,
};

struct PowerLossVfsStats {
  int64_t writes = 0;          // xWrite calls accepted on durable files
  int64_t syncs = 0;           // xSync calls that flushed (even nothing)
  int64_t synced_bytes = 0;    // bytes written to real files by xSync
  int64_t database_syncs = 0;  // of those, syncs of a main database
                               // file (in WAL mode: checkpoints)
  int64_t cuts = 0;            // power cuts
  int64_t cuts_with_unsynced_writes = 0;  // cuts that found writes pending
  int64_t discarded_writes = 0;           // unsynced writes lost in cuts
  int64_t kept_writes = 0;        // unsynced writes kept (kKeepRandomSubset)
  int64_t refused_after_cut = 0;  // calls failed with SQLITE_IOERR after a cut
  int64_t full_errors = 0;        // writes/truncates failed with SQLITE_FULL
};

// One registered VFS. Thread-safe: every method may be called from any
// thread, also while SQLite connections use the VFS from other threads.
class PowerLossVfs {
 public:
  // Registers a VFS named `name` (not made the default) wrapping the current
  // default VFS. AlreadyExists if a VFS of that name is registered;
  // Internal if SQLite refuses.
  static absl::StatusOr<std::unique_ptr<PowerLossVfs>> Register(
      const std::string& name);

  // Unregisters the VFS and drops every unsynced write. Every connection
  // opened with it must have been closed before.
  ~PowerLossVfs();
  PowerLossVfs(const PowerLossVfs&) = delete;
  PowerLossVfs& operator=(const PowerLossVfs&) = delete;

  const std::string& name() const;

  // Cuts the power now: the unsynced writes of every file are discarded (or
  // kept in part, see CutMode) and every later VFS call fails with
  // SQLITE_IOERR, except the calls that release resources (xClose, xUnlock,
  // xShmUnmap, xShmBarrier, and xShmLock releasing a lock). Handles opened
  // before the cut keep failing even after RestorePower: close them.
  // Idempotent while the power is off.
  void CutPower();

  // Arms a cut from inside the VFS: the power fails just before the `n`-th
  // (1-based) xWrite / xSync / xTruncate on a durable file from now on, and
  // that call fails. n <= 0 disarms.
  void CutPowerAtOperation(int64_t n);

  // Power is back: later opens load what was synced from the real files.
  // No-op while the power is on.
  void RestorePower();

  bool powered() const;

  // Whether some durable file has writes not yet synced (a commit or
  // checkpoint is under way). A snapshot: it may change right after.
  bool HasUnsyncedWrites() const;

  // Cuts the power now if, and only if, some durable file has writes not yet
  // synced (checked and cut atomically). Returns whether it cut.
  bool CutPowerIfUnsyncedWrites();

  // How unsynced writes fare at the next cuts. `seed` drives
  // kKeepRandomSubset.
  void SetCutMode(CutMode mode, uint64_t seed = 1);

  // Full disk: the durable files together may hold at most `bytes` bytes
  // (their logical sizes). std::nullopt: no limit (the default). Lowering
  // the budget below the current use does not shrink anything; it only
  // makes growing writes fail.
  void SetByteBudget(std::optional<int64_t> bytes);

  // The sum of the logical sizes of the durable files currently known
  // (opened since the last cut, and not deleted).
  int64_t BytesInUse() const;

  PowerLossVfsStats stats() const;

  struct Impl;  // implementation detail (powerloss_vfs.cc)

 private:
  explicit PowerLossVfs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace token_authority::faults

#endif  // TESTS_FAULTS_POWERLOSS_VFS_H_

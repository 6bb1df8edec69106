#include "tests/faults/powerloss_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <random>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace token_authority::faults {
namespace {

// One unsynced change of a durable file, replayed in order by xSync.
struct PendingWrite {
  int64_t offset;
  std::string bytes;
};
struct PendingTruncate {
  int64_t size;
};
using PendingOp = std::variant<PendingWrite, PendingTruncate>;

// What the "page cache" holds for one path: the logical content every
// handle reads, and the changes not yet on the real file.
struct FileState {
  std::string path;
  bool main_db = false;
  std::string data;
  std::vector<PendingOp> pending;
};

}  // namespace

struct PowerLossVfs::Impl {
  std::string name;
  sqlite3_vfs vfs{};  // registered with SQLite; pAppData = this
  sqlite3_vfs* real = nullptr;
  sqlite3_io_methods io{};

  std::atomic<bool> powered{true};
  // Incremented by every cut; a handle opened in an older epoch is dead.
  std::atomic<uint64_t> epoch{0};

  mutable std::mutex mu;  // guards everything below
  std::map<std::string, std::shared_ptr<FileState>> files;
  int64_t cut_countdown = 0;  // > 0: cut when it reaches 0
  std::optional<int64_t> budget;
  CutMode mode = CutMode::kDiscardAll;
  std::mt19937_64 rng{1};
  PowerLossVfsStats stats;

  int64_t BytesInUseLocked() const {
    int64_t total = 0;
    for (const auto& [path, state] : files) {
      total += static_cast<int64_t>(state->data.size());
    }
    return total;
  }

  bool HasUnsyncedWritesLocked() const {
    for (const auto& [path, state] : files) {
      for (const PendingOp& op : state->pending) {
        if (std::holds_alternative<PendingWrite>(op)) return true;
      }
    }
    return false;
  }

  // The power fails: unsynced writes are dropped (or some written through
  // to the real file in kKeepRandomSubset mode), every state is forgotten.
  void CutLocked() {
    if (!powered.load()) return;
    powered.store(false);
    epoch.fetch_add(1);
    ++stats.cuts;
    stats.cuts_with_unsynced_writes += HasUnsyncedWritesLocked();
    for (const auto& [path, state] : files) {
      int fd = -1;
      for (const PendingOp& op : state->pending) {
        const auto* w = std::get_if<PendingWrite>(&op);
        if (w == nullptr) continue;  // unsynced truncates are lost
        bool keep = mode == CutMode::kKeepRandomSubset && (rng() & 1) != 0;
        if (!keep) {
          ++stats.discarded_writes;
          continue;
        }
        // No SQLite handle may be used here: they are all dead. Closing this
        // descriptor drops the process's POSIX locks on the file, which is
        // harmless: every handle of the old epoch fails from now on and is
        // closed before the power returns.
        if (fd < 0) fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0 &&
            ::pwrite(fd, w->bytes.data(), w->bytes.size(), w->offset) ==
                static_cast<ssize_t>(w->bytes.size())) {
          ++stats.kept_writes;
        } else {
          ++stats.discarded_writes;
        }
      }
      if (fd >= 0) ::close(fd);
    }
    files.clear();
  }

  // Counts one durable write/sync/truncate; true if the armed cut fired.
  bool CountOperationLocked() {
    if (cut_countdown > 0 && --cut_countdown == 0) {
      CutLocked();
      ++stats.refused_after_cut;
      return true;
    }
    return false;
  }
};

namespace {

using Impl = PowerLossVfs::Impl;

// Lives at the start of the sqlite3_file memory SQLite allocates
// (szOsFile bytes); the real VFS's file follows at kRealOffset.
struct ShimFile {
  sqlite3_file base;  // must be first
  Impl* impl = nullptr;
  std::shared_ptr<FileState> state;  // null: passed through
  uint64_t epoch = 0;
};
constexpr size_t kRealOffset = (sizeof(ShimFile) + 15) & ~size_t{15};

ShimFile* Shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) +
                                         kRealOffset);
}
Impl* VfsImpl(sqlite3_vfs* vfs) { return static_cast<Impl*>(vfs->pAppData); }

// Whether the handle may still do I/O. Counts a refusal otherwise.
bool Alive(ShimFile* f) {
  Impl* impl = f->impl;
  if (impl->powered.load() && impl->epoch.load() == f->epoch) return true;
  std::lock_guard<std::mutex> lock(impl->mu);
  ++impl->stats.refused_after_cut;
  return false;
}

// --- io methods -----------------------------------------------------------

int ShimClose(sqlite3_file* file) {
  ShimFile* f = Shim(file);
  sqlite3_file* real = Real(file);
  int rc = SQLITE_OK;
  if (real->pMethods != nullptr) rc = real->pMethods->xClose(real);
  f->~ShimFile();
  return rc;
}

int ShimRead(sqlite3_file* file, void* buf, int amt, sqlite3_int64 offset) {
  ShimFile* f = Shim(file);
  if (f->state == nullptr) {
    if (!Alive(f)) return SQLITE_IOERR_READ;
    sqlite3_file* real = Real(file);
    return real->pMethods->xRead(real, buf, amt, offset);
  }
  std::lock_guard<std::mutex> lock(f->impl->mu);
  if (!f->impl->powered.load() || f->impl->epoch.load() != f->epoch) {
    ++f->impl->stats.refused_after_cut;
    return SQLITE_IOERR_READ;
  }
  const std::string& data = f->state->data;
  int64_t size = static_cast<int64_t>(data.size());
  int64_t n = offset >= size ? 0 : std::min<int64_t>(amt, size - offset);
  if (n > 0) std::memcpy(buf, data.data() + offset, static_cast<size_t>(n));
  if (n < amt) {
    std::memset(static_cast<char*>(buf) + n, 0, static_cast<size_t>(amt - n));
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int ShimWrite(sqlite3_file* file, const void* buf, int amt,
              sqlite3_int64 offset) {
  ShimFile* f = Shim(file);
  if (f->state == nullptr) {
    if (!Alive(f)) return SQLITE_IOERR_WRITE;
    sqlite3_file* real = Real(file);
    return real->pMethods->xWrite(real, buf, amt, offset);
  }
  Impl* impl = f->impl;
  std::lock_guard<std::mutex> lock(impl->mu);
  if (!impl->powered.load() || impl->epoch.load() != f->epoch) {
    ++impl->stats.refused_after_cut;
    return SQLITE_IOERR_WRITE;
  }
  if (impl->CountOperationLocked()) return SQLITE_IOERR_WRITE;
  std::string& data = f->state->data;
  int64_t end = offset + amt;
  int64_t growth =
      std::max<int64_t>(0, end - static_cast<int64_t>(data.size()));
  if (growth > 0 && impl->budget.has_value() &&
      impl->BytesInUseLocked() + growth > *impl->budget) {
    ++impl->stats.full_errors;
    return SQLITE_FULL;
  }
  if (end > static_cast<int64_t>(data.size())) {
    data.resize(static_cast<size_t>(end), '\0');
  }
  std::memcpy(data.data() + offset, buf, static_cast<size_t>(amt));
  f->state->pending.push_back(PendingWrite{
      offset,
      std::string(static_cast<const char*>(buf), static_cast<size_t>(amt))});
  ++impl->stats.writes;
  return SQLITE_OK;
}

int ShimTruncate(sqlite3_file* file, sqlite3_int64 size) {
  ShimFile* f = Shim(file);
  if (f->state == nullptr) {
    if (!Alive(f)) return SQLITE_IOERR_TRUNCATE;
    sqlite3_file* real = Real(file);
    return real->pMethods->xTruncate(real, size);
  }
  Impl* impl = f->impl;
  std::lock_guard<std::mutex> lock(impl->mu);
  if (!impl->powered.load() || impl->epoch.load() != f->epoch) {
    ++impl->stats.refused_after_cut;
    return SQLITE_IOERR_TRUNCATE;
  }
  if (impl->CountOperationLocked()) return SQLITE_IOERR_TRUNCATE;
  std::string& data = f->state->data;
  int64_t growth =
      std::max<int64_t>(0, size - static_cast<int64_t>(data.size()));
  if (growth > 0 && impl->budget.has_value() &&
      impl->BytesInUseLocked() + growth > *impl->budget) {
    ++impl->stats.full_errors;
    return SQLITE_FULL;
  }
  data.resize(static_cast<size_t>(size), '\0');
  f->state->pending.push_back(PendingTruncate{size});
  return SQLITE_OK;
}

int ShimSync(sqlite3_file* file, int flags) {
  ShimFile* f = Shim(file);
  sqlite3_file* real = Real(file);
  if (f->state == nullptr) {
    if (!Alive(f)) return SQLITE_IOERR_FSYNC;
    return real->pMethods->xSync(real, flags);
  }
  Impl* impl = f->impl;
  std::lock_guard<std::mutex> lock(impl->mu);
  if (!impl->powered.load() || impl->epoch.load() != f->epoch) {
    ++impl->stats.refused_after_cut;
    return SQLITE_IOERR_FSYNC;
  }
  if (impl->CountOperationLocked()) return SQLITE_IOERR_FSYNC;
  // Replay the page cache onto the "platter", in order. Every handle of a
  // path shares the state, so this flushes the others' writes too, as
  // fsync(2) does.
  std::vector<PendingOp>& pending = f->state->pending;
  for (const PendingOp& op : pending) {
    int rc;
    if (const auto* w = std::get_if<PendingWrite>(&op)) {
      rc = real->pMethods->xWrite(real, w->bytes.data(),
                                  static_cast<int>(w->bytes.size()), w->offset);
      impl->stats.synced_bytes += static_cast<int64_t>(w->bytes.size());
    } else {
      rc = real->pMethods->xTruncate(real, std::get<PendingTruncate>(op).size);
    }
    if (rc != SQLITE_OK) return SQLITE_IOERR_FSYNC;
  }
  pending.clear();
  ++impl->stats.syncs;
  impl->stats.database_syncs += f->state->main_db;
  return SQLITE_OK;
}

int ShimFileSize(sqlite3_file* file, sqlite3_int64* size) {
  ShimFile* f = Shim(file);
  if (f->state == nullptr) {
    if (!Alive(f)) return SQLITE_IOERR_FSTAT;
    sqlite3_file* real = Real(file);
    return real->pMethods->xFileSize(real, size);
  }
  std::lock_guard<std::mutex> lock(f->impl->mu);
  if (!f->impl->powered.load() || f->impl->epoch.load() != f->epoch) {
    ++f->impl->stats.refused_after_cut;
    return SQLITE_IOERR_FSTAT;
  }
  *size = static_cast<sqlite3_int64>(f->state->data.size());
  return SQLITE_OK;
}

int ShimLock(sqlite3_file* file, int level) {
  if (!Alive(Shim(file))) return SQLITE_IOERR_LOCK;
  sqlite3_file* real = Real(file);
  return real->pMethods->xLock(real, level);
}

int ShimUnlock(sqlite3_file* file, int level) {
  // Releasing is always allowed: the old store must be able to close.
  sqlite3_file* real = Real(file);
  return real->pMethods->xUnlock(real, level);
}

int ShimCheckReservedLock(sqlite3_file* file, int* out) {
  if (!Alive(Shim(file))) return SQLITE_IOERR_CHECKRESERVEDLOCK;
  sqlite3_file* real = Real(file);
  return real->pMethods->xCheckReservedLock(real, out);
}

int ShimFileControl(sqlite3_file* file, int op, void* arg) {
  ShimFile* f = Shim(file);
  if (!Alive(f)) return SQLITE_IOERR;
  if (f->state != nullptr &&
      (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE)) {
    // The unix VFS would grow the real file behind the shim's back.
    return SQLITE_OK;
  }
  sqlite3_file* real = Real(file);
  return real->pMethods->xFileControl(real, op, arg);
}

int ShimSectorSize(sqlite3_file* file) {
  sqlite3_file* real = Real(file);
  return real->pMethods->xSectorSize(real);
}

int ShimDeviceCharacteristics(sqlite3_file* file) {
  sqlite3_file* real = Real(file);
  return real->pMethods->xDeviceCharacteristics(real);
}

int ShimShmMap(sqlite3_file* file, int region, int size, int extend,
               void volatile** out) {
  if (!Alive(Shim(file))) return SQLITE_IOERR_SHMMAP;
  sqlite3_file* real = Real(file);
  if (real->pMethods->iVersion < 2 || real->pMethods->xShmMap == nullptr) {
    return SQLITE_IOERR_SHMMAP;
  }
  return real->pMethods->xShmMap(real, region, size, extend, out);
}

int ShimShmLock(sqlite3_file* file, int offset, int n, int flags) {
  if ((flags & SQLITE_SHM_UNLOCK) == 0 && !Alive(Shim(file))) {
    return SQLITE_IOERR_SHMLOCK;
  }
  sqlite3_file* real = Real(file);
  return real->pMethods->xShmLock(real, offset, n, flags);
}

void ShimShmBarrier(sqlite3_file* file) {
  sqlite3_file* real = Real(file);
  real->pMethods->xShmBarrier(real);
}

int ShimShmUnmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* real = Real(file);
  return real->pMethods->xShmUnmap(real, delete_flag);
}

int ShimFetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;  // no memory mapping: reads must see the page cache
  return SQLITE_OK;
}

int ShimUnfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

// --- vfs methods ----------------------------------------------------------

// Loads the synced content of `real` into a new state.
int LoadState(sqlite3_file* real, const std::string& path,
              std::shared_ptr<FileState>* out) {
  sqlite3_int64 size = 0;
  int rc = real->pMethods->xFileSize(real, &size);
  if (rc != SQLITE_OK) return rc;
  auto state = std::make_shared<FileState>();
  state->path = path;
  state->data.resize(static_cast<size_t>(size));
  constexpr sqlite3_int64 kChunk = 1 << 20;
  for (sqlite3_int64 off = 0; off < size; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, size - off));
    rc = real->pMethods->xRead(real, state->data.data() + off, n, off);
    if (rc != SQLITE_OK) return rc;
  }
  *out = std::move(state);
  return SQLITE_OK;
}

int ShimOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags,
             int* out_flags) {
  Impl* impl = VfsImpl(vfs);
  file->pMethods = nullptr;
  if (!impl->powered.load()) {
    std::lock_guard<std::mutex> lock(impl->mu);
    ++impl->stats.refused_after_cut;
    return SQLITE_IOERR;
  }
  sqlite3_file* real = Real(file);
  std::memset(real, 0, static_cast<size_t>(impl->real->szOsFile));
  int rc = impl->real->xOpen(impl->real, name, real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (real->pMethods != nullptr) real->pMethods->xClose(real);
    return rc;
  }
  const bool durable =
      name != nullptr &&
      (flags &
       (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_WAL)) != 0;
  std::shared_ptr<FileState> state;
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    epoch = impl->epoch.load();
    if (!impl->powered.load()) {
      rc = SQLITE_IOERR;
    } else if (durable) {
      auto it = impl->files.find(name);
      if (it != impl->files.end()) {
        state = it->second;
      } else {
        rc = LoadState(real, name, &state);
        if (rc == SQLITE_OK) {
          state->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
          impl->files.emplace(name, state);
        }
      }
    }
  }
  if (rc != SQLITE_OK) {
    real->pMethods->xClose(real);
    return rc;
  }
  ShimFile* f = new (file) ShimFile();
  f->impl = impl;
  f->state = std::move(state);
  f->epoch = epoch;
  file->pMethods = &impl->io;
  return SQLITE_OK;
}

int ShimDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  Impl* impl = VfsImpl(vfs);
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    if (!impl->powered.load()) {
      ++impl->stats.refused_after_cut;
      return SQLITE_IOERR_DELETE;
    }
    impl->files.erase(name);
  }
  return impl->real->xDelete(impl->real, name, sync_dir);
}

int ShimAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  Impl* impl = VfsImpl(vfs);
  if (!impl->powered.load()) {
    std::lock_guard<std::mutex> lock(impl->mu);
    ++impl->stats.refused_after_cut;
    return SQLITE_IOERR_ACCESS;
  }
  return impl->real->xAccess(impl->real, name, flags, out);
}

int ShimFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xFullPathname(real, name, n, out);
}

void* ShimDlOpen(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xDlOpen(real, name);
}
void ShimDlError(sqlite3_vfs* vfs, int n, char* msg) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  real->xDlError(real, n, msg);
}
void (*ShimDlSym(sqlite3_vfs* vfs, void* handle, const char* sym))(void) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xDlSym(real, handle, sym);
}
void ShimDlClose(sqlite3_vfs* vfs, void* handle) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  real->xDlClose(real, handle);
}
int ShimRandomness(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xRandomness(real, n, out);
}
int ShimSleep(sqlite3_vfs* vfs, int micros) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xSleep(real, micros);
}
int ShimCurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xCurrentTime(real, out);
}
int ShimGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xGetLastError(real, n, out);
}
int ShimCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xCurrentTimeInt64(real, out);
}
int ShimSetSystemCall(sqlite3_vfs* vfs, const char* name,
                      sqlite3_syscall_ptr ptr) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xSetSystemCall(real, name, ptr);
}
sqlite3_syscall_ptr ShimGetSystemCall(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xGetSystemCall(real, name);
}
const char* ShimNextSystemCall(sqlite3_vfs* vfs, const char* name) {
  sqlite3_vfs* real = VfsImpl(vfs)->real;
  return real->xNextSystemCall(real, name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PowerLossVfs>> PowerLossVfs::Register(
    const std::string& name) {
  if (sqlite3_initialize() != SQLITE_OK) {
    return absl::InternalError("sqlite3_initialize failed");
  }
  if (sqlite3_vfs_find(name.c_str()) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("vfs: '", name, "' is already registered"));
  }
  sqlite3_vfs* real = sqlite3_vfs_find(nullptr);
  if (real == nullptr || real->iVersion < 3) {
    return absl::InternalError("vfs: the default VFS is missing or too old");
  }
  auto impl = std::make_unique<Impl>();
  impl->name = name;
  impl->real = real;

  sqlite3_io_methods& io = impl->io;
  io.iVersion = 3;
  io.xClose = ShimClose;
  io.xRead = ShimRead;
  io.xWrite = ShimWrite;
  io.xTruncate = ShimTruncate;
  io.xSync = ShimSync;
  io.xFileSize = ShimFileSize;
  io.xLock = ShimLock;
  io.xUnlock = ShimUnlock;
  io.xCheckReservedLock = ShimCheckReservedLock;
  io.xFileControl = ShimFileControl;
  io.xSectorSize = ShimSectorSize;
  io.xDeviceCharacteristics = ShimDeviceCharacteristics;
  io.xShmMap = ShimShmMap;
  io.xShmLock = ShimShmLock;
  io.xShmBarrier = ShimShmBarrier;
  io.xShmUnmap = ShimShmUnmap;
  io.xFetch = ShimFetch;
  io.xUnfetch = ShimUnfetch;

  sqlite3_vfs& vfs = impl->vfs;
  vfs.iVersion = 3;
  vfs.szOsFile = static_cast<int>(kRealOffset) + real->szOsFile;
  vfs.mxPathname = real->mxPathname;
  vfs.zName = impl->name.c_str();
  vfs.pAppData = impl.get();
  vfs.xOpen = ShimOpen;
  vfs.xDelete = ShimDelete;
  vfs.xAccess = ShimAccess;
  vfs.xFullPathname = ShimFullPathname;
  vfs.xDlOpen = ShimDlOpen;
  vfs.xDlError = ShimDlError;
  vfs.xDlSym = ShimDlSym;
  vfs.xDlClose = ShimDlClose;
  vfs.xRandomness = ShimRandomness;
  vfs.xSleep = ShimSleep;
  vfs.xCurrentTime = ShimCurrentTime;
  vfs.xGetLastError = ShimGetLastError;
  vfs.xCurrentTimeInt64 = ShimCurrentTimeInt64;
  vfs.xSetSystemCall = ShimSetSystemCall;
  vfs.xGetSystemCall = ShimGetSystemCall;
  vfs.xNextSystemCall = ShimNextSystemCall;

  int rc = sqlite3_vfs_register(&impl->vfs, /*makeDflt=*/0);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("vfs: sqlite3_vfs_register: ", sqlite3_errstr(rc)));
  }
  return std::unique_ptr<PowerLossVfs>(new PowerLossVfs(std::move(impl)));
}

PowerLossVfs::PowerLossVfs(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

PowerLossVfs::~PowerLossVfs() { sqlite3_vfs_unregister(&impl_->vfs); }

const std::string& PowerLossVfs::name() const { return impl_->name; }

void PowerLossVfs::CutPower() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->CutLocked();
}

void PowerLossVfs::CutPowerAtOperation(int64_t n) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->cut_countdown = n > 0 ? n : 0;
}

void PowerLossVfs::RestorePower() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->cut_countdown = 0;
  impl_->powered.store(true);
}

bool PowerLossVfs::powered() const { return impl_->powered.load(); }

bool PowerLossVfs::HasUnsyncedWrites() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->HasUnsyncedWritesLocked();
}

bool PowerLossVfs::CutPowerIfUnsyncedWrites() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->powered.load() || !impl_->HasUnsyncedWritesLocked()) {
    return false;
  }
  impl_->CutLocked();
  return true;
}

void PowerLossVfs::SetCutMode(CutMode mode, uint64_t seed) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->mode = mode;
  impl_->rng.seed(seed);
}

void PowerLossVfs::SetByteBudget(std::optional<int64_t> bytes) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->budget = bytes;
}

int64_t PowerLossVfs::BytesInUse() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->BytesInUseLocked();
}

PowerLossVfsStats PowerLossVfs::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

}  // namespace token_authority::faults

#include "storage/wal_buffer_vfs.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage::sqlite {

// The file object SQLite allocates for a WAL file opened through the shim:
// our header, then the underlying VFS's own file object.
struct WalFile {
  sqlite3_file base;  // must be first: SQLite sees a sqlite3_file*
  sqlite3_file* real;
  WalBufferVfs* vfs;
  struct Buffer {
    sqlite3_int64 offset = 0;  // file offset of data[0]
    std::vector<char> data;    // pending bytes, contiguous from `offset`
  } * buffer;
};

// Version 1: SQLite maps no memory and keeps no wal-index in a WAL file.
extern const sqlite3_io_methods kWalMethods;

struct WalBufferVfsAccess {
  // At most this many bytes are held; a commit of more is written in parts.
  static constexpr size_t kMaxBuffer = size_t{8} << 20;

  static WalBufferVfs* Self(sqlite3_vfs* vfs) {
    return static_cast<WalBufferVfs*>(vfs->pAppData);
  }
  static sqlite3_vfs* Base(sqlite3_vfs* vfs) { return Self(vfs)->base_; }
  static WalFile* File(sqlite3_file* f) {
    return reinterpret_cast<WalFile*>(f);
  }
  static sqlite3_file* Real(sqlite3_file* f) { return File(f)->real; }

  // The unix VFS writes at most 128 KiB - 1 bytes per call (seekAndWrite
  // masks the length with 0x1ffff): larger writes go in pieces of this size.
  static constexpr size_t kMaxWrite = size_t{64} << 10;

  static int WriteThrough(WalFile* f, const char* data, size_t n,
                          sqlite3_int64 off) {
    while (n > 0) {
      const size_t part = std::min(n, kMaxWrite);
      const int rc =
          f->real->pMethods->xWrite(f->real, data, static_cast<int>(part), off);
      f->vfs->base_writes_.fetch_add(1, std::memory_order_relaxed);
      if (rc != SQLITE_OK) return rc;
      data += part;
      n -= part;
      off += static_cast<sqlite3_int64>(part);
    }
    return SQLITE_OK;
  }

  // Writes out what is buffered. On failure the bytes are dropped: SQLite
  // fails the transaction that wrote them and never uses them.
  static int Flush(WalFile* f) {
    WalFile::Buffer& b = *f->buffer;
    if (b.data.empty()) return SQLITE_OK;
    const int rc = WriteThrough(f, b.data.data(), b.data.size(), b.offset);
    b.data.clear();
    return rc;
  }

  // --- io methods of a WAL file -----------------------------------------
  static int Close(sqlite3_file* file) {
    WalFile* f = File(file);
    int rc = Flush(f);
    const int close_rc = f->real->pMethods->xClose(f->real);
    if (rc == SQLITE_OK) rc = close_rc;
    delete f->buffer;
    f->buffer = nullptr;
    return rc;
  }
  static int Read(sqlite3_file* file, void* out, int n, sqlite3_int64 off) {
    WalFile* f = File(file);
    const WalFile::Buffer& b = *f->buffer;
    if (!b.data.empty() &&
        off < b.offset + static_cast<sqlite3_int64>(b.data.size()) &&
        b.offset < off + n) {
      const int rc = Flush(f);
      if (rc != SQLITE_OK) return rc;
    }
    return f->real->pMethods->xRead(f->real, out, n, off);
  }
  static int Write(sqlite3_file* file, const void* data, int n,
                   sqlite3_int64 off) {
    WalFile* f = File(file);
    f->vfs->buffered_writes_.fetch_add(1, std::memory_order_relaxed);
    WalFile::Buffer& b = *f->buffer;
    const auto size = static_cast<size_t>(n);
    const char* bytes = static_cast<const char*>(data);
    const sqlite3_int64 end =
        b.offset + static_cast<sqlite3_int64>(b.data.size());
    if (!b.data.empty() && off >= b.offset && off + n <= end) {
      // Rewriting buffered bytes (a frame rewritten in the same
      // transaction, a header with new checksums).
      std::memcpy(b.data.data() + (off - b.offset), bytes, size);
      return SQLITE_OK;
    }
    if (!b.data.empty() && (off != end || b.data.size() + size > kMaxBuffer)) {
      const int rc = Flush(f);
      if (rc != SQLITE_OK) return rc;
    }
    if (size > kMaxBuffer) return WriteThrough(f, bytes, size, off);
    if (b.data.empty()) b.offset = off;
    b.data.insert(b.data.end(), bytes, bytes + size);
    return SQLITE_OK;
  }
  static int Truncate(sqlite3_file* file, sqlite3_int64 size) {
    WalFile* f = File(file);
    const int rc = Flush(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xTruncate(f->real, size);
  }
  static int Sync(sqlite3_file* file, int flags) {
    WalFile* f = File(file);
    const int rc = Flush(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xSync(f->real, flags);
  }
  static int FileSize(sqlite3_file* file, sqlite3_int64* size) {
    WalFile* f = File(file);
    const int rc = Flush(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xFileSize(f->real, size);
  }
  static int Lock(sqlite3_file* file, int level) {
    return Real(file)->pMethods->xLock(Real(file), level);
  }
  static int Unlock(sqlite3_file* file, int level) {
    return Real(file)->pMethods->xUnlock(Real(file), level);
  }
  static int CheckReservedLock(sqlite3_file* file, int* out) {
    return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
  }
  static int FileControl(sqlite3_file* file, int op, void* arg) {
    return Real(file)->pMethods->xFileControl(Real(file), op, arg);
  }
  static int SectorSize(sqlite3_file* file) {
    return Real(file)->pMethods->xSectorSize(Real(file));
  }
  static int DeviceCharacteristics(sqlite3_file* file) {
    return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
  }

  // --- VFS methods --------------------------------------------------------
  static int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file,
                  int flags, int* out_flags) {
    sqlite3_vfs* base = Base(vfs);
    if ((flags & SQLITE_OPEN_WAL) == 0) {
      // Not a WAL file: the base VFS's own object in our (larger) slot.
      return base->xOpen(base, name, file, flags, out_flags);
    }
    WalFile* f = File(file);
    f->base.pMethods = nullptr;
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    f->vfs = Self(vfs);
    f->buffer = nullptr;
    const int rc = base->xOpen(base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) return rc;
    f->buffer = new (std::nothrow) WalFile::Buffer();
    if (f->buffer == nullptr) {
      if (f->real->pMethods != nullptr) f->real->pMethods->xClose(f->real);
      return SQLITE_NOMEM;
    }
    f->base.pMethods = &kWalMethods;
    return SQLITE_OK;
  }
  static int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
    return Base(vfs)->xDelete(Base(vfs), name, sync_dir);
  }
  static int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
    return Base(vfs)->xAccess(Base(vfs), name, flags, out);
  }
  static int FullPathname(sqlite3_vfs* vfs, const char* name, int n,
                          char* out) {
    return Base(vfs)->xFullPathname(Base(vfs), name, n, out);
  }
  static void* DlOpen(sqlite3_vfs* vfs, const char* name) {
    return Base(vfs)->xDlOpen(Base(vfs), name);
  }
  static void DlError(sqlite3_vfs* vfs, int n, char* out) {
    Base(vfs)->xDlError(Base(vfs), n, out);
  }
  static void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* sym))(void) {
    return Base(vfs)->xDlSym(Base(vfs), handle, sym);
  }
  static void DlClose(sqlite3_vfs* vfs, void* handle) {
    Base(vfs)->xDlClose(Base(vfs), handle);
  }
  static int Randomness(sqlite3_vfs* vfs, int n, char* out) {
    return Base(vfs)->xRandomness(Base(vfs), n, out);
  }
  static int Sleep(sqlite3_vfs* vfs, int us) {
    return Base(vfs)->xSleep(Base(vfs), us);
  }
  static int CurrentTime(sqlite3_vfs* vfs, double* out) {
    return Base(vfs)->xCurrentTime(Base(vfs), out);
  }
  static int GetLastError(sqlite3_vfs* vfs, int n, char* out) {
    return Base(vfs)->xGetLastError(Base(vfs), n, out);
  }
  static int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
    return Base(vfs)->xCurrentTimeInt64(Base(vfs), out);
  }
  static int SetSystemCall(sqlite3_vfs* vfs, const char* name,
                           sqlite3_syscall_ptr call) {
    return Base(vfs)->xSetSystemCall(Base(vfs), name, call);
  }
  static sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs* vfs, const char* name) {
    return Base(vfs)->xGetSystemCall(Base(vfs), name);
  }
  static const char* NextSystemCall(sqlite3_vfs* vfs, const char* name) {
    return Base(vfs)->xNextSystemCall(Base(vfs), name);
  }
};

const sqlite3_io_methods kWalMethods = {
    1,
    WalBufferVfsAccess::Close,
    WalBufferVfsAccess::Read,
    WalBufferVfsAccess::Write,
    WalBufferVfsAccess::Truncate,
    WalBufferVfsAccess::Sync,
    WalBufferVfsAccess::FileSize,
    WalBufferVfsAccess::Lock,
    WalBufferVfsAccess::Unlock,
    WalBufferVfsAccess::CheckReservedLock,
    WalBufferVfsAccess::FileControl,
    WalBufferVfsAccess::SectorSize,
    WalBufferVfsAccess::DeviceCharacteristics,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr};

WalBufferVfs::WalBufferVfs(sqlite3_vfs* base, std::string name)
    : base_(base), name_(std::move(name)) {
  using A = WalBufferVfsAccess;
  vfs_.iVersion = std::min(base->iVersion, 3);
  vfs_.szOsFile = static_cast<int>(sizeof(WalFile)) + base->szOsFile;
  vfs_.mxPathname = base->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = A::Open;
  vfs_.xDelete = A::Delete;
  vfs_.xAccess = A::Access;
  vfs_.xFullPathname = A::FullPathname;
  vfs_.xDlOpen = base->xDlOpen != nullptr ? A::DlOpen : nullptr;
  vfs_.xDlError = base->xDlError != nullptr ? A::DlError : nullptr;
  vfs_.xDlSym = base->xDlSym != nullptr ? A::DlSym : nullptr;
  vfs_.xDlClose = base->xDlClose != nullptr ? A::DlClose : nullptr;
  vfs_.xRandomness = A::Randomness;
  vfs_.xSleep = A::Sleep;
  vfs_.xCurrentTime = A::CurrentTime;
  vfs_.xGetLastError =
      base->xGetLastError != nullptr ? A::GetLastError : nullptr;
  if (vfs_.iVersion >= 2) {
    vfs_.xCurrentTimeInt64 =
        base->xCurrentTimeInt64 != nullptr ? A::CurrentTimeInt64 : nullptr;
  }
  if (vfs_.iVersion >= 3) {
    vfs_.xSetSystemCall =
        base->xSetSystemCall != nullptr ? A::SetSystemCall : nullptr;
    vfs_.xGetSystemCall =
        base->xGetSystemCall != nullptr ? A::GetSystemCall : nullptr;
    vfs_.xNextSystemCall =
        base->xNextSystemCall != nullptr ? A::NextSystemCall : nullptr;
  }
}

absl::StatusOr<std::unique_ptr<WalBufferVfs>> WalBufferVfs::Register(
    const std::string& base_vfs) {
  static std::atomic<int64_t> next_id{0};
  ConfigureSqlite();  // before sqlite3_vfs_find initialises SQLite
  sqlite3_vfs* base =
      sqlite3_vfs_find(base_vfs.empty() ? nullptr : base_vfs.c_str());
  if (base == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no SQLite VFS named \"", base_vfs, "\""));
  }
  std::unique_ptr<WalBufferVfs> vfs(new WalBufferVfs(
      base,
      absl::StrCat("ta-walbuf-", next_id.fetch_add(1), "-", base->zName)));
  const int rc = sqlite3_vfs_register(&vfs->vfs_, /*makeDflt=*/0);
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("registering VFS ", vfs->name_, ": ", sqlite3_errstr(rc)));
  }
  return vfs;
}

WalBufferVfs::~WalBufferVfs() { sqlite3_vfs_unregister(&vfs_); }

}  // namespace token_authority::storage::sqlite

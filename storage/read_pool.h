// The SQLite store's read connections: a small pool of query_only
// connections, each used by one thread at a time with its own statement
// cache. In WAL mode they never wait for the writer.
#ifndef STORAGE_READ_POOL_H_
#define STORAGE_READ_POOL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage::sqlite {

// Thread-safe. Must outlive every Lease it handed out.
class ReadPool {
 public:
  // Connections open `path` with `options` (never creating the file) and a
  // page cache of `cache_kib` KiB; up to `keep` idle ones are kept open.
  ReadPool(std::string path, ConnectionOptions options, int keep, int cache_kib)
      : path_(std::move(path)),
        options_(std::move(options)),
        keep_(keep),
        cache_kib_(cache_kib) {}
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // A connection for the holder's thread alone; back to the pool (or
  // closed, beyond `keep`) when the lease goes out of scope.
  class Lease {
   public:
    Lease(ReadPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }

   private:
    ReadPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // An idle connection, or a new one when none is idle (the pool never
  // makes a caller wait). Unavailable (or the open's error) when a new
  // connection cannot be opened.
  absl::StatusOr<Lease> Acquire();

 private:
  void Return(std::unique_ptr<Connection> conn);

  const std::string path_;
  const ConnectionOptions options_;
  const int keep_;
  const int cache_kib_;
  Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_READ_POOL_H_

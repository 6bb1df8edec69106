// The read connections of both stores, written once: a connection is leased
// to one thread at a time, an idle one is reused, otherwise a new one is
// opened (a caller never waits for another), and a connection handed back is
// kept for the next caller while fewer than `max_idle` are idle, unless the
// store's check says to close it (or every idle one: a lost server breaks
// them all). Each store derives its ReadPool, with how it opens a connection
// and checks a returned one (read_pool.h for SQLite, pg_connection.h for
// PostgreSQL).
#ifndef STORAGE_CONNECTION_POOL_H_
#define STORAGE_CONNECTION_POOL_H_

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"

namespace token_authority::storage {

// Thread-safe. Must outlive every Lease it handed out.
template <typename Conn>
class ConnectionPool {
 public:
  // Opens a new connection (called without the pool's lock held, so from
  // several threads at once).
  using OpenFn = std::function<absl::StatusOr<std::unique_ptr<Conn>>()>;
  // What becomes of a connection handed back.
  enum class Returned {
    kKeep,      // idle for the next caller (closed beyond max_idle)
    kClose,     // closed (e.g. left in the middle of a transaction)
    kCloseAll,  // closed, with every idle one (e.g. the server went away)
  };
  // Checks a connection handed back (called without the pool's lock held,
  // from several threads at once).
  using ReturnFn = std::function<Returned(Conn&)>;

  ConnectionPool(OpenFn open, ReturnFn on_return, int max_idle)
      : open_(std::move(open)),
        on_return_(std::move(on_return)),
        max_idle_(max_idle) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection for the holder's thread alone, handed back to the pool when
  // the lease goes out of scope.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    Conn* operator->() const { return conn_.get(); }
    Conn& operator*() const { return *conn_; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  // An idle connection, or a new one when none is idle; the open's error
  // when a new one cannot be opened.
  absl::StatusOr<Lease> Acquire() {
    {
      MutexLock lock(&mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Conn> conn = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(conn));
      }
    }
    absl::StatusOr<std::unique_ptr<Conn>> opened = open_();
    if (!opened.ok()) return opened.status();
    return Lease(this, *std::move(opened));
  }

  // Connections idle now.
  size_t idle() const {
    MutexLock lock(&mu_);
    return idle_.size();
  }

 private:
  void Return(std::unique_ptr<Conn> conn) {
    const Returned what = on_return_(*conn);
    // Closed after the lock is released: `conn` unless kept, and for
    // kCloseAll every idle one.
    std::vector<std::unique_ptr<Conn>> closing;
    {
      MutexLock lock(&mu_);
      if (what == Returned::kKeep &&
          static_cast<int>(idle_.size()) < max_idle_) {
        idle_.push_back(std::move(conn));
      } else if (what == Returned::kCloseAll) {
        closing.swap(idle_);
      }
    }
  }

  const OpenFn open_;
  const ReturnFn on_return_;
  const int max_idle_;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::storage

#endif  // STORAGE_CONNECTION_POOL_H_

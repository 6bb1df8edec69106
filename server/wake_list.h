// The subscribers of a feed (RevocationFeed, OrganizationStateFeed): wake
// functions called when new data may be available, and once with
// closing = true when the feed closes.
#ifndef SERVER_WAKE_LIST_H_
#define SERVER_WAKE_LIST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace token_authority::server {

// Thread-safe. Wake functions run under the list's lock, so they must not
// call back into the list and must not block for long; in exchange, after
// Unsubscribe returns the function is not running and is never called again.
class WakeList {
 public:
  using WakeFn = std::function<void(bool closing)>;

  // Registers `wake` and returns its id (never 0). After Close(), calls
  // wake(true) at once and returns 0.
  uint64_t Subscribe(WakeFn wake) {
    MutexLock lock(&mu_);
    if (closed_) {
      wake(true);
      return 0;
    }
    const uint64_t id = next_id_++;
    subscribers_.emplace(id, std::move(wake));
    return id;
  }

  // Forgets `id`; unknown ids (and 0) are ignored.
  void Unsubscribe(uint64_t id) {
    MutexLock lock(&mu_);
    subscribers_.erase(id);
  }

  // How many are subscribed.
  size_t size() const {
    MutexLock lock(&mu_);
    return subscribers_.size();
  }

  // Calls every wake function with closing = false; nothing after Close().
  void WakeAll() {
    MutexLock lock(&mu_);
    if (closed_) return;
    for (auto& [id, wake] : subscribers_) wake(false);
  }

  // Calls every wake function with closing = true and forgets them all.
  // Idempotent.
  void Close() {
    MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [id, wake] : subscribers_) wake(true);
    subscribers_.clear();
  }

 private:
  // Held while wake functions run.
  mutable Mutex mu_;
  std::map<uint64_t, WakeFn> subscribers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace token_authority::server

#endif  // SERVER_WAKE_LIST_H_

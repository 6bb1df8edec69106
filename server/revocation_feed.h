// The revocation broadcaster behind WatchRevocations and the in-memory
// revocation set of VerifyToken.
//
// The store assigns revocation sequences in commit order (one writer), so the
// events visible in the store are always a gap-free prefix. The feed copies
// that prefix into memory: CatchUp() reads every event after the last one it
// has, hands the batch to the listener (the revoked-id set), appends it to a
// bounded buffer and wakes the subscribed watchers. Revokers call CatchUp()
// right after their commit, and a background thread calls it every
// `poll_interval` as a safety net. A watcher reads with Read(after, limit):
// from the buffer when it reaches back to `after`, otherwise from the store
// (replay), so a watcher that reconnects with its last sequence gets every
// later event exactly once, in order.
#ifndef SERVER_REVOCATION_FEED_H_
#define SERVER_REVOCATION_FEED_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/mutex.h"
#include "server/wake_list.h"
#include "storage/token_store.h"

namespace token_authority::server {

struct RevocationFeedOptions {
  // Events kept in memory (older ones are re-read from the store).
  size_t buffer_capacity = 65536;
  // How often the background thread ("ta-revoke-feed") looks for events
  // nobody announced; absl::ZeroDuration() disables the thread.
  absl::Duration poll_interval = absl::Seconds(1);
  // Events read from the store per query.
  int batch_size = 1000;
};

class RevocationFeed {
 public:
  // Receives every new event exactly once, in sequence order, before any
  // watcher sees it. Called with the feed's catch-up lock held: must not
  // call back into the feed.
  using Listener =
      std::function<void(const std::vector<storage::RevocationEvent>&)>;
  // Called when events after the subscriber's last read may be available
  // (`closing` false) or when the feed closes (`closing` true, the last
  // call). Must not block for long; may call Read().
  using WakeFn = WakeList::WakeFn;

  // A feed that starts after `start_sequence` (events up to it are only
  // read from the store). `store` is not owned and must outlive the feed.
  static absl::StatusOr<std::unique_ptr<RevocationFeed>> Create(
      storage::TokenStore* store, int64_t start_sequence,
      RevocationFeedOptions options, Listener listener);
  // Calls Close().
  ~RevocationFeed();

  // Reads and publishes every event committed after the last one the feed
  // has. Thread-safe (callers are serialised). Errors are the store's.
  absl::Status CatchUp();

  // Events with sequence > `after`, ascending, at most `limit` (1..10000),
  // possibly fewer than available. Thread-safe.
  absl::StatusOr<std::vector<storage::RevocationEvent>> Read(int64_t after,
                                                             int limit);

  // The highest sequence published so far.
  int64_t last_sequence() const;

  // How many subscribers are registered (the open watch streams).
  size_t subscriber_count() const { return subscribers_.size(); }

  // Registers `wake`; returns an id for Unsubscribe. After Close() the
  // function is called once with closing = true before this returns.
  uint64_t Subscribe(WakeFn wake);
  // After this returns, the function registered under `id` is not running
  // and will not be called again. Unknown ids are ignored.
  void Unsubscribe(uint64_t id);

  // Stops the background thread and tells every subscriber the feed is
  // closing. Idempotent.
  void Close();

 private:
  RevocationFeed(storage::TokenStore* store, int64_t start_sequence,
                 RevocationFeedOptions options, Listener listener);
  void WakeAll();

  storage::TokenStore* const store_;
  const RevocationFeedOptions options_;
  const Listener listener_;

  // Serialises CatchUp; held while the listener runs. Taken before
  // buffer_mu_.
  Mutex catch_up_mu_;

  mutable Mutex buffer_mu_ ABSL_ACQUIRED_AFTER(catch_up_mu_);
  // Events with sequence in (floor_, tail_], ascending.
  std::deque<storage::RevocationEvent> buffer_ ABSL_GUARDED_BY(buffer_mu_);
  int64_t floor_ ABSL_GUARDED_BY(buffer_mu_);
  int64_t tail_ ABSL_GUARDED_BY(buffer_mu_);

  WakeList subscribers_;

  // CatchUp every poll_interval (when positive).
  BackgroundLoop poll_;
};

}  // namespace token_authority::server

#endif  // SERVER_REVOCATION_FEED_H_

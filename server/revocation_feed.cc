#include "server/revocation_feed.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"

namespace token_authority::server {

absl::StatusOr<std::unique_ptr<RevocationFeed>> RevocationFeed::Create(
    storage::TokenStore* store, int64_t start_sequence,
    RevocationFeedOptions options, Listener listener) {
  if (store == nullptr) return absl::InvalidArgumentError("store: required");
  if (start_sequence < 0) {
    return absl::InvalidArgumentError("start_sequence: must not be negative");
  }
  if (options.batch_size < 1 || options.batch_size > 10000) {
    return absl::InvalidArgumentError("batch_size: must be 1..10000");
  }
  if (options.buffer_capacity < 1) {
    return absl::InvalidArgumentError("buffer_capacity: must be positive");
  }
  return std::unique_ptr<RevocationFeed>(
      new RevocationFeed(store, start_sequence, options, std::move(listener)));
}

RevocationFeed::RevocationFeed(storage::TokenStore* store,
                               int64_t start_sequence,
                               RevocationFeedOptions options, Listener listener)
    : store_(store),
      options_(options),
      listener_(std::move(listener)),
      floor_(start_sequence),
      tail_(start_sequence) {
  if (options_.poll_interval > absl::ZeroDuration()) {
    poll_.Start("ta-revoke-feed", options_.poll_interval, [this] {
      // A failure here (store busy or closed) is retried at the next tick.
      (void)CatchUp();
    });
  }
}

RevocationFeed::~RevocationFeed() { Close(); }

absl::Status RevocationFeed::CatchUp() {
  bool published = false;
  {
    MutexLock catch_up(&catch_up_mu_);
    for (;;) {
      int64_t after;
      {
        MutexLock lock(&buffer_mu_);
        after = tail_;
      }
      TA_ASSIGN_OR_RETURN(
          std::vector<storage::RevocationEvent> events,
          store_->ListRevocationsSince(after, options_.batch_size));
      if (events.empty()) break;
      if (listener_) listener_(events);
      {
        MutexLock lock(&buffer_mu_);
        for (storage::RevocationEvent& e : events) {
          if (e.sequence <= tail_) continue;  // defensive: never go back
          tail_ = e.sequence;
          buffer_.push_back(std::move(e));
        }
        while (buffer_.size() > options_.buffer_capacity) {
          floor_ = buffer_.front().sequence;
          buffer_.pop_front();
        }
      }
      published = true;
      if (static_cast<int>(events.size()) < options_.batch_size) break;
    }
  }
  if (published) WakeAll();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<storage::RevocationEvent>> RevocationFeed::Read(
    int64_t after, int limit) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError("limit: must be 1..10000");
  }
  {
    MutexLock lock(&buffer_mu_);
    if (after >= floor_) {
      std::vector<storage::RevocationEvent> out;
      // The buffer is ascending by sequence: find the first event > after.
      auto it =
          std::upper_bound(buffer_.begin(), buffer_.end(), after,
                           [](int64_t seq, const storage::RevocationEvent& e) {
                             return seq < e.sequence;
                           });
      for (; it != buffer_.end() && static_cast<int>(out.size()) < limit;
           ++it) {
        out.push_back(*it);
      }
      return out;
    }
  }
  // Older than the buffer: replay from the store. Whatever it returns is a
  // committed, gap-free run starting right after `after`.
  return store_->ListRevocationsSince(after, limit);
}

int64_t RevocationFeed::last_sequence() const {
  MutexLock lock(&buffer_mu_);
  return tail_;
}

uint64_t RevocationFeed::Subscribe(WakeFn wake) {
  return subscribers_.Subscribe(std::move(wake));
}

void RevocationFeed::Unsubscribe(uint64_t id) { subscribers_.Unsubscribe(id); }

void RevocationFeed::WakeAll() { subscribers_.WakeAll(); }

void RevocationFeed::Close() {
  poll_.Stop();
  subscribers_.Close();
}

}  // namespace token_authority::server

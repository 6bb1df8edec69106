#include "server/watch_reactors.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "base/status_macros.h"
#include "server/proto_conversion.h"

namespace token_authority::server {
namespace {

constexpr int kWatchBatch = 512;

// The machinery shared by the watch streams: subscribes to a feed that wakes
// its subscribers, keeps one write in flight, ends on cancellation, broken
// streams, the revocation of its API key and server shutdown (once caught
// up), and logs one line at the end. A subclass says what to send next in
// NextLocked(). All state under mu_ because wakes come from the feed's
// (publishing) thread; lock order: the feed's subscriber lock (held while
// wake functions run) before mu_, mu_ before the feed's own locks (read by
// NextLocked).
template <typename Event, typename Feed>
class FeedWatchReactor : public grpc::ServerWriteReactor<Event> {
 public:
  // Must be called once, right after construction (not from the
  // constructor: a wake may arrive before Subscribe returns).
  void Start() {
    const uint64_t key_id = deps_.authority->api_key_revocations().Subscribe(
        [this](bool closing) { OnApiKeyRevoked(closing); });
    const uint64_t id =
        feed_->Subscribe([this](bool closing) { OnWake(closing); });
    MutexLock lock(&mu_);
    key_subscription_ = key_id;
    subscription_ = id;
    // A revocation between authentication and the subscription above.
    if (!deps_.authority->IsApiKeyActive(api_key_id_)) key_revoked_ = true;
    Pump();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(absl::CancelledError("the stream broke"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    MutexLock lock(&mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(absl::CancelledError("the call was cancelled"));
  }

  void OnDone() override {
    uint64_t id, key_id;
    absl::StatusCode code;
    {
      MutexLock lock(&mu_);
      id = subscription_;
      key_id = key_subscription_;
      code = final_code_;
    }
    if (id != 0) feed_->Unsubscribe(id);
    if (key_id != 0) deps_.authority->api_key_revocations().Unsubscribe(key_id);
    LogCall(deps_, method_, info_, code, start_);
    delete this;
  }

 protected:
  FeedWatchReactor(const ServiceDeps& deps, Feed* feed,
                   absl::string_view method, const Caller& caller,
                   CallInfo info, std::chrono::steady_clock::time_point start)
      : deps_(deps),
        feed_(feed),
        method_(method),
        api_key_id_(caller.api_key_id),
        info_(std::move(info)),
        start_(start) {}

  // Fills `message` (cleared) with the next event and returns true, returns
  // false when caught up, or an error that ends the stream.
  virtual absl::StatusOr<bool> NextLocked(Event* message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  Feed* feed() const { return feed_; }

  // Guards the stream's state, the subclass's included.
  Mutex mu_;

 private:
  void OnWake(bool closing) {
    MutexLock lock(&mu_);
    if (closing) closing_ = true;
    Pump();
  }

  // Some API key was revoked: end the stream if it was this one's (after the
  // write in flight, if any; nothing more is sent).
  void OnApiKeyRevoked(bool closing) {
    if (closing) return;  // the server is stopping: the feed says so
    if (deps_.authority->IsApiKeyActive(api_key_id_)) return;
    MutexLock lock(&mu_);
    key_revoked_ = true;
    Pump();
  }

  // Ends the stream if it should end, else starts the next write if there is
  // something to send and no write in flight.
  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_) return;
    if (cancelled_) {
      FinishLocked(absl::CancelledError("the call was cancelled"));
      return;
    }
    if (key_revoked_) {
      FinishLocked(
          absl::UnauthenticatedError("the API key of this stream was revoked"));
      return;
    }
    message_.Clear();
    absl::StatusOr<bool> more = NextLocked(&message_);
    if (!more.ok()) {
      FinishLocked(more.status());
      return;
    }
    if (!*more) {
      // Caught up: wait for the next wake, unless the server is going away.
      if (closing_) {
        FinishLocked(absl::UnavailableError("the server is shutting down"));
      }
      return;
    }
    writing_ = true;
    this->StartWrite(&message_);
  }

  void FinishLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    final_code_ = status.code();
    this->Finish(convert::ToGrpcStatus(status));
  }

  const ServiceDeps deps_;
  Feed* const feed_;
  const absl::string_view method_;  // a string literal
  const std::string api_key_id_;    // the caller's
  const CallInfo info_;
  const std::chrono::steady_clock::time_point start_;

  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t key_subscription_ ABSL_GUARDED_BY(mu_) = 0;
  bool key_revoked_ ABSL_GUARDED_BY(mu_) = false;
  Event message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusCode final_code_ ABSL_GUARDED_BY(mu_) = absl::StatusCode::kOk;
};

// Streams revocations: replay from the feed (memory, or the store for old
// cursors), then live events as the feed announces them.
class RevocationWatchReactor
    : public FeedWatchReactor<v1::RevocationEvent, RevocationFeed> {
 public:
  RevocationWatchReactor(const ServiceDeps& deps, const Caller& caller,
                         CallInfo info, int64_t since,
                         std::chrono::steady_clock::time_point start)
      : FeedWatchReactor(deps, &deps.authority->revocation_feed(),
                         "TokenService/WatchRevocations", caller,
                         std::move(info), start),
        cursor_(since) {}

 private:
  absl::StatusOr<bool> NextLocked(v1::RevocationEvent* message) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (next_ >= pending_.size()) {
      pending_.clear();
      next_ = 0;
      TA_ASSIGN_OR_RETURN(pending_, feed()->Read(cursor_, kWatchBatch));
    }
    if (pending_.empty()) return false;
    ToProto(pending_[next_++], message);
    cursor_ = message->sequence();
    return true;
  }

  int64_t cursor_ ABSL_GUARDED_BY(mu_);
  std::vector<storage::RevocationEvent> pending_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

// Streams organisation states: on each wake (and at the start) the states of
// the watched organisations that are newer than what was sent, so the first
// round is the snapshot and later rounds are changes. Level-triggered: a
// wake while a write is in flight is picked up by the Pump after it.
class OrganizationStateWatchReactor
    : public FeedWatchReactor<v1::OrganizationStateEvent,
                              OrganizationStateFeed> {
 public:
  OrganizationStateWatchReactor(const ServiceDeps& deps, const Caller& caller,
                                CallInfo info,
                                std::vector<std::string> organization_ids,
                                std::chrono::steady_clock::time_point start)
      : FeedWatchReactor(deps, &deps.authority->organization_state_feed(),
                         "TokenService/WatchOrganizationStates", caller,
                         std::move(info), start),
        organization_ids_(std::move(organization_ids)) {}

 private:
  absl::StatusOr<bool> NextLocked(v1::OrganizationStateEvent* message) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (next_ >= pending_.size()) {
      pending_ = feed()->ReadChanged(organization_ids_, &sent_versions_);
      next_ = 0;
    }
    if (pending_.empty()) {
      snapshot_sent_ = true;
      return false;
    }
    ToProto(pending_[next_++], message);
    message->set_snapshot(!snapshot_sent_);
    if (next_ >= pending_.size()) snapshot_sent_ = true;
    return true;
  }

  const std::vector<std::string> organization_ids_;
  absl::flat_hash_map<std::string, uint64_t> sent_versions_
      ABSL_GUARDED_BY(mu_);
  std::vector<OrganizationState> pending_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool snapshot_sent_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::RevocationEvent>* StartRevocationWatch(
    const ServiceDeps& deps, const Caller& caller, CallInfo info, int64_t since,
    std::chrono::steady_clock::time_point start) {
  auto* reactor =
      new RevocationWatchReactor(deps, caller, std::move(info), since, start);
  reactor->Start();
  return reactor;
}

grpc::ServerWriteReactor<v1::OrganizationStateEvent>*
StartOrganizationStateWatch(const ServiceDeps& deps, const Caller& caller,
                            CallInfo info,
                            std::vector<std::string> organization_ids,
                            std::chrono::steady_clock::time_point start) {
  auto* reactor = new OrganizationStateWatchReactor(
      deps, caller, std::move(info), std::move(organization_ids), start);
  reactor->Start();
  return reactor;
}

}  // namespace token_authority::server

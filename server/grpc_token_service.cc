// TokenService adapter.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/grpc_services.h"
#include "server/proto_conversion.h"
#include "server/status_conversion.h"
#include "base/status_macros.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::server {
namespace {

constexpr int kWatchBatch = 512;

// The machinery shared by the watch streams: subscribes to a feed that wakes
// its subscribers, keeps one write in flight, ends on cancellation, broken
// streams and server shutdown (once caught up), and logs one line at the end.
// A subclass says what to send next in NextLocked(). All state under mu_
// because wakes come from the feed's (publishing) thread.
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
    std::lock_guard<std::mutex> lock(mu_);
    key_subscription_ = key_id;
    subscription_ = id;
    // A revocation between authentication and the subscription above.
    if (!deps_.authority->IsApiKeyActive(api_key_id_)) key_revoked_ = true;
    Pump();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(absl::CancelledError("the stream broke"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (!writing_) FinishLocked(absl::CancelledError("the call was cancelled"));
  }

  void OnDone() override {
    uint64_t id, key_id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = subscription_;
      key_id = key_subscription_;
    }
    if (id != 0) feed_->Unsubscribe(id);
    if (key_id != 0) deps_.authority->api_key_revocations().Unsubscribe(key_id);
    LogCall(deps_, method_, info_, final_code_, start_);
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

  // Requires mu_. Fills `message` (cleared) with the next event and returns
  // true, returns false when caught up, or an error that ends the stream.
  virtual absl::StatusOr<bool> NextLocked(Event* message) = 0;

  Feed* feed() const { return feed_; }

 private:
  void OnWake(bool closing) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing) closing_ = true;
    Pump();
  }

  // Some API key was revoked: end the stream if it was this one's (after the
  // write in flight, if any; nothing more is sent).
  void OnApiKeyRevoked(bool closing) {
    if (closing) return;  // the server is stopping: the feed says so
    if (deps_.authority->IsApiKeyActive(api_key_id_)) return;
    std::lock_guard<std::mutex> lock(mu_);
    key_revoked_ = true;
    Pump();
  }

  // Requires mu_.
  void Pump() {
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

  // Requires mu_.
  void FinishLocked(const absl::Status& status) {
    if (finished_) return;
    finished_ = true;
    final_code_ = status.code();
    this->Finish(ToGrpcStatus(status));
  }

  const ServiceDeps deps_;
  Feed* const feed_;
  const absl::string_view method_;  // a string literal
  const std::string api_key_id_;    // the caller's
  const CallInfo info_;
  const std::chrono::steady_clock::time_point start_;

  std::mutex mu_;  // NextLocked runs under it
  uint64_t subscription_ = 0;
  uint64_t key_subscription_ = 0;
  bool key_revoked_ = false;
  Event message_;
  bool writing_ = false;
  bool finished_ = false;
  bool cancelled_ = false;
  bool closing_ = false;
  absl::StatusCode final_code_ = absl::StatusCode::kOk;
};

// Streams revocations: replay from the feed (memory, or the store for old
// cursors), then live events as the feed announces them.
class WatchReactor
    : public FeedWatchReactor<v1::RevocationEvent, RevocationFeed> {
 public:
  WatchReactor(const ServiceDeps& deps, const Caller& caller, CallInfo info,
               int64_t since, std::chrono::steady_clock::time_point start)
      : FeedWatchReactor(deps, &deps.authority->revocation_feed(),
                         "TokenService/WatchRevocations", caller,
                         std::move(info), start),
        cursor_(since) {}

 private:
  absl::StatusOr<bool> NextLocked(v1::RevocationEvent* message) override {
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

  // Touched only in NextLocked, under mu_.
  int64_t cursor_;
  std::vector<storage::RevocationEvent> pending_;
  size_t next_ = 0;
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
  absl::StatusOr<bool> NextLocked(
      v1::OrganizationStateEvent* message) override {
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
  // Touched only in NextLocked, under mu_.
  absl::flat_hash_map<std::string, uint64_t> sent_versions_;
  std::vector<OrganizationState> pending_;
  size_t next_ = 0;
  bool snapshot_sent_ = false;
};

// A stream that ends at once with `status` (authentication and argument
// failures).
template <typename Event>
class FailedWatch : public grpc::ServerWriteReactor<Event> {
 public:
  FailedWatch(const ServiceDeps& deps, absl::string_view method, CallInfo info,
              const absl::Status& status,
              std::chrono::steady_clock::time_point start) {
    LogCall(deps, method, info, status.code(), start);
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

class TokenServiceImpl final : public v1::TokenService::CallbackService {
 public:
  explicit TokenServiceImpl(const ServiceDeps& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* IssueToken(
      grpc::CallbackServerContext* context,
      const v1::IssueTokenRequest* request,
      v1::IssueTokenResponse* response) override {
    // Checked and signed on gRPC's thread; answered from the store's
    // completion thread once the row is durable (no thread waits for the
    // commit).
    return RunUnaryAsync(
        deps_, context, "TokenService/IssueToken",
        [this, request, response](const Caller& caller, CallInfo& info,
                                  Respond respond) {
          if (!request->request_id().empty()) {
            info.request_id = request->request_id();
          }
          std::vector<token::FieldViolation> violations;
          token::TokenSpec spec = FromProto(request->spec(), &violations);
          deps_.authority->IssueTokenAsync(
              caller, spec, request->request_id(), std::move(violations),
              [response, respond = std::move(respond)](
                  absl::StatusOr<IssuedToken> issued) {
                if (issued.ok()) ToProto(*issued, response);
                respond(issued.status());
              });
        });
  }

  grpc::ServerUnaryReactor* GetToken(grpc::CallbackServerContext* context,
                                     const v1::GetTokenRequest* request,
                                     v1::Token* response) override {
    return RunUnary(
        deps_, context, "TokenService/GetToken", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(TokenRecord r, deps_.authority->GetToken(
                                                 caller, request->token_id()));
          ToProto(r, response);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const v1::ListTokensRequest* request,
      v1::ListTokensResponse* response) override {
    return RunUnary(
        deps_, context, "TokenService/ListTokens", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(storage::TokenFilter filter, FromProto(*request));
          TA_ASSIGN_OR_RETURN(
              storage::Page<TokenRecord> page,
              deps_.authority->ListTokens(
                  caller, std::move(filter),
                  PageFromProto(request->page_size(), request->page_token())));
          for (const TokenRecord& r : page.items) {
            ToProto(r, response->add_tokens());
          }
          response->set_next_page_token(page.next_page_token);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* DecodeToken(
      grpc::CallbackServerContext* context,
      const v1::DecodeTokenRequest* request,
      v1::DecodeTokenResponse* response) override {
    return RunUnary(
        deps_, context, "TokenService/DecodeToken", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(DecodeResult r, deps_.authority->DecodeToken(
                                                  caller, request->jwt()));
          ToProto(r, response);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* VerifyToken(
      grpc::CallbackServerContext* context,
      const v1::VerifyTokenRequest* request,
      v1::VerifyTokenResponse* response) override {
    // The hot path: memory only, on gRPC's thread.
    return RunUnary(
        deps_, context, "TokenService/VerifyToken", Execution::kInline,
        [this, request, response](const Caller& caller,
                                  CallInfo& info) -> absl::Status {
          info.organization_id = request->organization_id();
          TA_ASSIGN_OR_RETURN(
              token::VerifyResult r,
              deps_.authority->VerifyToken(caller, FromProto(*request)));
          ToProto(r, response);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const v1::RevokeTokenRequest* request,
                                        v1::Token* response) override {
    return RunUnary(
        deps_, context, "TokenService/RevokeToken", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(TokenRecord r, deps_.authority->RevokeToken(
                                                 caller, request->token_id(),
                                                 request->reason()));
          ToProto(r, response);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* RevokeTokens(
      grpc::CallbackServerContext* context,
      const v1::RevokeTokensRequest* request,
      v1::RevokeTokensResponse* response) override {
    return RunUnary(
        deps_, context, "TokenService/RevokeTokens", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(storage::RevokeFilter filter,
                              FromProto(*request));
          TA_ASSIGN_OR_RETURN(
              int64_t count,
              deps_.authority->RevokeTokens(caller, filter, request->reason(),
                                            request->dry_run()));
          response->set_revoked_count(count);
          return absl::OkStatus();
        });
  }

  grpc::ServerWriteReactor<v1::RevocationEvent>* WatchRevocations(
      grpc::CallbackServerContext* context,
      const v1::WatchRevocationsRequest* request) override {
    const auto start = std::chrono::steady_clock::now();
    CallInfo info;
    absl::StatusOr<Caller> caller = AuthenticateCall(deps_, *context, &info);
    absl::Status status = caller.status();
    if (status.ok())
      status = deps_.authority->AuthorizeWatchRevocations(*caller);
    if (status.ok() && request->since_sequence() < 0) {
      status =
          absl::InvalidArgumentError("since_sequence: must not be negative");
    }
    if (!status.ok()) {
      return new FailedWatch<v1::RevocationEvent>(
          deps_, "TokenService/WatchRevocations", info, status, start);
    }
    auto* reactor = new WatchReactor(deps_, *caller, std::move(info),
                                     request->since_sequence(), start);
    reactor->Start();
    return reactor;
  }

  grpc::ServerWriteReactor<v1::OrganizationStateEvent>* WatchOrganizationStates(
      grpc::CallbackServerContext* context,
      const v1::WatchOrganizationStatesRequest* request) override {
    constexpr absl::string_view kMethod =
        "TokenService/WatchOrganizationStates";
    const auto start = std::chrono::steady_clock::now();
    CallInfo info;
    absl::StatusOr<Caller> caller = AuthenticateCall(deps_, *context, &info);
    absl::StatusOr<std::vector<std::string>> ids =
        caller.ok() ? deps_.authority->AuthorizeWatchOrganizationStates(
                          *caller, {request->organization_ids().begin(),
                                    request->organization_ids().end()})
                    : caller.status();
    if (!ids.ok()) {
      return new FailedWatch<v1::OrganizationStateEvent>(deps_, kMethod, info,
                                                         ids.status(), start);
    }
    auto* reactor = new OrganizationStateWatchReactor(
        deps_, *caller, std::move(info), *std::move(ids), start);
    reactor->Start();
    return reactor;
  }

 private:
  const ServiceDeps deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewTokenService(const ServiceDeps& deps) {
  return std::make_unique<TokenServiceImpl>(deps);
}

}  // namespace token_authority::server

#include "server/grpc_call.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "convert/status.h"
#include "server/early_release_allocator.h"

namespace token_authority::server {
namespace {

absl::string_view View(const grpc::string_ref& s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

absl::Status ReadMetadata(const grpc::CallbackServerContext& context,
                          CallMetadata* out) {
  const auto& md = context.client_metadata();
  auto rid = md.find("x-request-id");
  if (rid != md.end()) out->request_id = std::string(View(rid->second));
  for (absl::string_view name : {"authorization", "x-organization-id"}) {
    if (const size_t n = md.count(grpc::string_ref(name.data(), name.size()));
        n > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": sent ", n, " times; send it once"));
    }
  }
  auto auth = md.find("authorization");
  if (auth != md.end()) {
    absl::string_view value = absl::StripAsciiWhitespace(View(auth->second));
    constexpr absl::string_view kScheme = "bearer ";
    if (value.size() > kScheme.size() &&
        absl::StartsWithIgnoreCase(value, kScheme)) {
      out->api_key =
          std::string(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
    }
  }
  auto org = md.find("x-organization-id");
  if (org != md.end()) out->organization_id = std::string(View(org->second));
  return absl::OkStatus();
}

absl::Status CheckCallAlive(const grpc::CallbackServerContext& context) {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline exceeded before the call ran");
  }
  if (const_cast<grpc::CallbackServerContext&>(context).IsCancelled()) {
    return absl::CancelledError("the call was cancelled");
  }
  return absl::OkStatus();
}

void LogCall(const ServiceDeps& deps, absl::string_view method,
             const CallInfo& info, absl::StatusCode code,
             std::chrono::steady_clock::time_point start) {
  if (deps.log == nullptr) return;
  CallRecord record;
  record.time = absl::Now();
  record.method = method;
  record.organization_id = info.organization_id;
  record.code = code;
  record.latency = absl::FromChrono(std::chrono::steady_clock::now() - start);
  record.request_id = info.request_id;
  record.peer = info.peer;
  deps.log->Record(record);
}

absl::StatusOr<Caller> AuthenticateCall(
    const ServiceDeps& deps, const grpc::CallbackServerContext& context,
    CallInfo* info) {
  if (info->peer.empty()) info->peer = context.peer();
  CallMetadata md;
  const absl::Status read = ReadMetadata(context, &md);
  info->request_id = md.request_id;
  if (!read.ok()) return read;
  absl::StatusOr<Caller> caller =
      deps.authority->Authenticate(md.api_key, md.organization_id);
  if (caller.ok()) info->organization_id = caller->organization_id;
  return caller;
}

namespace {

// A unary call's reactor: holds the reply's backlog reservation until gRPC
// is done with the call (the reply taken by the client or the call ended).
class UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  void OnDone() override { delete this; }
  void OnCancel() override {}

  // Runs `start` once gRPC has bound this reactor to its call: sends the
  // initial metadata, whose completion gRPC reports only after binding (a
  // reactor returned by the method handler is bound after the handler
  // returns; a Finish before that is deferred to the binding, and with it
  // the reply's serialization, so the messages could not be released when
  // Finish returns). `start` runs whether or not the metadata went out (a
  // cancelled call must still be finished).
  void StartAfterBinding(std::function<void()> start) {
    after_binding_ = std::move(start);
    StartSendInitialMetadata();
  }
  void OnSendInitialMetadataDone(bool /*ok*/) override {
    std::function<void()> start = std::move(after_binding_);
    start();
  }

  // Reserves the reply's bytes, or replaces an OK `status` by the backlog's
  // refusal (and drops the reply).
  void ReserveReply(const ServiceDeps& deps, const CallInfo& info,
                    google::protobuf::MessageLite* response,
                    absl::Status& status) {
    if (!status.ok() || deps.backlog == nullptr) return;
    absl::StatusOr<ReplyBacklog::Reservation> r = deps.backlog->Reserve(
        info.peer, static_cast<int64_t>(response->ByteSizeLong()));
    if (r.ok()) {
      reservation_ = std::move(*r);
    } else {
      status = r.status();
      response->Clear();
    }
  }

 private:
  ReplyBacklog::Reservation reservation_;
  std::function<void()> after_binding_;
};

// A unary call's reactor, reply and messages.
struct UnaryCall {
  UnaryReactor* reactor;
  google::protobuf::MessageLite* response;
  // The call's messages if their method has an EarlyReleaseAllocator (found
  // at the start: the context and gRPC's own holder are gone once the call is
  // done, which can be before Finish returns).
  EarlyReleasable* messages;
};

// Ends a unary call: the reply's reservation, its log line, then Finish;
// then frees the messages of a method with an EarlyReleaseAllocator (only
// listing calls have one, and they Finish after binding). Neither the reactor
// nor the response may be touched after Finish (the call can be done and
// deleted by then).
void Answer(const ServiceDeps& deps, const UnaryCall& call,
            absl::string_view method, const CallInfo& info,
            std::chrono::steady_clock::time_point start, absl::Status status) {
  call.reactor->ReserveReply(deps, info, call.response, status);
  LogCall(deps, method, info, status.code(), start);
  call.reactor->Finish(convert::ToGrpcStatus(status));
  ReleaseMessagesEarly(call.messages);
}

UnaryCall StartUnaryCall(grpc::CallbackServerContext* context,
                         google::protobuf::MessageLite* response) {
  return UnaryCall{new UnaryReactor(), response,
                   EarlyReleasableMessages(context->GetRpcAllocatorState())};
}

// The Respond of a call answered later.
Respond MakeRespond(const ServiceDeps& deps, const UnaryCall& call,
                    absl::string_view method,
                    std::shared_ptr<const CallInfo> info,
                    std::chrono::steady_clock::time_point start) {
  return [deps, call, method, info = std::move(info),
          start](const absl::Status& status) {
    Answer(deps, call, method, *info, start, status);
  };
}

// Checks the deadline (and, when asked, the connection's reply backlog) and
// authenticates; the caller or the status to answer.
absl::StatusOr<Caller> AdmitCall(const ServiceDeps& deps,
                                 const grpc::CallbackServerContext& context,
                                 bool check_backlog, CallInfo* info) {
  if (absl::Status alive = CheckCallAlive(context); !alive.ok()) return alive;
  if (check_backlog && deps.backlog != nullptr) {
    TA_RETURN_IF_ERROR(deps.backlog->CheckRoom(info->peer));
  }
  return AuthenticateCall(deps, context, info);
}

}  // namespace

grpc::ServerUnaryReactor* RunUnary(
    const ServiceDeps& deps, grpc::CallbackServerContext* context,
    google::protobuf::MessageLite* response, absl::string_view method,
    Execution execution,
    std::function<absl::Status(const Caller&, CallInfo&)> handler) {
  const UnaryCall call = StartUnaryCall(context, response);
  const auto start = std::chrono::steady_clock::now();
  auto run = [deps, context, call, method, start, execution,
              handler = std::move(handler)]() {
    CallInfo info;
    info.peer = context->peer();
    absl::StatusOr<Caller> caller =
        AdmitCall(deps, *context, execution != Execution::kInline, &info);
    Answer(deps, call, method, info, start,
           caller.ok() ? handler(*caller, info) : caller.status());
  };
  BlockingExecutor* executor =
      execution == Execution::kListing && deps.list_executor != nullptr
          ? deps.list_executor
          : deps.executor;
  if (execution == Execution::kInline) {
    run();
    return call.reactor;
  }
  auto schedule = [deps, context, call, method, start, executor,
                   run = std::move(run)]() {
    if (!executor->Schedule(run)) {
      CallInfo info;
      info.peer = context->peer();
      Answer(deps, call, method, info, start,
             absl::UnavailableError("the server is shutting down"));
    }
  };
  if (execution == Execution::kListing) {
    call.reactor->StartAfterBinding(std::move(schedule));
  } else {
    schedule();
  }
  return call.reactor;
}

grpc::ServerUnaryReactor* RunUnaryAsync(
    const ServiceDeps& deps, grpc::CallbackServerContext* context,
    google::protobuf::MessageLite* response, absl::string_view method,
    const std::function<void(const Caller&, CallInfo&, Respond)>& handler) {
  const UnaryCall call = StartUnaryCall(context, response);
  const auto start = std::chrono::steady_clock::now();
  auto info = std::make_shared<CallInfo>();
  info->peer = context->peer();
  absl::StatusOr<Caller> caller =
      AdmitCall(deps, *context, /*check_backlog=*/false, info.get());
  Respond respond = MakeRespond(deps, call, method, info, start);
  if (caller.ok()) {
    handler(*caller, *info, std::move(respond));
  } else {
    respond(caller.status());
  }
  return call.reactor;
}

}  // namespace token_authority::server

#include "server/call_log_interceptor.h"

#include <chrono>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace token_authority::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr absl::string_view kOwnPackage = "tokenauthority.v1.";

// Lives as long as the call; writes the line when gRPC destroys it, after
// the status went out (or the call was cancelled), unless a handler of ours
// received the request and so wrote the line itself.
class CallLogInterceptor : public grpc::experimental::Interceptor {
 public:
  CallLogInterceptor(CallLog* log, grpc::experimental::ServerRpcInfo* info,
                     absl::string_view method, bool logged_by_handler)
      : log_(log),
        info_(info),
        method_(method),
        logged_by_handler_(logged_by_handler),
        start_(std::chrono::steady_clock::now()) {}

  ~CallLogInterceptor() override {
    if (!WillLog()) return;
    CallRecord record;
    record.time = absl::Now();
    record.method = method_;
    record.code = code_;
    record.latency =
        absl::FromChrono(std::chrono::steady_clock::now() - start_);
    record.request_id = request_id_;
    record.peer = peer_;
    log_->Record(record);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      ReadInitialMetadata(methods);
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // nullptr: the request could not be parsed (the handler never runs).
      request_received_ = methods->GetRecvMessage() != nullptr;
      unparsable_ = !request_received_;
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // A stream reset before its request arrived has no request either:
      // the client went away, it sent nothing malformed.
      grpc::ServerContextBase* context = info_->server_context();
      if (unparsable_ && context != nullptr && context->IsCancelled()) {
        unparsable_ = false;
        status = grpc::Status::CANCELLED;
      }
      if (unparsable_ &&
          status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
          status.error_message().empty()) {
        status = grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("request: could not be parsed as the request of ",
                         method_,
                         " (malformed protobuf, or a string field that is "
                         "not valid UTF-8)"));
        methods->ModifySendStatus(status);
      }
      code_ = static_cast<absl::StatusCode>(status.error_code());
      if (WillLog()) ReadPeer();
    }
    methods->Proceed();
  }

 private:
  // Whether this interceptor writes the line (no handler of ours did).
  bool WillLog() const { return !(logged_by_handler_ && request_received_); }

  // gRPC's peer string; read only for calls this interceptor logs, while
  // the call's context exists.
  void ReadPeer() {
    if (!peer_.empty()) return;
    if (grpc::ServerContextBase* context = info_->server_context()) {
      peer_ = context->peer();
    }
  }

  void ReadInitialMetadata(
      grpc::experimental::InterceptorBatchMethods* methods) {
    if (!logged_by_handler_) ReadPeer();
    const auto* md = methods->GetRecvInitialMetadata();
    if (md == nullptr) return;
    auto it = md->find("x-request-id");
    if (it != md->end()) {
      request_id_.assign(it->second.data(), it->second.size());
    }
  }

  CallLog* const log_;
  grpc::experimental::ServerRpcInfo* const info_;
  // A copy: for a method no service registered, gRPC's name lives in the
  // call's context, which is destroyed before this interceptor.
  const std::string method_;
  const bool logged_by_handler_;
  const std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  std::string peer_;
  bool request_received_ = false;
  bool unparsable_ = false;
  // No status sent (the client went away first): CANCELLED.
  absl::StatusCode code_ = absl::StatusCode::kCancelled;
};

class CallLogInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallLogInterceptorFactory(CallLog* log) : log_(log) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* name = info->method();
    absl::string_view method = name == nullptr ? "unknown" : name;
    if (absl::StartsWith(method, "/")) method.remove_prefix(1);
    // Our methods as their handlers name them ("TokenService/IssueToken").
    absl::ConsumePrefix(&method, kOwnPackage);
    return new CallLogInterceptor(log_, info, method, LoggedByHandler(name));
  }

 private:
  CallLog* const log_;
};

}  // namespace

bool LoggedByHandler(const char* method) {
  return method != nullptr && absl::StartsWith(method, "/tokenauthority.");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallLogInterceptorFactory(CallLog* log) {
  return std::make_unique<CallLogInterceptorFactory>(log);
}

}  // namespace token_authority::server

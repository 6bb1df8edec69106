#include "server/call_log_interceptor.h"

#include <chrono>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace token_authority::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Lives as long as the call; writes the line when gRPC destroys it, after
// the status went out (or the call was cancelled).
class CallLogInterceptor : public grpc::experimental::Interceptor {
 public:
  CallLogInterceptor(CallLog* log, absl::string_view method)
      : log_(log), method_(method), start_(std::chrono::steady_clock::now()) {}

  ~CallLogInterceptor() override {
    CallRecord record;
    record.method = method_;
    record.code = code_;
    record.latency =
        absl::FromChrono(std::chrono::steady_clock::now() - start_);
    record.request_id = request_id_;
    log_->Record(record);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const auto* md = methods->GetRecvInitialMetadata();
      if (md != nullptr) {
        auto it = md->find("x-request-id");
        if (it != md->end()) {
          request_id_.assign(it->second.data(), it->second.size());
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      code_ =
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  CallLog* const log_;
  // A copy: for a method no service registered, gRPC's name lives in the
  // call's context, which is destroyed before this interceptor.
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  // No status sent (the client went away first): CANCELLED.
  absl::StatusCode code_ = absl::StatusCode::kCancelled;
};

class CallLogInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallLogInterceptorFactory(CallLog* log) : log_(log) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (!LoggedByInterceptor(info->method())) return nullptr;
    absl::string_view method = info->method();
    if (absl::StartsWith(method, "/")) method.remove_prefix(1);
    return new CallLogInterceptor(log_, method);
  }

 private:
  CallLog* const log_;
};

}  // namespace

bool LoggedByInterceptor(const char* method) {
  return method != nullptr && !absl::StartsWith(method, "/tokenauthority.");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallLogInterceptorFactory(CallLog* log) {
  return std::make_unique<CallLogInterceptorFactory>(log);
}

}  // namespace token_authority::server

// Helpers shared by the end-to-end tests: calls with a deadline and an API
// key, returning absl::StatusOr so that the status matchers apply.
#ifndef TESTS_E2E_E2E_UTIL_H_
#define TESTS_E2E_E2E_UTIL_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "convert/status.h"
#include "grpcpp/client_context.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {

// Runs `method` of `stub` with a 30 s deadline and the given credentials.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                           const Request&,
                                                           Response*),
                              const Request& request,
                              const std::string& api_key,
                              const std::string& organization_id = "") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  if (!api_key.empty()) {
    TestServer::Authorize(&context, api_key, organization_id);
  }
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return convert::FromGrpcStatus(status);
  return response;
}

// A spec for the streams `names`.
inline v1::TokenSpec StreamsSpec(std::initializer_list<std::string> names) {
  v1::TokenSpec spec;
  for (const std::string& n : names) {
    spec.mutable_target()->mutable_stream_names()->add_names(n);
  }
  return spec;
}

}  // namespace token_authority::testing

#endif  // TESTS_E2E_E2E_UTIL_H_

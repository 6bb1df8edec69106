// The call-log interceptor on a bare gRPC server with gRPC's own health
// service: one line per call, with the request id, the peer and the status
// code; calls no handler received are logged too.
#include "server/call_log_interceptor.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;

class CallLogInterceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewCallLogInterceptorFactory(&log_));
    // Answers every other method with UNIMPLEMENTED (and gives the server
    // the callback service it needs to run).
    builder.RegisterCallbackGenericService(&generic_);
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = std::make_unique<grpc::GenericStub>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  // Health/Check for `service` ("" = the server); the status.
  grpc::Status Check(const std::string& service,
                     const std::string& request_id) {
    return Call("/grpc.health.v1.Health/Check", service, request_id);
  }

  // A unary call of `method` whose request is {1: `field1`} ("" = empty).
  grpc::Status Call(const std::string& method, const std::string& field1,
                    const std::string& request_id) {
    grpc::ClientContext context;
    if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
    // Field 1, length-delimited (HealthCheckRequest.service).
    std::string body;
    if (!field1.empty()) {
      body = std::string("\x0a", 1) + static_cast<char>(field1.size()) + field1;
    }
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::CompletionQueue cq;
    auto call = stub_->PrepareUnaryCall(&context, method, request, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return status;
  }

  // The log once it has `lines` lines (the line is written when gRPC
  // destroys the call, just after the client has its answer); at most 5 s.
  std::string LogWithLines(int lines) {
    std::string text;
    for (int i = 0; i < 500; ++i) {
      text = log_.Contents();
      if (std::count(text.begin(), text.end(), '\n') >= lines) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return text;
  }

  MemoryCallLog log_;
  grpc::CallbackGenericService generic_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(CallLogInterceptorTest, OneLinePerHealthCall) {
  EXPECT_TRUE(Check("", "probe-1").ok());
  EXPECT_EQ(Check("no.such.Service", "").error_code(),
            grpc::StatusCode::NOT_FOUND);
  const std::string text = LogWithLines(2);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_THAT(text, HasSubstr("rpc method=grpc.health.v1.Health/Check org=- "
                              "code=OK latency_us="));
  EXPECT_THAT(text, HasSubstr("request_id=probe-1 peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(text, HasSubstr("method=grpc.health.v1.Health/Check org=- "
                              "code=NOT_FOUND"));
  EXPECT_THAT(text, HasSubstr("request_id=- peer=ipv4:127.0.0.1:"));
}

TEST_F(CallLogInterceptorTest, LogsCallsNoHandlerReceived) {
  // Served here by the generic service, which never reads the request: no
  // handler of ours received it, so the interceptor writes the line, also
  // for our own package, with the peer.
  EXPECT_EQ(Call("/tokenauthority.v1.TokenService/VerifyToken", "", "rid-7")
                .error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Call("/no.such.Service/Method", "", "").error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = LogWithLines(2);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_THAT(text, HasSubstr("rpc method=TokenService/VerifyToken org=- "
                              "code=UNIMPLEMENTED"));
  EXPECT_THAT(text, HasSubstr("request_id=rid-7 peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(text, HasSubstr("rpc method=no.such.Service/Method org=- "
                              "code=UNIMPLEMENTED"));
}

TEST(LoggedByHandlerTest, OnlyOurPackage) {
  EXPECT_FALSE(LoggedByHandler("/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(LoggedByHandler(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_TRUE(LoggedByHandler("/tokenauthority.v1.TokenService/IssueToken"));
  EXPECT_FALSE(LoggedByHandler(nullptr));
}

}  // namespace
}  // namespace token_authority::server

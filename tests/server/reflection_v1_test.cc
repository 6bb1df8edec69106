// Reflection as a tool uses it, against the REAL server: a client that
// knows only the reflection protocol lists the services over
// grpc.reflection.v1 and v1alpha, resolves every listed service to its file
// descriptor (and those files' imports), and builds each service's
// descriptor from what it received alone, grpc.health.v1.Health included.
#include "server/reflection_v1.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/time_scale.h"

namespace token_authority::server {
namespace {

namespace rv1 = ::grpc::reflection::v1;
using ::testing::Contains;
using ::testing::IsSupersetOf;
using ::token_authority::testing::Scaled;
using ::token_authority::testing::TestServer;

// v1alpha's messages are v1's, byte for byte, under another method name.
constexpr char kV1[] =
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
constexpr char kV1alpha[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// One reflection stream over `method`.
class ReflectionClient {
 public:
  ReflectionClient(std::shared_ptr<grpc::Channel> channel, const char* method)
      : channel_(std::move(channel)),
        method_(method, grpc::internal::RpcMethod::BIDI_STREAMING, channel_) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          Scaled(std::chrono::seconds(30)));
    stream_.reset(grpc::internal::ClientReaderWriterFactory<
                  rv1::ServerReflectionRequest,
                  rv1::ServerReflectionResponse>::Create(channel_.get(),
                                                         method_, &context_));
  }

  ~ReflectionClient() {
    stream_->WritesDone();
    EXPECT_TRUE(stream_->Finish().ok());
  }

  rv1::ServerReflectionResponse Ask(const rv1::ServerReflectionRequest& req) {
    rv1::ServerReflectionResponse resp;
    EXPECT_TRUE(stream_->Write(req));
    EXPECT_TRUE(stream_->Read(&resp));
    return resp;
  }

  std::vector<std::string> ListServices() {
    rv1::ServerReflectionRequest req;
    req.set_list_services("");
    std::vector<std::string> out;
    const rv1::ServerReflectionResponse resp = Ask(req);
    for (const auto& s : resp.list_services_response().service()) {
      out.push_back(s.name());
    }
    return out;
  }

  // Adds the files the answer carries to `pool`; the answer's error if any.
  std::string AddFiles(const rv1::ServerReflectionResponse& resp,
                       google::protobuf::SimpleDescriptorDatabase* db) {
    if (resp.has_error_response()) {
      return resp.error_response().error_message();
    }
    for (const std::string& bytes :
         resp.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      EXPECT_TRUE(file.ParseFromString(bytes));
      db->Add(file);
    }
    return "";
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  grpc::internal::RpcMethod method_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<rv1::ServerReflectionRequest,
                                           rv1::ServerReflectionResponse>>
      stream_;
};

class ReflectionV1Test : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    auto server = TestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::unique_ptr<TestServer> server_;
};

TEST_P(ReflectionV1Test, EveryListedServiceIsDescribedFromReflectionAlone) {
  ReflectionClient client(server_->NewChannel(), GetParam());
  const std::vector<std::string> services = client.ListServices();
  EXPECT_THAT(
      services,
      IsSupersetOf(
          {"tokenauthority.v1.TokenService", "tokenauthority.v1.KeyService",
           "tokenauthority.v1.AuditService", "tokenauthority.v1.AdminService",
           "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
           "grpc.reflection.v1.ServerReflection"}));
  // Only what the server sent: a pool of our own, built from its answers.
  google::protobuf::SimpleDescriptorDatabase db;
  for (const std::string& name : services) {
    rv1::ServerReflectionRequest req;
    req.set_host("localhost");
    req.set_file_containing_symbol(name);
    const rv1::ServerReflectionResponse resp = client.Ask(req);
    EXPECT_EQ(resp.valid_host(), "localhost");
    EXPECT_EQ(resp.original_request().file_containing_symbol(), name);
    EXPECT_EQ(client.AddFiles(resp, &db), "") << name;
  }
  google::protobuf::DescriptorPool pool(&db);
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* service =
        pool.FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name << " could not be built";
    EXPECT_GT(service->method_count(), 0) << name;
    // Every request and response type resolved (imports were sent too).
    for (int i = 0; i < service->method_count(); ++i) {
      EXPECT_NE(service->method(i)->input_type(), nullptr);
      EXPECT_NE(service->method(i)->output_type(), nullptr);
    }
  }
  const auto* check = pool.FindMethodByName("grpc.health.v1.Health.Check");
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->output_type()->full_name(),
            "grpc.health.v1.HealthCheckResponse");
}

TEST_P(ReflectionV1Test, FilesByNameSymbolsAndErrors) {
  ReflectionClient client(server_->NewChannel(), GetParam());
  rv1::ServerReflectionRequest req;
  req.set_file_by_filename("tokenauthority/v1/token_service.proto");
  google::protobuf::SimpleDescriptorDatabase db;
  EXPECT_EQ(client.AddFiles(client.Ask(req), &db), "");
  google::protobuf::FileDescriptorProto file;
  EXPECT_TRUE(
      db.FindFileByName("tokenauthority/v1/token_service.proto", &file));
  // A message type and a method are symbols too.
  req.set_file_containing_symbol("tokenauthority.v1.IssueTokenRequest");
  EXPECT_FALSE(client.Ask(req).has_error_response());
  req.set_file_containing_symbol("grpc.health.v1.Health.Watch");
  EXPECT_FALSE(client.Ask(req).has_error_response());
  // Asked again on the same stream: still answered with the file.
  req.set_file_by_filename("tokenauthority/v1/token_service.proto");
  if (std::string(GetParam()) == kV1) {
    const rv1::ServerReflectionResponse again = client.Ask(req);
    ASSERT_GE(again.file_descriptor_response().file_descriptor_proto_size(), 1);
    google::protobuf::FileDescriptorProto first;
    ASSERT_TRUE(first.ParseFromString(
        again.file_descriptor_response().file_descriptor_proto(0)));
    EXPECT_EQ(first.name(), "tokenauthority/v1/token_service.proto");
  }
  req.set_file_containing_symbol("no.such.Symbol");
  rv1::ServerReflectionResponse resp = client.Ask(req);
  ASSERT_TRUE(resp.has_error_response());
  EXPECT_EQ(resp.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_all_extension_numbers_of_type("google.protobuf.FieldOptions");
  resp = client.Ask(req);
  EXPECT_FALSE(resp.has_error_response());
  EXPECT_EQ(resp.all_extension_numbers_response().base_type_name(),
            "google.protobuf.FieldOptions");
}

INSTANTIATE_TEST_SUITE_P(BothVersions, ReflectionV1Test,
                         ::testing::Values(kV1, kV1alpha),
                         [](const auto& info) {
                           return std::string(info.param == kV1 ? "v1"
                                                                : "v1alpha");
                         });

}  // namespace
}  // namespace token_authority::server

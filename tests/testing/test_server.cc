#include "tests/testing/test_server.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "convert/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace token_authority::testing {
namespace {

v1::ApiKeyRole RoleToProto(storage::ApiKeyRole role) {
  switch (role) {
    case storage::ApiKeyRole::kAdmin:
      return v1::API_KEY_ROLE_ADMIN;
    case storage::ApiKeyRole::kIssuer:
      return v1::API_KEY_ROLE_ISSUER;
    case storage::ApiKeyRole::kVerifier:
      return v1::API_KEY_ROLE_VERIFIER;
    case storage::ApiKeyRole::kAuditor:
      return v1::API_KEY_ROLE_AUDITOR;
  }
  return v1::API_KEY_ROLE_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(
    TestServerOptions options) {
  std::unique_ptr<TestServer> fixture(new TestServer(std::move(options)));
  if (fixture->options_.data_dir.empty()) {
    TA_ASSIGN_OR_RETURN(TempDir dir, TempDir::Create());
    fixture->data_dir_ =
        fixture->options_.keep_data_dir ? dir.Release() : dir.path();
    if (!fixture->options_.keep_data_dir) {
      fixture->temp_dir_.emplace(std::move(dir));
    }
  } else {
    fixture->data_dir_ = fixture->options_.data_dir;
  }
  TA_RETURN_IF_ERROR(fixture->StartServer());
  return fixture;
}

TestServer::TestServer(TestServerOptions options)
    : options_(std::move(options)),
      call_log_(std::make_unique<server::MemoryCallLog>()) {
  if (options_.use_fake_clock) {
    fake_clock_ = std::make_unique<FakeClock>(options_.fake_clock_start);
  }
}

TestServer::~TestServer() {
  Stop(absl::Seconds(5));
  temp_dir_.reset();
}

absl::Status TestServer::StartServer() {
  server::AuthorityServerOptions o;
  o.listen = absl::StrCat("127.0.0.1:", port_);
  o.data_dir = data_dir_;
  o.tls_cert_pem = options_.tls_cert_pem;
  o.tls_key_pem = options_.tls_key_pem;
  o.client_ca_pem = options_.client_ca_pem;
  o.authority = options_.authority;
  o.clock = fake_clock_.get();
  o.call_log = call_log_.get();
  // Small pools keep test start-up fast; enough for concurrency tests.
  o.blocking_threads = 16;
  if (options_.adjust_server_options) options_.adjust_server_options(o);
  TA_ASSIGN_OR_RETURN(server_, server::AuthorityServer::Start(std::move(o)));
  port_ = server_->port();
  address_ = server_->address();
  absl::StatusOr<std::string> key =
      server::ReadSmallFile(server_->admin_key_path());
  if (key.ok()) {
    admin_key_ = std::string(absl::StripAsciiWhitespace(*key));
  }
  return absl::OkStatus();
}

absl::Status TestServer::Restart(absl::Duration grace) {
  Stop(grace);
  return StartServer();
}

void TestServer::Stop(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(grace);
  server_.reset();
}

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const {
  if (options_.channel_credentials != nullptr) {
    return NewChannelWithCredentials(options_.channel_credentials,
                                     options_.ssl_target_name_override);
  }
  return grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
}

std::shared_ptr<grpc::Channel> TestServer::NewChannelWithCredentials(
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& ssl_target_name_override) const {
  grpc::ChannelArguments args;
  if (!ssl_target_name_override.empty()) {
    args.SetSslTargetNameOverride(ssl_target_name_override);
  }
  return grpc::CreateCustomChannel(address_, std::move(credentials), args);
}

std::unique_ptr<v1::TokenService::Stub> TestServer::TokenStub() const {
  return v1::TokenService::NewStub(NewChannel());
}
std::unique_ptr<v1::KeyService::Stub> TestServer::KeyStub() const {
  return v1::KeyService::NewStub(NewChannel());
}
std::unique_ptr<v1::AuditService::Stub> TestServer::AuditStub() const {
  return v1::AuditService::NewStub(NewChannel());
}
std::unique_ptr<v1::AdminService::Stub> TestServer::AdminStub() const {
  return v1::AdminService::NewStub(NewChannel());
}

void TestServer::Authorize(grpc::ClientContext* context,
                           const std::string& api_key,
                           const std::string& organization_id) {
  context->AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
  if (!organization_id.empty()) {
    context->AddMetadata("x-organization-id", organization_id);
  }
}

absl::StatusOr<v1::Organization> TestServer::CreateOrganization(
    const std::string& name, bool secure) {
  grpc::ClientContext context;
  Authorize(&context, admin_key_);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  v1::CreateOrganizationRequest request;
  request.set_name(name);
  request.set_secure_enabled(secure);
  v1::Organization org;
  TA_RETURN_IF_ERROR(convert::FromGrpcStatus(
      AdminStub()->CreateOrganization(&context, request, &org)));
  return org;
}

absl::StatusOr<OrgCredentials> TestServer::CreateApiKey(
    const std::string& organization_id, storage::ApiKeyRole role) {
  grpc::ClientContext context;
  Authorize(&context, admin_key_);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  v1::CreateApiKeyRequest request;
  request.set_organization_id(organization_id);
  request.set_role(RoleToProto(role));
  v1::CreateApiKeyResponse response;
  TA_RETURN_IF_ERROR(convert::FromGrpcStatus(
      AdminStub()->CreateApiKey(&context, request, &response)));
  OrgCredentials out;
  out.organization_id = organization_id;
  out.api_key_id = response.api_key().id();
  out.api_key = response.secret();
  return out;
}

absl::StatusOr<OrgCredentials> TestServer::CreateOrganizationWithKey(
    storage::ApiKeyRole role, bool secure) {
  TA_ASSIGN_OR_RETURN(v1::Organization org,
                      CreateOrganization("test organization", secure));
  TA_ASSIGN_OR_RETURN(
      OrgCredentials credentials,
      CreateApiKey(role == storage::ApiKeyRole::kAdmin ? "" : org.id(), role));
  credentials.organization_id = org.id();
  return credentials;
}

}  // namespace token_authority::testing

// Client-side helpers of the server-level fault tests (tests against the
// real binary, tests/faults/server_process.h): a channel of its own per
// client, call contexts with an API key and a (scaled) deadline, and the
// organisation and API keys a test starts with.
#ifndef TESTS_FAULTS_SERVER_CLIENT_H_
#define TESTS_FAULTS_SERVER_CLIENT_H_

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::testing {

namespace v1 = ::tokenauthority::v1;

// A channel with a connection of its own (`index` tells clients apart).
inline std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                                 int index = 0) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt("ta.test.client_index", index);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// Authorizes with `key` and sets a deadline `timeout` (scaled) from now.
inline void Prepare(
    grpc::ClientContext* ctx, const std::string& key,
    std::chrono::microseconds timeout = std::chrono::seconds(10)) {
  ctx->AddMetadata("authorization", "Bearer " + key);
  ctx->set_deadline(DeadlineIn(timeout));
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

struct Credentials {
  std::string admin_key;
  std::string organization_id;
  std::string issuer_key;
  std::string verifier_key;  // only if asked for
};

// Creates an API key of `role` for `organization_id` ("" service-wide); its
// secret, or "" after a test failure.
inline std::string CreateKey(v1::AdminService::Stub& admin,
                             const std::string& admin_key,
                             const std::string& organization_id,
                             v1::ApiKeyRole role) {
  grpc::ClientContext ctx;
  Prepare(&ctx, admin_key);
  v1::CreateApiKeyRequest req;
  req.set_organization_id(organization_id);
  req.set_role(role);
  v1::CreateApiKeyResponse resp;
  grpc::Status s = admin.CreateApiKey(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp.secret();
}

// Creates an organisation and an issuer key (and a verifier key if
// `verifier`) with the admin key read from `admin_key_path`.
inline Credentials Bootstrap(const std::string& address,
                             const std::string& admin_key_path,
                             bool verifier = false) {
  Credentials c;
  c.admin_key =
      std::string(absl::StripAsciiWhitespace(ReadFile(admin_key_path)));
  EXPECT_FALSE(c.admin_key.empty()) << "no admin key in " << admin_key_path;
  auto admin = v1::AdminService::NewStub(NewChannel(address));
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, c.admin_key);
    v1::CreateOrganizationRequest req;
    req.set_name("fault test");
    req.set_secure_enabled(true);
    v1::Organization org;
    grpc::Status s = admin->CreateOrganization(&ctx, req, &org);
    EXPECT_TRUE(s.ok()) << s.error_message();
    c.organization_id = org.id();
  }
  c.issuer_key = CreateKey(*admin, c.admin_key, c.organization_id,
                           v1::API_KEY_ROLE_ISSUER);
  if (verifier) {
    c.verifier_key =
        CreateKey(*admin, c.admin_key, "", v1::API_KEY_ROLE_VERIFIER);
  }
  return c;
}

}  // namespace token_authority::testing

#endif  // TESTS_FAULTS_SERVER_CLIENT_H_

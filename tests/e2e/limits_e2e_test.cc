// Limits over the wire: per-API-key rate limits (RESOURCE_EXHAUSTED with a
// retry hint, other keys unaffected) and keepalive enforcement (a client
// that pings too often is sent away).
#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using ::testing::HasSubstr;
using KS = v1::KeyService::Stub;

TEST(LimitsE2eTest, RateLimitPerApiKey) {
  TestServerOptions o;
  // A burst of 3, refilled so slowly that the test never sees a refill.
  o.authority.rate_limit_per_second = 0.001;
  o.authority.rate_limit_burst = 3;
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(o));
  // The admin key spends 2 of its 3 calls here.
  ASSERT_OK_AND_ASSIGN(OrgCredentials a,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  auto keys = server->KeyStub();
  v1::ListSigningKeysRequest req;
  for (int i = 0; i < 3; ++i) {
    EXPECT_OK(Call(*keys, &KS::ListSigningKeys, req, a.api_key).status());
  }
  EXPECT_THAT(
      Call(*keys, &KS::ListSigningKeys, req, a.api_key),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("retry after")));
  // Another key still has its own budget.
  ASSERT_OK_AND_ASSIGN(
      OrgCredentials b,
      server->CreateApiKey(a.organization_id, ApiKeyRole::kIssuer));
  EXPECT_OK(Call(*keys, &KS::ListSigningKeys, req, b.api_key).status());
}

TEST(LimitsE2eTest, ClientPingingTooOftenIsSentAway) {
  TestServerOptions o;
  o.adjust_server_options = [](server::AuthorityServerOptions& s) {
    s.min_client_ping_interval = absl::Seconds(10);
    s.max_ping_strikes = 2;
  };
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(o));
  ASSERT_OK_AND_ASSIGN(OrgCredentials v,
                       server->CreateApiKey("", ApiKeyRole::kVerifier));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel = grpc::CreateCustomChannel(
      server->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::TokenService::NewStub(channel);
  // A stream that stays open; the connection under it is closed when the
  // server has had enough pings.
  grpc::ClientContext context;
  TestServer::Authorize(&context, v.api_key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  auto reader = stub->WatchRevocations(&context, v1::WatchRevocationsRequest());
  v1::RevocationEvent e;
  EXPECT_FALSE(reader->Read(&e));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

}  // namespace
}  // namespace token_authority::testing

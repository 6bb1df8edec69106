// Limits over the wire: per-API-key rate limits (RESOURCE_EXHAUSTED with a
// retry hint that is enough and no longer than a refill, the burst capped at
// its configured size, other keys unaffected) and keepalive enforcement (a
// client that pings too often is sent away).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
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

// The retry hint of a RESOURCE_EXHAUSTED message ("... retry after <n>
// ms"), or -1 if there is none.
int64_t RetryAfterMs(const absl::Status& status) {
  const std::string message(status.message());
  const size_t at = message.find("retry after ");
  if (at == std::string::npos) return -1;
  const size_t begin = at + std::strlen("retry after ");
  const size_t end = message.find(" ms", begin);
  int64_t ms = -1;
  if (end == std::string::npos ||
      !absl::SimpleAtoi(message.substr(begin, end - begin), &ms)) {
    return -1;
  }
  return ms;
}

// On the fake clock (which the rate limiter reads; gRPC deadlines stay
// real), so that no refill happens unless the test advances the time.
TEST(LimitsE2eTest, BurstIsCappedAndTheRetryHintIsEnough) {
  constexpr double kRate = 2;  // per second
  constexpr int kBurst = 5;
  TestServerOptions o;
  o.use_fake_clock = true;
  o.authority.rate_limit_per_second = kRate;
  o.authority.rate_limit_burst = kBurst;
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(o));
  ASSERT_OK_AND_ASSIGN(OrgCredentials a,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  auto keys = server->KeyStub();
  v1::ListSigningKeysRequest req;
  // Calls until the first refusal (at most `limit` + 1): how many went
  // through, and the refusal.
  auto spend = [&](int limit, absl::Status* refusal) {
    int ok = 0;
    for (int i = 0; i <= limit; ++i) {
      absl::Status s =
          Call(*keys, &KS::ListSigningKeys, req, a.api_key).status();
      if (!s.ok()) {
        *refusal = s;
        return ok;
      }
      ++ok;
    }
    *refusal = absl::OkStatus();
    return ok;
  };

  // A new key has a full bucket: exactly the burst goes through.
  absl::Status refusal;
  EXPECT_EQ(spend(3 * kBurst, &refusal), kBurst);
  EXPECT_THAT(refusal, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr(a.api_key_id)));
  // The hint: the time until one request's worth has refilled (1 / rate),
  // never 0, never more than that (plus rounding).
  const int64_t hint_ms = RetryAfterMs(refusal);
  EXPECT_GT(hint_ms, 0) << refusal;
  EXPECT_LE(hint_ms, 1000 / kRate + 1) << refusal;

  // Idle for far longer than the burst takes to refill: still only the
  // burst, the bucket does not grow past it.
  server->clock()->Advance(absl::Seconds(60));
  EXPECT_EQ(spend(3 * kBurst, &refusal), kBurst);
  EXPECT_THAT(refusal, StatusIs(absl::StatusCode::kResourceExhausted));
  const int64_t hint2_ms = RetryAfterMs(refusal);
  ASSERT_GT(hint2_ms, 1) << refusal;

  // Just before the hint: still refused. After it: one call, then refused.
  server->clock()->Advance(absl::Milliseconds(hint2_ms - 2));
  EXPECT_THAT(Call(*keys, &KS::ListSigningKeys, req, a.api_key),
              StatusIs(absl::StatusCode::kResourceExhausted));
  server->clock()->Advance(absl::Milliseconds(2));
  EXPECT_EQ(spend(kBurst, &refusal), 1);
  EXPECT_THAT(refusal, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr("retry after")));
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

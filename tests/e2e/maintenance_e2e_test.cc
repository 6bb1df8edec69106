// The background maintenance against a revoked token that is still live:
// the core's maintenance (forgetting revocations of expired tokens, key
// retirement) and the store's retention sweep (deleting tokens expired for
// longer than the retention, with their revocation events) must not make a
// revoked, unexpired token verify again: not right after them, not after a
// restart (the revocations are reloaded from the store), and a watcher
// starting from the beginning still gets its revocation. On the fake clock,
// advanced past the retention so that the sweep has real work to do.
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using TS = v1::TokenService::Stub;

constexpr absl::Duration kDay = absl::Hours(24);
// The store's default retention (storage/sqlite_token_store.h).
constexpr absl::Duration kRetention = absl::Hours(24 * 90);

class MaintenanceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions o;
    o.use_fake_clock = true;
    // Only the explicit runs below: no background run races the checks.
    o.authority.maintenance_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start(o));
    ASSERT_OK_AND_ASSIGN(
        issuer_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    ASSERT_OK_AND_ASSIGN(verifier_,
                         server_->CreateApiKey("", ApiKeyRole::kVerifier));
    tokens_ = server_->TokenStub();
  }

  // Issues a cam1 token living `lifetime` and revokes it; its JWT and id.
  std::pair<std::string, std::string> IssueAndRevoke(absl::Duration lifetime) {
    v1::IssueTokenRequest issue;
    *issue.mutable_spec() = StreamsSpec({"cam1"});
    issue.mutable_spec()->mutable_lifetime()->set_seconds(
        absl::ToInt64Seconds(lifetime));
    absl::StatusOr<v1::IssueTokenResponse> issued =
        Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key);
    EXPECT_OK(issued.status());
    if (!issued.ok()) return {};
    v1::RevokeTokenRequest rev;
    rev.set_token_id(issued->token().id());
    rev.set_reason("maintenance test");
    EXPECT_OK(Call(*tokens_, &TS::RevokeToken, rev, issuer_.api_key).status());
    return {issued->jwt(), issued->token().id()};
  }

  absl::StatusOr<v1::VerifyTokenResponse> Verify(const std::string& jwt) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(issuer_.organization_id);
    req.set_stream_name("cam1");
    return Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key);
  }

  absl::Status Get(const std::string& id) {
    v1::GetTokenRequest get;
    get.set_token_id(id);
    return Call(*tokens_, &TS::GetToken, get, issuer_.api_key).status();
  }

  // Both maintenance jobs, as their threads run them.
  void RunMaintenance(int64_t* swept) {
    ASSERT_OK(server_->server()->authority()->RunMaintenance());
    ASSERT_OK_AND_ASSIGN(*swept,
                         server_->server()->store()->RunRetentionSweep());
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials issuer_, verifier_;
  std::unique_ptr<TS> tokens_;
};

TEST_F(MaintenanceE2eTest, RevokedLiveTokenStaysRefusedAfterTheSweep) {
  // Expires long before the sweep's cutoff: swept.
  const auto [old_jwt, old_id] = IssueAndRevoke(absl::Hours(1));
  // Live at the sweep, for a long time or for one more hour.
  const auto [long_jwt, long_id] = IssueAndRevoke(200 * kDay);
  const auto [soon_jwt, soon_id] =
      IssueAndRevoke(kRetention + 10 * kDay + absl::Hours(1));
  ASSERT_FALSE(old_id.empty() || long_id.empty() || soon_id.empty());
  for (const std::string& jwt : {long_jwt, soon_jwt}) {
    ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(jwt));
    EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  }

  server_->clock()->Advance(kRetention + 10 * kDay);
  int64_t swept = 0;
  RunMaintenance(&swept);
  // The sweep did run: the long-expired token is gone.
  EXPECT_EQ(swept, 1);
  EXPECT_THAT(Get(old_id), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(Get(long_id));
  EXPECT_OK(Get(soon_id));

  for (const std::string& jwt : {long_jwt, soon_jwt}) {
    ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(jwt));
    EXPECT_FALSE(v.allowed());
    EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED) << v.detail();
  }

  // After a restart the revocations come from the store again.
  ASSERT_OK(server_->Restart());
  RunMaintenance(&swept);
  EXPECT_EQ(swept, 0);
  for (const std::string& jwt : {long_jwt, soon_jwt}) {
    ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(jwt));
    EXPECT_FALSE(v.allowed());
    EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED) << v.detail();
  }

  // A watcher from the start gets both live revocations (the swept one's
  // event went with it).
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier_.api_key);
  context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
  auto reader =
      tokens_->WatchRevocations(&context, v1::WatchRevocationsRequest());
  v1::RevocationEvent event;
  for (const std::string& id : {long_id, soon_id}) {
    ASSERT_TRUE(reader->Read(&event)) << reader->Finish().error_message();
    EXPECT_EQ(event.token_id(), id);
  }
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  (void)reader->Finish();

  // The one that had an hour left expires: refused as expired, the reason
  // that now applies.
  server_->clock()->Advance(absl::Hours(2));
  RunMaintenance(&swept);
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(soon_jwt));
  EXPECT_FALSE(v.allowed());
  ASSERT_OK_AND_ASSIGN(v, Verify(long_jwt));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED) << v.detail();
}

}  // namespace
}  // namespace token_authority::testing

// Restart on the same data directory keeps tokens, revocations, keys and API
// keys; tokens issued before a rotation and a restart still verify.
#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using AS = v1::AdminService::Stub;
using KS = v1::KeyService::Stub;
using TS = v1::TokenService::Stub;

absl::StatusOr<v1::VerifyTokenResponse> Verify(TS& stub,
                                               const std::string& verifier_key,
                                               const std::string& org,
                                               const std::string& jwt) {
  v1::VerifyTokenRequest req;
  req.set_jwt(jwt);
  req.set_organization_id(org);
  req.set_stream_name("cam1");
  return Call(stub, &TS::VerifyToken, req, verifier_key);
}

TEST(RestartE2eTest, EverythingSurvivesARestart) {
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start());
  const std::string admin_key = server->admin_key();
  ASSERT_FALSE(admin_key.empty());
  struct stat st;
  ASSERT_EQ(::stat((server->data_dir() + "/admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((server->data_dir() + "/kek.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(OrgCredentials verifier,
                       server->CreateApiKey("", ApiKeyRole::kVerifier));
  ASSERT_OK_AND_ASSIGN(
      OrgCredentials revoked_key,
      server->CreateApiKey(issuer.organization_id, ApiKeyRole::kAuditor));
  auto tokens = server->TokenStub();
  auto keys = server->KeyStub();
  auto admin = server->AdminStub();

  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  issue.set_request_id("before-rotation");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse before,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  issue.set_request_id("");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse to_revoke,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  v1::RevokeTokenRequest rev;
  rev.set_token_id(to_revoke.token().id());
  rev.set_reason("gone");
  ASSERT_OK(Call(*tokens, &TS::RevokeToken, rev, issuer.api_key).status());
  v1::RotateSigningKeyRequest rotate;
  rotate.set_algorithm(v1::ALGORITHM_EDDSA);
  ASSERT_OK_AND_ASSIGN(
      v1::RotateSigningKeyResponse rotated,
      Call(*keys, &KS::RotateSigningKey, rotate, issuer.api_key));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse after,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  v1::RevokeApiKeyRequest revoke_key;
  revoke_key.set_api_key_id(revoked_key.api_key_id);
  ASSERT_OK(Call(*admin, &AS::RevokeApiKey, revoke_key, admin_key).status());
  v1::GetJwksRequest jwks_req;
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse jwks_before,
                       Call(*keys, &KS::GetJwks, jwks_req, issuer.api_key));

  ASSERT_OK(server->Restart());
  // The same admin key, read back from admin.key; no new one was made.
  EXPECT_EQ(server->admin_key(), admin_key);
  EXPECT_FALSE(server->server()->admin_key_created());

  // Tokens from before the rotation and the restart verify; the revoked one
  // stays refused; API keys work, the revoked one does not.
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Verify(*tokens, verifier.api_key, issuer.organization_id, before.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, after.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, to_revoke.jwt()));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  v1::ListSigningKeysRequest list_keys;
  EXPECT_THAT(Call(*keys, &KS::ListSigningKeys, list_keys, revoked_key.api_key),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // Records, keys and the idempotency key are still there.
  v1::GetTokenRequest get;
  get.set_token_id(to_revoke.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token got,
                       Call(*tokens, &TS::GetToken, get, issuer.api_key));
  EXPECT_EQ(got.state(), v1::TOKEN_STATE_REVOKED);
  EXPECT_EQ(got.revocation_reason(), "gone");
  ASSERT_OK_AND_ASSIGN(
      v1::ListSigningKeysResponse key_list,
      Call(*keys, &KS::ListSigningKeys, list_keys, issuer.api_key));
  ASSERT_EQ(key_list.keys_size(), 2);
  EXPECT_EQ(key_list.keys(0).key_id(), rotated.key().key_id());
  EXPECT_EQ(key_list.keys(0).state(), v1::SIGNING_KEY_STATE_PRIMARY);
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse jwks_after,
                       Call(*keys, &KS::GetJwks, jwks_req, issuer.api_key));
  EXPECT_EQ(jwks_after.jwks_json(), jwks_before.jwks_json());
  issue.set_request_id("before-rotation");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse retried,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  EXPECT_EQ(retried.token().id(), before.token().id());
  EXPECT_EQ(retried.token().key_id(), before.token().key_id());
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, retried.jwt()));
  EXPECT_TRUE(v.allowed());

  // A watcher after the restart still gets the revocation from before it.
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier.api_key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto reader =
      tokens->WatchRevocations(&context, v1::WatchRevocationsRequest());
  v1::RevocationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.token_id(), to_revoke.token().id());
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  (void)reader->Finish();

  // New work after the restart uses the rotated key.
  issue.set_request_id("");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse fresh,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  EXPECT_EQ(fresh.token().algorithm(), v1::ALGORITHM_EDDSA);
}

TEST(RestartE2eTest, ShutdownLetsCallsInFlightFinish) {
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start());
  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  // Many issues in flight, then a stop: every acknowledged token must be
  // there after the restart.
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = server->TokenStub();
      while (!stop.load()) {
        v1::IssueTokenRequest issue;
        *issue.mutable_spec() = StreamsSpec({"cam1"});
        auto r = Call(*stub, &TS::IssueToken, issue, issuer.api_key);
        if (r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged.push_back(r->token().id());
        }
      }
    });
  }
  // Let some calls complete.
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::lock_guard<std::mutex> lock(mu);
    if (acknowledged.size() >= 20) break;
  }
  server->Stop(absl::Seconds(5));
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_OK(server->Restart());
  auto stub = server->TokenStub();
  for (const std::string& id : acknowledged) {
    v1::GetTokenRequest get;
    get.set_token_id(id);
    EXPECT_OK(Call(*stub, &TS::GetToken, get, issuer.api_key).status()) << id;
  }
}

}  // namespace
}  // namespace token_authority::testing

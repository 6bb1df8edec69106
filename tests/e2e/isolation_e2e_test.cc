// Organisation isolation for every RPC: keys of organisation A never see,
// change or reveal anything of organisation B.
#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using ::testing::HasSubstr;
using ::testing::Not;
using AS = v1::AdminService::Stub;
using AUS = v1::AuditService::Stub;
using KS = v1::KeyService::Stub;
using TS = v1::TokenService::Stub;

class IsolationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        a_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    ASSERT_OK_AND_ASSIGN(
        b_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    ASSERT_OK_AND_ASSIGN(
        auditor_a_,
        server_->CreateApiKey(a_.organization_id, ApiKeyRole::kAuditor));
    ASSERT_OK_AND_ASSIGN(verifier_,
                         server_->CreateApiKey("", ApiKeyRole::kVerifier));
    tokens_ = server_->TokenStub();
    keys_ = server_->KeyStub();
    audit_ = server_->AuditStub();
    admin_ = server_->AdminStub();
    v1::IssueTokenRequest issue;
    *issue.mutable_spec() = StreamsSpec({"cam1"});
    issue.mutable_spec()->set_tag("shared-tag");
    issue.set_request_id("shared-request");
    ASSERT_OK_AND_ASSIGN(b_token_,
                         Call(*tokens_, &TS::IssueToken, issue, b_.api_key));
  }

  bool BTokenVerifies() {
    v1::VerifyTokenRequest req;
    req.set_jwt(b_token_.jwt());
    req.set_organization_id(b_.organization_id);
    req.set_stream_name("cam1");
    auto r = Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key);
    return r.ok() && r->allowed();
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials a_, b_, auditor_a_, verifier_;
  v1::IssueTokenResponse b_token_;
  std::unique_ptr<TS> tokens_;
  std::unique_ptr<KS> keys_;
  std::unique_ptr<AUS> audit_;
  std::unique_ptr<AS> admin_;
};

TEST_F(IsolationE2eTest, IssueCannotActForAnotherOrganization) {
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  EXPECT_THAT(
      Call(*tokens_, &TS::IssueToken, issue, a_.api_key, b_.organization_id),
      StatusIs(absl::StatusCode::kPermissionDenied));
  // The same request_id in A is a different request from B's.
  issue.set_request_id("shared-request");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse mine,
                       Call(*tokens_, &TS::IssueToken, issue, a_.api_key));
  EXPECT_EQ(mine.token().organization_id(), a_.organization_id);
  EXPECT_NE(mine.token().id(), b_token_.token().id());
}

TEST_F(IsolationE2eTest, GetTokenIsNotFound) {
  v1::GetTokenRequest get;
  get.set_token_id(b_token_.token().id());
  EXPECT_THAT(Call(*tokens_, &TS::GetToken, get, a_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Call(*tokens_, &TS::GetToken, get, auditor_a_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(Call(*tokens_, &TS::GetToken, get, b_.api_key).status());
}

TEST_F(IsolationE2eTest, ListTokensShowsOnlyOwnTokens) {
  v1::ListTokensRequest list;
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse page,
                       Call(*tokens_, &TS::ListTokens, list, a_.api_key));
  EXPECT_EQ(page.tokens_size(), 0);
  list.set_tag("shared-tag");
  ASSERT_OK_AND_ASSIGN(
      page, Call(*tokens_, &TS::ListTokens, list, auditor_a_.api_key));
  EXPECT_EQ(page.tokens_size(), 0);
  ASSERT_OK_AND_ASSIGN(page, Call(*tokens_, &TS::ListTokens, list, b_.api_key));
  EXPECT_EQ(page.tokens_size(), 1);
}

TEST_F(IsolationE2eTest, DecodeRevealsNoRecordOfAnotherOrganization) {
  v1::RevokeTokenRequest rev;
  rev.set_token_id(b_token_.token().id());
  rev.set_reason("secret reason of B");
  ASSERT_OK(Call(*tokens_, &TS::RevokeToken, rev, b_.api_key).status());
  v1::DecodeTokenRequest req;
  req.set_jwt(b_token_.jwt());
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse d,
                       Call(*tokens_, &TS::DecodeToken, req, a_.api_key));
  EXPECT_FALSE(d.signature_valid());
  EXPECT_GT(d.problems_size(), 0);
  EXPECT_EQ(d.token().issued_by(), "");
  EXPECT_EQ(d.token().revocation_reason(), "");
  EXPECT_FALSE(d.token().has_revoked_at());
  EXPECT_EQ(d.state(), v1::TOKEN_STATE_INVALID);
  EXPECT_THAT(d.DebugString(), Not(HasSubstr("secret reason of B")));
  // B itself sees the revocation.
  ASSERT_OK_AND_ASSIGN(d, Call(*tokens_, &TS::DecodeToken, req, b_.api_key));
  EXPECT_TRUE(d.signature_valid());
  EXPECT_EQ(d.state(), v1::TOKEN_STATE_REVOKED);
}

TEST_F(IsolationE2eTest, VerifyIsScopedToTheRequestedOrganization) {
  v1::VerifyTokenRequest req;
  req.set_jwt(b_token_.jwt());
  req.set_organization_id(a_.organization_id);  // B's token for A's stream
  req.set_stream_name("cam1");
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key));
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason(), v1::DENY_REASON_UNKNOWN_KEY);
  EXPECT_TRUE(BTokenVerifies());
}

// An edge that forgets organization_id must not let a token of one
// organisation play another's stream: the field is required.
TEST_F(IsolationE2eTest, VerifyRequiresTheOrganization) {
  v1::IssueTokenRequest issue;
  issue.mutable_spec()->mutable_target()->set_organization(true);
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse b_wide,
                       Call(*tokens_, &TS::IssueToken, issue, b_.api_key));
  issue.mutable_spec()->mutable_target()->set_stream_group_id("g1");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse b_g1,
                       Call(*tokens_, &TS::IssueToken, issue, b_.api_key));
  for (const std::string& jwt : {b_wide.jwt(), b_g1.jwt(), b_token_.jwt()}) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_stream_name("cam1");
    req.set_stream_group_id("g1");
    EXPECT_THAT(Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("organization_id: required")));
    EXPECT_THAT(Call(*tokens_, &TS::VerifyToken, req, server_->admin_key()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("organization_id: required")));
    // Named: only B's own streams.
    req.set_organization_id(a_.organization_id);
    ASSERT_OK_AND_ASSIGN(
        v1::VerifyTokenResponse in_a,
        Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key));
    EXPECT_FALSE(in_a.allowed());
    req.set_organization_id(b_.organization_id);
    ASSERT_OK_AND_ASSIGN(
        v1::VerifyTokenResponse in_b,
        Call(*tokens_, &TS::VerifyToken, req, verifier_.api_key));
    EXPECT_TRUE(in_b.allowed()) << in_b.detail();
  }
}

// Two x-organization-id (or authorization) headers: which one counts is
// never guessed.
TEST_F(IsolationE2eTest, RepeatedOrganizationHeaderIsRefused) {
  struct Case {
    std::string header, first, second;
  };
  const std::vector<Case> cases = {
      {"x-organization-id", a_.organization_id, b_.organization_id},
      {"x-organization-id", b_.organization_id, b_.organization_id},
      {"authorization", "Bearer " + server_->admin_key(),
       "Bearer " + b_.api_key},
  };
  for (const Case& c : cases) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    if (c.header != "authorization") {
      TestServer::Authorize(&context, server_->admin_key());
    }
    context.AddMetadata(c.header, c.first);
    context.AddMetadata(c.header, c.second);
    v1::ListTokensRequest list;
    v1::ListTokensResponse page;
    grpc::Status status = tokens_->ListTokens(&context, list, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.header << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.header + ": sent 2 times"));
  }
  // The log names the call and its code, as for every call.
  EXPECT_THAT(server_->CallLogContents(), HasSubstr("TokenService/ListTokens"));
}

// A watch stream ends with UNAUTHENTICATED once its API key is revoked.
TEST_F(IsolationE2eTest, WatchStreamsEndWhenTheirKeyIsRevoked) {
  ASSERT_OK_AND_ASSIGN(OrgCredentials watcher,
                       server_->CreateApiKey("", ApiKeyRole::kVerifier));
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(20);
  grpc::ClientContext revocations_context, states_context;
  revocations_context.set_deadline(deadline);
  states_context.set_deadline(deadline);
  TestServer::Authorize(&revocations_context, watcher.api_key);
  TestServer::Authorize(&states_context, watcher.api_key);
  auto revocations = tokens_->WatchRevocations(&revocations_context,
                                               v1::WatchRevocationsRequest());
  v1::WatchOrganizationStatesRequest states_request;
  states_request.add_organization_ids(a_.organization_id);
  auto states =
      tokens_->WatchOrganizationStates(&states_context, states_request);
  v1::OrganizationStateEvent state;
  ASSERT_TRUE(states->Read(&state));  // the snapshot: the stream is open
  // One revocation arrives while the key is valid.
  v1::RevokeTokenRequest rev;
  rev.set_token_id(b_token_.token().id());
  ASSERT_OK(Call(*tokens_, &TS::RevokeToken, rev, b_.api_key).status());
  v1::RevocationEvent event;
  ASSERT_TRUE(revocations->Read(&event));
  EXPECT_EQ(event.token_id(), b_token_.token().id());

  v1::RevokeApiKeyRequest revoke_key;
  revoke_key.set_api_key_id(watcher.api_key_id);
  ASSERT_OK(Call(*admin_, &AS::RevokeApiKey, revoke_key, server_->admin_key())
                .status());
  const auto revoked_at = std::chrono::steady_clock::now();
  EXPECT_FALSE(revocations->Read(&event));
  EXPECT_FALSE(states->Read(&state));
  const grpc::Status r = revocations->Finish();
  const grpc::Status s = states->Finish();
  EXPECT_EQ(r.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << r.error_message();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << s.error_message();
  EXPECT_THAT(r.error_message(), HasSubstr("revoked"));
  // Within 1 s (the goal), with room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at,
            std::chrono::seconds(5));
  // Another key's stream goes on: it still delivers revocations.
  grpc::ClientContext other_context;
  other_context.set_deadline(deadline);
  TestServer::Authorize(&other_context, verifier_.api_key);
  auto other =
      tokens_->WatchRevocations(&other_context, v1::WatchRevocationsRequest());
  ASSERT_TRUE(other->Read(&event));
  EXPECT_EQ(event.token_id(), b_token_.token().id());
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam2"});
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse next,
                       Call(*tokens_, &TS::IssueToken, issue, b_.api_key));
  rev.set_token_id(next.token().id());
  ASSERT_OK(Call(*tokens_, &TS::RevokeToken, rev, b_.api_key).status());
  ASSERT_TRUE(other->Read(&event));
  EXPECT_EQ(event.token_id(), next.token().id());
  other_context.TryCancel();
  while (other->Read(&event)) {
  }
  (void)other->Finish();
}

TEST_F(IsolationE2eTest, RevokeCannotTouchAnotherOrganization) {
  v1::RevokeTokenRequest rev;
  rev.set_token_id(b_token_.token().id());
  EXPECT_THAT(Call(*tokens_, &TS::RevokeToken, rev, a_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  v1::RevokeTokensRequest bulk;
  bulk.set_tag("shared-tag");
  ASSERT_OK_AND_ASSIGN(v1::RevokeTokensResponse r,
                       Call(*tokens_, &TS::RevokeTokens, bulk, a_.api_key));
  EXPECT_EQ(r.revoked_count(), 0);
  EXPECT_TRUE(BTokenVerifies());
}

TEST_F(IsolationE2eTest, WatchIsForVerifiersAndAdminsOnly) {
  for (const std::string& key : {a_.api_key, auditor_a_.api_key}) {
    grpc::ClientContext context;
    TestServer::Authorize(&context, key);
    v1::WatchRevocationsRequest req;
    auto reader = tokens_->WatchRevocations(&context, req);
    v1::RevocationEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_F(IsolationE2eTest, OrganizationStatesAreOwnOnlyForIssuersAndAuditors) {
  for (const std::string& key : {a_.api_key, auditor_a_.api_key}) {
    grpc::ClientContext context;
    TestServer::Authorize(&context, key);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::WatchOrganizationStatesRequest req;
    req.add_organization_ids(b_.organization_id);
    auto reader = tokens_->WatchOrganizationStates(&context, req);
    v1::OrganizationStateEvent e;
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // Their own stream carries only their organisation, even when another
  // one changes.
  grpc::ClientContext context;
  TestServer::Authorize(&context, a_.api_key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  auto reader = tokens_->WatchOrganizationStates(
      &context, v1::WatchOrganizationStatesRequest());
  v1::OrganizationStateEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.organization_id(), a_.organization_id);
  v1::RotateSigningKeyRequest rotate;
  ASSERT_OK(Call(*keys_, &KS::RotateSigningKey, rotate, b_.api_key).status());
  ASSERT_OK(Call(*keys_, &KS::RotateSigningKey, rotate, a_.api_key).status());
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.organization_id(), a_.organization_id);
  EXPECT_FALSE(e.snapshot());
  context.TryCancel();
  while (reader->Read(&e)) {
  }
  (void)reader->Finish();
}

TEST_F(IsolationE2eTest, KeysAreOwnOnly) {
  v1::ListSigningKeysRequest list;
  ASSERT_OK_AND_ASSIGN(v1::ListSigningKeysResponse a_keys,
                       Call(*keys_, &KS::ListSigningKeys, list, a_.api_key));
  ASSERT_OK_AND_ASSIGN(v1::ListSigningKeysResponse b_keys,
                       Call(*keys_, &KS::ListSigningKeys, list, b_.api_key));
  ASSERT_EQ(a_keys.keys_size(), 1);
  ASSERT_EQ(b_keys.keys_size(), 1);
  EXPECT_EQ(a_keys.keys(0).organization_id(), a_.organization_id);
  EXPECT_NE(a_keys.keys(0).key_id(), b_keys.keys(0).key_id());
  EXPECT_THAT(
      Call(*keys_, &KS::ListSigningKeys, list, a_.api_key, b_.organization_id),
      StatusIs(absl::StatusCode::kPermissionDenied));
  // A's rotation leaves B's keys alone.
  v1::RotateSigningKeyRequest rotate;
  ASSERT_OK(Call(*keys_, &KS::RotateSigningKey, rotate, a_.api_key).status());
  ASSERT_OK_AND_ASSIGN(v1::ListSigningKeysResponse b_after,
                       Call(*keys_, &KS::ListSigningKeys, list, b_.api_key));
  EXPECT_EQ(b_after.DebugString(), b_keys.DebugString());
  v1::GetJwksRequest jwks;
  jwks.set_organization_id(b_.organization_id);
  EXPECT_THAT(Call(*keys_, &KS::GetJwks, jwks, a_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(
      v1::GetJwksResponse a_jwks,
      Call(*keys_, &KS::GetJwks, v1::GetJwksRequest(), a_.api_key));
  EXPECT_THAT(a_jwks.jwks_json(), Not(HasSubstr(b_keys.keys(0).key_id())));
}

TEST_F(IsolationE2eTest, AuditIsOwnOnly) {
  v1::ListAuditEventsRequest req;
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse events,
                       Call(*audit_, &AUS::ListAuditEvents, req, a_.api_key));
  for (const auto& e : events.events()) {
    EXPECT_EQ(e.organization_id(), a_.organization_id);
    EXPECT_NE(e.token_id(), b_token_.token().id());
  }
  req.set_token_id(b_token_.token().id());
  ASSERT_OK_AND_ASSIGN(
      events, Call(*audit_, &AUS::ListAuditEvents, req, auditor_a_.api_key));
  EXPECT_EQ(events.events_size(), 0);
  EXPECT_THAT(
      Call(*audit_, &AUS::ListAuditEvents, req, a_.api_key, b_.organization_id),
      StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(IsolationE2eTest, AdminServiceIsClosedToOrganizationKeys) {
  v1::UpdateOrganizationRequest update;
  update.set_organization_id(b_.organization_id);
  update.set_secure_enabled(false);
  EXPECT_THAT(Call(*admin_, &AS::UpdateOrganization, update, a_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::ListApiKeysRequest list;
  list.set_organization_id(b_.organization_id);
  EXPECT_THAT(Call(*admin_, &AS::ListApiKeys, list, a_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::RevokeApiKeyRequest revoke;
  revoke.set_api_key_id(b_.api_key_id);
  EXPECT_THAT(Call(*admin_, &AS::RevokeApiKey, revoke, a_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::CreateApiKeyRequest create;
  create.set_organization_id(b_.organization_id);
  create.set_role(v1::API_KEY_ROLE_ISSUER);
  EXPECT_THAT(Call(*admin_, &AS::CreateApiKey, create, a_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(BTokenVerifies());
}

}  // namespace
}  // namespace token_authority::testing

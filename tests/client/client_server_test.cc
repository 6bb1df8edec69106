// TokenAuthorityClient and the dialogs against the REAL server on loopback
// (tests/testing/test_server.h) over plaintext loopback (TLS and mTLS:
// tls_test.cc).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client/client.h"
#include "client/dialog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::OrgCredentials;
using ::token_authority::testing::StatusIs;
using ::token_authority::testing::TestServer;

class ClientServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(issuer_, server_->CreateOrganizationWithKey(
                                      storage::ApiKeyRole::kIssuer));
    ASSERT_OK_AND_ASSIGN(
        OrgCredentials verifier,
        server_->CreateApiKey("", storage::ApiKeyRole::kVerifier));
    verifier_key_ = verifier.api_key;
  }

  std::unique_ptr<TokenAuthorityClient> Connect(const std::string& api_key,
                                                const std::string& org = "") {
    ClientOptions options;
    options.insecure = true;
    options.api_key = api_key;
    options.organization_id = org;
    options.default_deadline = absl::Seconds(10);
    auto client = TokenAuthorityClient::Create(server_->address(), options);
    EXPECT_THAT(client, IsOk());
    return std::move(client).value();
  }

  v1::IssueTokenRequest GroupToken(const std::string& group,
                                   const std::string& tag = "") {
    v1::IssueTokenRequest r;
    r.mutable_spec()->mutable_target()->set_stream_group_id(group);
    r.mutable_spec()->set_tag(tag);
    return r;
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials issuer_;
  std::string verifier_key_;
};

TEST_F(ClientServerTest, TokenLifecycle) {
  auto issuer = Connect(issuer_.api_key);
  auto verifier = Connect(verifier_key_);

  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                       issuer->IssueToken(GroupToken("grp-1", "spring")));
  EXPECT_FALSE(issued.jwt().empty());
  EXPECT_EQ(issued.token().organization_id(), issuer_.organization_id);
  EXPECT_EQ(issued.token().target().stream_group_id(), "grp-1");
  // The client made up a request id and the server recorded it.
  EXPECT_EQ(issued.token().request_id().size(), 22u);
  // The server's snippet is the client's group snippet.
  EXPECT_EQ(issued.security_config(),
            MakeSecurityConfig(issued.jwt()).group_js);
  const std::string id = issued.token().id();

  v1::GetTokenRequest get;
  get.set_token_id(id);
  ASSERT_OK_AND_ASSIGN(v1::Token got, issuer->GetToken(get));
  EXPECT_EQ(got.tag(), "spring");
  EXPECT_EQ(got.state(), v1::TOKEN_STATE_ACTIVE);

  v1::ListTokensRequest list;
  list.set_tag("spring");
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse listed, issuer->ListTokens(list));
  ASSERT_THAT(listed.tokens(), SizeIs(1));
  EXPECT_EQ(listed.tokens(0).id(), id);

  v1::DecodeTokenRequest decode;
  decode.set_jwt(issued.jwt());
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse decoded,
                       issuer->DecodeToken(decode));
  EXPECT_TRUE(decoded.signature_valid());
  EXPECT_EQ(decoded.token().id(), id);

  v1::VerifyTokenRequest verify;
  verify.set_jwt(issued.jwt());
  verify.set_organization_id(issuer_.organization_id);
  verify.set_stream_group_id("grp-1");
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse ok,
                       verifier->VerifyToken(verify));
  EXPECT_TRUE(ok.allowed()) << ok.detail();

  v1::RevokeTokenRequest revoke;
  revoke.set_token_id(id);
  revoke.set_reason("leaked");
  ASSERT_OK_AND_ASSIGN(v1::Token revoked, issuer->RevokeToken(revoke));
  EXPECT_EQ(revoked.state(), v1::TOKEN_STATE_REVOKED);
  EXPECT_EQ(revoked.revocation_reason(), "leaked");
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse denied,
                       verifier->VerifyToken(verify));
  EXPECT_FALSE(denied.allowed());
  EXPECT_EQ(denied.reason(), v1::DENY_REASON_REVOKED);

  // Bulk: a dry run counts, the real run revokes.
  ASSERT_OK(issuer->IssueToken(GroupToken("grp-2", "summer")).status());
  ASSERT_OK(issuer->IssueToken(GroupToken("grp-3", "summer")).status());
  v1::RevokeTokensRequest bulk;
  bulk.set_tag("summer");
  bulk.set_dry_run(true);
  ASSERT_OK_AND_ASSIGN(v1::RevokeTokensResponse counted,
                       issuer->RevokeTokens(bulk));
  EXPECT_EQ(counted.revoked_count(), 2);
  bulk.set_dry_run(false);
  ASSERT_OK_AND_ASSIGN(v1::RevokeTokensResponse done,
                       issuer->RevokeTokens(bulk));
  EXPECT_EQ(done.revoked_count(), 2);

  v1::ListAuditEventsRequest audit;
  audit.set_token_id(id);
  ASSERT_OK_AND_ASSIGN(v1::ListAuditEventsResponse events,
                       issuer->ListAuditEvents(audit));
  std::vector<std::string> actions;
  for (const auto& e : events.events()) actions.push_back(e.action());
  EXPECT_THAT(actions, Contains("token.issued"));
  EXPECT_THAT(actions, Contains("token.revoked"));
}

TEST_F(ClientServerTest, IssueWithTheSameRequestIdIsTheSameToken) {
  auto issuer = Connect(issuer_.api_key);
  v1::IssueTokenRequest request = GroupToken("grp-1");
  request.set_request_id("order-4711");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse a, issuer->IssueToken(request));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse b, issuer->IssueToken(request));
  EXPECT_EQ(a.token().id(), b.token().id());
  request.mutable_spec()->set_tag("different");
  EXPECT_THAT(issuer->IssueToken(request),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // Without a request id, two calls are two tokens.
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse c,
                       issuer->IssueToken(GroupToken("grp-1")));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse d,
                       issuer->IssueToken(GroupToken("grp-1")));
  EXPECT_NE(c.token().id(), d.token().id());
}

TEST_F(ClientServerTest, KeysAndJwks) {
  auto issuer = Connect(issuer_.api_key);
  ASSERT_OK_AND_ASSIGN(v1::ListSigningKeysResponse keys,
                       issuer->ListSigningKeys({}));
  ASSERT_THAT(keys.keys(), SizeIs(1));
  v1::RotateSigningKeyRequest rotate;
  rotate.set_algorithm(v1::ALGORITHM_EDDSA);
  ASSERT_OK_AND_ASSIGN(v1::RotateSigningKeyResponse rotated,
                       issuer->RotateSigningKey(rotate));
  EXPECT_EQ(rotated.key().algorithm(), v1::ALGORITHM_EDDSA);
  EXPECT_EQ(rotated.key().state(), v1::SIGNING_KEY_STATE_PRIMARY);
  auto verifier = Connect(verifier_key_);
  v1::GetJwksRequest jwks;
  jwks.set_organization_id(issuer_.organization_id);
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse set, verifier->GetJwks(jwks));
  EXPECT_THAT(set.jwks_json(), HasSubstr(rotated.key().key_id()));
}

TEST_F(ClientServerTest, AdminCallsAndActingForAnOrganisation) {
  auto admin = Connect(server_->admin_key());
  v1::CreateOrganizationRequest create;
  create.set_name("Acme Streaming");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(v1::Organization org, admin->CreateOrganization(create));
  EXPECT_EQ(org.name(), "Acme Streaming");

  // x-organization-id: the admin issues for that organisation, per call.
  CallOptions for_org;
  for_org.organization_id = org.id();
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                       admin->IssueToken(GroupToken("g"), for_org));
  EXPECT_EQ(issued.token().organization_id(), org.id());
  // ... or for every call of a client.
  auto acting = Connect(server_->admin_key(), org.id());
  v1::GetTokenRequest get;
  get.set_token_id(issued.token().id());
  EXPECT_OK(acting->GetToken(get).status());

  v1::CreateApiKeyRequest key;
  key.set_organization_id(org.id());
  key.set_role(v1::API_KEY_ROLE_AUDITOR);
  ASSERT_OK_AND_ASSIGN(v1::CreateApiKeyResponse created,
                       admin->CreateApiKey(key));
  EXPECT_FALSE(created.secret().empty());
  v1::ListApiKeysRequest keys;
  keys.set_organization_id(org.id());
  ASSERT_OK_AND_ASSIGN(v1::ListApiKeysResponse listed,
                       admin->ListApiKeys(keys));
  EXPECT_THAT(listed.api_keys(), SizeIs(1));
  v1::RevokeApiKeyRequest revoke;
  revoke.set_api_key_id(created.api_key().id());
  ASSERT_OK_AND_ASSIGN(v1::ApiKey revoked, admin->RevokeApiKey(revoke));
  EXPECT_TRUE(revoked.has_revoked_at());
  auto auditor = Connect(created.secret());
  EXPECT_THAT(auditor->ListTokens({}),
              StatusIs(absl::StatusCode::kUnauthenticated));

  v1::UpdateOrganizationRequest update;
  update.set_organization_id(org.id());
  update.set_secure_enabled(false);
  ASSERT_OK_AND_ASSIGN(v1::Organization updated,
                       admin->UpdateOrganization(update));
  EXPECT_FALSE(updated.secure_enabled());
  EXPECT_THAT(admin->IssueToken(GroupToken("g"), for_org),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("upgrade needed")));
  ASSERT_OK_AND_ASSIGN(v1::ListOrganizationsResponse orgs,
                       admin->ListOrganizations({}));
  EXPECT_GE(orgs.organizations_size(), 2);
}

TEST_F(ClientServerTest, ServerErrorsKeepTheirCodes) {
  auto wrong = Connect("tak_not-a-key");
  EXPECT_THAT(wrong->ListTokens({}),
              StatusIs(absl::StatusCode::kUnauthenticated));
  auto verifier = Connect(verifier_key_);
  EXPECT_THAT(verifier->IssueToken(GroupToken("g")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  auto issuer = Connect(issuer_.api_key);
  v1::IssueTokenRequest bad;
  bad.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      "a b");
  bad.mutable_spec()->set_domain("not a domain");
  absl::StatusOr<v1::IssueTokenResponse> refused = issuer->IssueToken(bad);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("stream_names")));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("domain")));
  // Another organisation's token is NOT_FOUND.
  ASSERT_OK_AND_ASSIGN(OrgCredentials other, server_->CreateOrganizationWithKey(
                                                 storage::ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse theirs,
                       Connect(other.api_key)->IssueToken(GroupToken("g")));
  v1::GetTokenRequest get;
  get.set_token_id(theirs.token().id());
  EXPECT_THAT(issuer->GetToken(get), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ClientServerTest, WatchOrganizationStatesStreamsSnapshotAndChanges) {
  auto verifier = Connect(verifier_key_);
  auto issuer = Connect(issuer_.api_key);
  v1::WatchOrganizationStatesRequest request;
  request.add_organization_ids(issuer_.organization_id);
  CallOptions call;
  call.deadline = absl::Seconds(30);  // bounds every Next below
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OrganizationStateStream> stream,
                       verifier->WatchOrganizationStates(request, call));
  v1::OrganizationStateEvent event;
  ASSERT_TRUE(stream->Next(&event));
  EXPECT_EQ(event.organization_id(), issuer_.organization_id);
  EXPECT_TRUE(event.snapshot());
  EXPECT_TRUE(event.secure_enabled());
  EXPECT_EQ(event.jwks_sha256().size(), 64u);
  const std::string digest = event.jwks_sha256();
  ASSERT_OK(issuer->RotateSigningKey(v1::RotateSigningKeyRequest()).status());
  ASSERT_TRUE(stream->Next(&event));
  EXPECT_FALSE(event.snapshot());
  EXPECT_NE(event.jwks_sha256(), digest);
  stream->Cancel();
  while (stream->Next(&event)) {
  }
  EXPECT_THAT(stream->Finish(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(stream->Finish(),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // The server's refusal arrives through Finish with its code.
  ASSERT_OK_AND_ASSIGN(stream, issuer->WatchOrganizationStates(
                                   v1::WatchOrganizationStatesRequest()));
  ASSERT_TRUE(stream->Next(&event));  // an issuer's own organisation
  EXPECT_EQ(event.organization_id(), issuer_.organization_id);
  stream.reset();  // cancels
  request.set_organization_ids(0, "org_00000000000000ff");
  ASSERT_OK_AND_ASSIGN(stream,
                       verifier->WatchOrganizationStates(request, call));
  EXPECT_FALSE(stream->Next(&event));
  EXPECT_THAT(stream->Finish(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ClientServerTest, UnavailableWhileStoppedThenReconnects) {
  ClientOptions options;
  options.insecure = true;
  options.api_key = issuer_.api_key;
  options.retry.max_attempts = 2;
  options.retry.initial_backoff = absl::Milliseconds(20);
  options.default_deadline = absl::Seconds(5);
  ASSERT_OK_AND_ASSIGN(
      auto issuer, TokenAuthorityClient::Create(server_->address(), options));
  ASSERT_OK(issuer->ListTokens({}).status());
  server_->Stop();
  EXPECT_THAT(issuer->ListTokens({}), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK(server_->Restart());
  // The same client reaches the restarted server once its channel has
  // reconnected (polled with a deadline; gRPC's reconnect backoff decides
  // when).
  const absl::Time deadline = Clock::Real().Now() + absl::Seconds(20);
  absl::Status last;
  do {
    last = issuer->ListTokens({}).status();
  } while (!last.ok() && Clock::Real().Now() < deadline);
  EXPECT_OK(last);
}

TEST_F(ClientServerTest, DeadlineIsHonoured) {
  // The client turns a call's deadline into gRPC's absolute deadline from its
  // own clock. With that clock a minute behind, a one-second deadline has
  // already passed for gRPC, so the call must fail whatever the machine's
  // speed (a 1 ns deadline from the real clock reached gRPC as about 1 ms,
  // and a fast ListTokens sometimes answered in time). Without the deadline
  // the call would succeed (the control below).
  FakeClock behind(Clock::Real().Now() - absl::Minutes(1));
  ClientOptions options;
  options.insecure = true;
  options.api_key = issuer_.api_key;
  options.default_deadline = absl::Seconds(10);
  options.clock = &behind;
  ASSERT_OK_AND_ASSIGN(
      auto issuer, TokenAuthorityClient::Create(server_->address(), options));
  CallOptions one_second;
  one_second.deadline = absl::Seconds(1);
  EXPECT_THAT(issuer->ListTokens({}, one_second),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  // The control: the same call from a client on the real clock.
  CallOptions ten_seconds;
  ten_seconds.deadline = absl::Seconds(10);
  EXPECT_THAT(Connect(issuer_.api_key)->ListTokens({}, ten_seconds), IsOk());
}

TEST_F(ClientServerTest, DialogCreatesTheTokenAndTheOverview) {
  auto issuer = Connect(issuer_.api_key);
  ASSERT_OK_AND_ASSIGN(
      PageLocation page,
      ParsePagePath("https://dashboard.example/playout/grp-7/"));
  DialogForm form = DialogForPage(page).defaults;
  form.user_id = "viewer-1";
  form.domain = "*.example.com";
  ASSERT_OK_AND_ASSIGN(DialogOutcome outcome,
                       CreateTokenFromForm(*issuer, form, Clock::Real()));
  ASSERT_TRUE(outcome.problems.empty()) << FormatProblems(outcome.problems);
  ASSERT_TRUE(outcome.overview.has_value());
  const TokenOverview& o = *outcome.overview;
  EXPECT_EQ(o.target, "entire stream group grp-7");
  EXPECT_EQ(o.expires_relative, "in 14 days");
  EXPECT_EQ(o.not_before_relative, "now");
  EXPECT_EQ(o.user_id, "viewer-1");
  EXPECT_EQ(o.domain, "*.example.com");
  EXPECT_FALSE(o.key_id.empty());
  EXPECT_EQ(o.security_config.entry_js,
            absl::StrCat("h5live: { security: { jwtoken: \"", o.jwt, "\" } }"));

  // The same overview for the pasted JWT.
  ASSERT_OK_AND_ASSIGN(
      TokenOverview pasted,
      OverviewForJwt(*issuer, " " + o.jwt + "\n", Clock::Real()));
  EXPECT_EQ(pasted.token_id, o.token_id);
  EXPECT_EQ(pasted.key_id, o.key_id);
  EXPECT_EQ(pasted.target, o.target);
  EXPECT_EQ(pasted.expires_at, o.expires_at);
  EXPECT_TRUE(pasted.signature_valid.value_or(false));
  EXPECT_TRUE(pasted.problems.empty());

  // The server's limits are the dialog's: a form the dialog accepts but the
  // server refuses comes back as problems.
  form.lifetime = "";
  form.expires = "2001-01-01T00:00:00Z";  // caught by the dialog already
  ASSERT_OK_AND_ASSIGN(DialogOutcome past,
                       CreateTokenFromForm(*issuer, form, Clock::Real()));
  ASSERT_EQ(past.problems.size(), 1u);
  EXPECT_EQ(past.problems[0].field, "expires");
}

}  // namespace
}  // namespace token_authority::client

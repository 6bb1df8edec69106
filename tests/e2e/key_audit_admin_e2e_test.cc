// KeyService, AuditService and AdminService end to end, plus health and
// reflection: every RPC's success and each error code.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
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

class KeyAuditAdminE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        issuer_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    org_ = issuer_.organization_id;
    ASSERT_OK_AND_ASSIGN(verifier_,
                         server_->CreateApiKey("", ApiKeyRole::kVerifier));
    ASSERT_OK_AND_ASSIGN(auditor_,
                         server_->CreateApiKey(org_, ApiKeyRole::kAuditor));
    admin_ = server_->admin_key();
    keys_ = server_->KeyStub();
    audit_ = server_->AuditStub();
    admin_stub_ = server_->AdminStub();
    tokens_ = server_->TokenStub();
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials issuer_, verifier_, auditor_;
  std::string org_, admin_;
  std::unique_ptr<KS> keys_;
  std::unique_ptr<AUS> audit_;
  std::unique_ptr<AS> admin_stub_;
  std::unique_ptr<TS> tokens_;
};

TEST_F(KeyAuditAdminE2eTest, ListAndRotateSigningKeys) {
  v1::ListSigningKeysRequest list;
  ASSERT_OK_AND_ASSIGN(
      v1::ListSigningKeysResponse keys,
      Call(*keys_, &KS::ListSigningKeys, list, issuer_.api_key));
  ASSERT_EQ(keys.keys_size(), 1);
  EXPECT_EQ(keys.keys(0).algorithm(), v1::ALGORITHM_ES256);
  EXPECT_EQ(keys.keys(0).state(), v1::SIGNING_KEY_STATE_PRIMARY);
  EXPECT_EQ(keys.keys(0).organization_id(), org_);

  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse before,
                       Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key));

  for (v1::Algorithm alg : {v1::ALGORITHM_RS256, v1::ALGORITHM_EDDSA,
                            v1::ALGORITHM_HS256, v1::ALGORITHM_UNSPECIFIED}) {
    v1::RotateSigningKeyRequest rotate;
    rotate.set_algorithm(alg);
    ASSERT_OK_AND_ASSIGN(
        v1::RotateSigningKeyResponse r,
        Call(*keys_, &KS::RotateSigningKey, rotate, issuer_.api_key));
    EXPECT_EQ(r.key().algorithm(),
              alg == v1::ALGORITHM_UNSPECIFIED ? v1::ALGORITHM_ES256 : alg);
    EXPECT_EQ(r.key().state(), v1::SIGNING_KEY_STATE_PRIMARY);
    ASSERT_OK_AND_ASSIGN(
        v1::IssueTokenResponse t,
        Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key));
    EXPECT_EQ(t.token().key_id(), r.key().key_id());
    v1::VerifyTokenRequest verify;
    verify.set_jwt(t.jwt());
    verify.set_organization_id(org_);
    verify.set_stream_name("cam1");
    ASSERT_OK_AND_ASSIGN(
        v1::VerifyTokenResponse v,
        Call(*tokens_, &TS::VerifyToken, verify, verifier_.api_key));
    EXPECT_TRUE(v.allowed()) << v.detail();
  }
  v1::VerifyTokenRequest verify;
  verify.set_jwt(before.jwt());
  verify.set_organization_id(org_);
  verify.set_stream_name("cam1");
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Call(*tokens_, &TS::VerifyToken, verify, verifier_.api_key));
  EXPECT_TRUE(v.allowed()) << v.detail();

  ASSERT_OK_AND_ASSIGN(
      keys, Call(*keys_, &KS::ListSigningKeys, list, issuer_.api_key));
  EXPECT_EQ(keys.keys_size(), 5);
  EXPECT_EQ(keys.keys(0).state(), v1::SIGNING_KEY_STATE_PRIMARY);
  for (int i = 1; i < keys.keys_size(); ++i) {
    EXPECT_EQ(keys.keys(i).state(), v1::SIGNING_KEY_STATE_ACTIVE);
  }

  v1::RotateSigningKeyRequest bad;
  bad.set_algorithm(static_cast<v1::Algorithm>(99));
  EXPECT_THAT(
      Call(*keys_, &KS::RotateSigningKey, bad, issuer_.api_key),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("algorithm")));
  v1::RotateSigningKeyRequest ok;
  EXPECT_THAT(Call(*keys_, &KS::RotateSigningKey, ok, auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(*keys_, &KS::ListSigningKeys, list, verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(*keys_, &KS::ListSigningKeys, list, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(KeyAuditAdminE2eTest, GetJwks) {
  v1::GetJwksRequest req;
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse own,
                       Call(*keys_, &KS::GetJwks, req, issuer_.api_key));
  EXPECT_THAT(own.jwks_json(), HasSubstr("\"keys\""));
  EXPECT_THAT(own.jwks_json(), HasSubstr("\"P-256\""));
  EXPECT_THAT(own.jwks_json(), Not(HasSubstr("\"d\"")));
  req.set_organization_id(org_);
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse by_verifier,
                       Call(*keys_, &KS::GetJwks, req, verifier_.api_key));
  EXPECT_EQ(by_verifier.jwks_json(), own.jwks_json());
  req.clear_organization_id();
  EXPECT_THAT(Call(*keys_, &KS::GetJwks, req, verifier_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  req.set_organization_id("ghost");
  EXPECT_THAT(Call(*keys_, &KS::GetJwks, req, verifier_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  req.set_organization_id(org_);
  EXPECT_THAT(Call(*keys_, &KS::GetJwks, req, auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  req.clear_organization_id();
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse by_admin,
                       Call(*keys_, &KS::GetJwks, req, admin_, org_));
  EXPECT_EQ(by_admin.jwks_json(), own.jwks_json());
}

TEST_F(KeyAuditAdminE2eTest, ListAuditEvents) {
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  issue.mutable_spec()->set_tag("audited");
  issue.set_request_id("req-audit");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t,
                       Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key));
  v1::RevokeTokenRequest rev;
  rev.set_token_id(t.token().id());
  rev.set_reason("because");
  ASSERT_OK(Call(*tokens_, &TS::RevokeToken, rev, issuer_.api_key).status());

  v1::ListAuditEventsRequest req;
  req.set_token_id(t.token().id());
  ASSERT_OK_AND_ASSIGN(
      v1::ListAuditEventsResponse events,
      Call(*audit_, &AUS::ListAuditEvents, req, auditor_.api_key));
  ASSERT_EQ(events.events_size(), 2);
  EXPECT_EQ(events.events(0).action(), "token.revoked");  // newest first
  EXPECT_EQ(events.events(1).action(), "token.issued");
  EXPECT_EQ(events.events(1).actor(), issuer_.api_key_id);
  EXPECT_EQ(events.events(1).request_id(), "req-audit");
  EXPECT_EQ(events.events(1).tag(), "audited");
  EXPECT_EQ(events.events(1).organization_id(), org_);

  req.Clear();
  req.set_action("token.issued");
  ASSERT_OK_AND_ASSIGN(
      events, Call(*audit_, &AUS::ListAuditEvents, req, issuer_.api_key));
  EXPECT_EQ(events.events_size(), 1);
  req.set_action("no.such.action");
  EXPECT_THAT(
      Call(*audit_, &AUS::ListAuditEvents, req, issuer_.api_key),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action")));
  req.Clear();
  EXPECT_THAT(Call(*audit_, &AUS::ListAuditEvents, req, verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // The admin without an organisation: service-wide events (key creation).
  ASSERT_OK_AND_ASSIGN(events,
                       Call(*audit_, &AUS::ListAuditEvents, req, admin_));
  EXPECT_GT(events.events_size(), 0);
  for (const auto& e : events.events()) EXPECT_EQ(e.organization_id(), "");
  ASSERT_OK_AND_ASSIGN(events,
                       Call(*audit_, &AUS::ListAuditEvents, req, admin_, org_));
  for (const auto& e : events.events()) EXPECT_EQ(e.organization_id(), org_);
}

TEST_F(KeyAuditAdminE2eTest, Organizations) {
  v1::CreateOrganizationRequest create;
  create.set_name("Broadcaster");
  create.set_secure_enabled(false);
  ASSERT_OK_AND_ASSIGN(
      v1::Organization org,
      Call(*admin_stub_, &AS::CreateOrganization, create, admin_));
  EXPECT_EQ(org.name(), "Broadcaster");
  EXPECT_FALSE(org.secure_enabled());
  EXPECT_FALSE(org.id().empty());
  EXPECT_TRUE(org.has_created_at());

  v1::UpdateOrganizationRequest update;
  update.set_organization_id(org.id());
  update.set_secure_enabled(true);
  update.set_name("Broadcaster GmbH");
  ASSERT_OK_AND_ASSIGN(
      v1::Organization updated,
      Call(*admin_stub_, &AS::UpdateOrganization, update, admin_));
  EXPECT_TRUE(updated.secure_enabled());
  EXPECT_EQ(updated.name(), "Broadcaster GmbH");
  update.set_organization_id("ghost");
  EXPECT_THAT(Call(*admin_stub_, &AS::UpdateOrganization, update, admin_),
              StatusIs(absl::StatusCode::kNotFound));

  v1::ListOrganizationsRequest list;
  list.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(
      v1::ListOrganizationsResponse page,
      Call(*admin_stub_, &AS::ListOrganizations, list, admin_));
  EXPECT_EQ(page.organizations_size(), 1);
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  ASSERT_OK_AND_ASSIGN(
      v1::ListOrganizationsResponse page2,
      Call(*admin_stub_, &AS::ListOrganizations, list, admin_));
  EXPECT_EQ(page2.organizations_size(), 1);
  EXPECT_NE(page2.organizations(0).id(), page.organizations(0).id());

  create.set_name("");
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateOrganization, create, admin_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  create.set_name("x");
  for (const std::string& key :
       {issuer_.api_key, verifier_.api_key, auditor_.api_key}) {
    EXPECT_THAT(Call(*admin_stub_, &AS::CreateOrganization, create, key),
                StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(Call(*admin_stub_, &AS::ListOrganizations, list, key),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateOrganization, create, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(KeyAuditAdminE2eTest, ApiKeys) {
  v1::CreateApiKeyRequest create;
  create.set_organization_id(org_);
  create.set_role(v1::API_KEY_ROLE_ISSUER);
  ASSERT_OK_AND_ASSIGN(v1::CreateApiKeyResponse created,
                       Call(*admin_stub_, &AS::CreateApiKey, create, admin_));
  EXPECT_EQ(created.api_key().role(), v1::API_KEY_ROLE_ISSUER);
  EXPECT_EQ(created.api_key().organization_id(), org_);
  EXPECT_THAT(created.secret(), HasSubstr(created.api_key().id()));

  // The new key works at once.
  v1::ListSigningKeysRequest probe;
  EXPECT_OK(
      Call(*keys_, &KS::ListSigningKeys, probe, created.secret()).status());

  v1::ListApiKeysRequest list;
  list.set_organization_id(org_);
  ASSERT_OK_AND_ASSIGN(v1::ListApiKeysResponse keys,
                       Call(*admin_stub_, &AS::ListApiKeys, list, admin_));
  EXPECT_EQ(keys.api_keys_size(), 3);  // issuer, auditor, the new one
  list.clear_organization_id();
  ASSERT_OK_AND_ASSIGN(keys,
                       Call(*admin_stub_, &AS::ListApiKeys, list, admin_));
  EXPECT_EQ(keys.api_keys_size(), 5);  // + bootstrap admin, verifier
  // Secrets are never listed.
  for (const auto& k : keys.api_keys()) {
    EXPECT_THAT(k.DebugString(), Not(HasSubstr(created.secret())));
  }

  v1::RevokeApiKeyRequest revoke;
  revoke.set_api_key_id(created.api_key().id());
  ASSERT_OK_AND_ASSIGN(v1::ApiKey revoked,
                       Call(*admin_stub_, &AS::RevokeApiKey, revoke, admin_));
  EXPECT_TRUE(revoked.has_revoked_at());
  ASSERT_OK_AND_ASSIGN(v1::ApiKey again,
                       Call(*admin_stub_, &AS::RevokeApiKey, revoke, admin_));
  EXPECT_EQ(again.revoked_at().seconds(), revoked.revoked_at().seconds());
  EXPECT_THAT(Call(*keys_, &KS::ListSigningKeys, probe, created.secret()),
              StatusIs(absl::StatusCode::kUnauthenticated));
  list.set_organization_id(org_);
  ASSERT_OK_AND_ASSIGN(keys,
                       Call(*admin_stub_, &AS::ListApiKeys, list, admin_));
  EXPECT_EQ(keys.api_keys_size(), 2);
  list.set_include_revoked(true);
  ASSERT_OK_AND_ASSIGN(keys,
                       Call(*admin_stub_, &AS::ListApiKeys, list, admin_));
  EXPECT_EQ(keys.api_keys_size(), 3);

  // Errors.
  revoke.set_api_key_id("kffffffffffffffff");
  EXPECT_THAT(Call(*admin_stub_, &AS::RevokeApiKey, revoke, admin_),
              StatusIs(absl::StatusCode::kNotFound));
  create.set_role(v1::API_KEY_ROLE_UNSPECIFIED);
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateApiKey, create, admin_),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("role")));
  create.set_role(v1::API_KEY_ROLE_ADMIN);
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateApiKey, create, admin_),
              StatusIs(absl::StatusCode::kInvalidArgument));
  create.set_role(v1::API_KEY_ROLE_AUDITOR);
  create.set_organization_id("ghost");
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateApiKey, create, admin_),
              StatusIs(absl::StatusCode::kNotFound));
  list.set_organization_id("ghost");
  EXPECT_THAT(Call(*admin_stub_, &AS::ListApiKeys, list, admin_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Call(*admin_stub_, &AS::CreateApiKey, create, issuer_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(*admin_stub_, &AS::RevokeApiKey, revoke, issuer_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(*admin_stub_, &AS::ListApiKeys, list, auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(KeyAuditAdminE2eTest, DisablingSecureStopsIssueAndVerify) {
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t,
                       Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key));
  v1::UpdateOrganizationRequest update;
  update.set_organization_id(org_);
  update.set_secure_enabled(false);
  ASSERT_OK(
      Call(*admin_stub_, &AS::UpdateOrganization, update, admin_).status());
  EXPECT_THAT(Call(*tokens_, &TS::IssueToken, issue, issuer_.api_key),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("upgrade needed")));
  v1::VerifyTokenRequest verify;
  verify.set_jwt(t.jwt());
  verify.set_organization_id(org_);
  verify.set_stream_name("cam1");
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Call(*tokens_, &TS::VerifyToken, verify, verifier_.api_key));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_ORGANIZATION_DISABLED);
}

}  // namespace
}  // namespace token_authority::testing

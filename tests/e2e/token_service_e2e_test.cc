#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using ::testing::HasSubstr;
using TS = v1::TokenService::Stub;

class TokenServiceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        issuer_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    ASSERT_OK_AND_ASSIGN(
        verifier_,
        server_->CreateApiKey(issuer_.organization_id, ApiKeyRole::kVerifier));
    stub_ = server_->TokenStub();
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials issuer_;
  OrgCredentials verifier_;
  std::unique_ptr<TS> stub_;
};

TEST_F(TokenServiceE2eTest, IssueThenVerify) {
  v1::IssueTokenRequest req;
  *req.mutable_spec() = StreamsSpec({"cam1"});
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                       Call(*stub_, &TS::IssueToken, req, issuer_.api_key));
  EXPECT_EQ(issued.token().organization_id(), issuer_.organization_id);
  EXPECT_THAT(issued.security_config(), HasSubstr(issued.jwt()));

  v1::VerifyTokenRequest vreq;
  vreq.set_jwt(issued.jwt());
  vreq.set_organization_id(issuer_.organization_id);
  vreq.set_stream_name("cam1");
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v,
                       Call(*stub_, &TS::VerifyToken, vreq, verifier_.api_key));
  EXPECT_TRUE(v.allowed()) << v.detail();
  EXPECT_EQ(v.token_id(), issued.token().id());
}

}  // namespace
}  // namespace token_authority::testing

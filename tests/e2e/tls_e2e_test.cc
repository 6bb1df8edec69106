// TLS and mutual TLS end to end, with certificates made in the test by
// OpenSSL. API keys still apply on top of client certificates.
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/test_certs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using KS = v1::KeyService::Stub;
using TS = v1::TokenService::Stub;

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(
    const std::string& root_pem, const PemPair* client = nullptr) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = root_pem;
  if (client != nullptr) {
    o.pem_cert_chain = client->cert_pem;
    o.pem_private_key = client->key_pem;
  }
  return grpc::SslCredentials(o);
}

// Whether an authenticated call over `channel` succeeds; its status.
absl::Status Probe(const std::shared_ptr<grpc::Channel>& channel,
                   const std::string& api_key) {
  auto stub = v1::KeyService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  if (!api_key.empty()) TestServer::Authorize(&context, api_key);
  v1::ListSigningKeysRequest req;
  v1::ListSigningKeysResponse resp;
  return convert::FromGrpcStatus(stub->ListSigningKeys(&context, req, &resp));
}

class TlsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, TestCa::Create("token-authority test CA"));
    ASSERT_OK_AND_ASSIGN(server_cert_, ca_->Issue("localhost", true));
    ASSERT_OK_AND_ASSIGN(client_cert_, ca_->Issue("edge-1", false));
    ASSERT_OK_AND_ASSIGN(other_ca_, TestCa::Create("someone else's CA"));
    ASSERT_OK_AND_ASSIGN(foreign_client_, other_ca_->Issue("intruder", false));
  }

  std::unique_ptr<TestCa> ca_, other_ca_;
  PemPair server_cert_, client_cert_, foreign_client_;
};

TEST_F(TlsE2eTest, TlsServesEveryServiceAndRefusesPlaintext) {
  TestServerOptions o;
  o.tls_cert_pem = server_cert_.cert_pem;
  o.tls_key_pem = server_cert_.key_pem;
  o.channel_credentials = TlsCredentials(ca_->cert_pem());
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(o));
  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  EXPECT_OK(Probe(server->NewChannel(), issuer.api_key));
  // API keys still apply.
  EXPECT_THAT(Probe(server->NewChannel(), ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // A full issue over TLS.
  auto tokens = server->TokenStub();
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  EXPECT_OK(Call(*tokens, &TS::IssueToken, issue, issuer.api_key).status());
  // Plaintext to a TLS port fails; so does TLS that does not trust the CA.
  EXPECT_THAT(Probe(grpc::CreateChannel(server->address(),
                                        grpc::InsecureChannelCredentials()),
                    issuer.api_key),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Probe(server->NewChannelWithCredentials(
                        TlsCredentials(other_ca_->cert_pem())),
                    issuer.api_key),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsE2eTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  TestServerOptions o;
  o.tls_cert_pem = server_cert_.cert_pem;
  o.tls_key_pem = server_cert_.key_pem;
  o.client_ca_pem = ca_->cert_pem();
  o.channel_credentials = TlsCredentials(ca_->cert_pem(), &client_cert_);
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(o));
  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  EXPECT_OK(Probe(server->NewChannel(), issuer.api_key));
  EXPECT_THAT(Probe(server->NewChannel(), ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // No client certificate, or one from another CA: refused.
  EXPECT_THAT(
      Probe(server->NewChannelWithCredentials(TlsCredentials(ca_->cert_pem())),
            issuer.api_key),
      StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Probe(server->NewChannelWithCredentials(
                        TlsCredentials(ca_->cert_pem(), &foreign_client_)),
                    issuer.api_key),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TlsE2eTest, InconsistentTlsOptionsAreRefused) {
  TestServerOptions o;
  o.tls_cert_pem = server_cert_.cert_pem;
  EXPECT_THAT(TestServer::Start(o),
              StatusIs(absl::StatusCode::kInvalidArgument));
  TestServerOptions m;
  m.client_ca_pem = ca_->cert_pem();
  EXPECT_THAT(TestServer::Start(m),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("client-ca")));
}

}  // namespace
}  // namespace token_authority::testing

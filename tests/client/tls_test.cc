// TLS and mutual TLS, with certificates made in the test by OpenSSL
// (tests/e2e/test_certs.h): the client library and the tokenctl binary
// against the real server.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/tokenctl_runner.h"
#include "tests/e2e/test_certs.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::token_authority::testing::StatusIs;
using ::token_authority::testing::TestServer;
using ::token_authority::testing::TestServerOptions;

TEST(ClientTlsTest, TlsAndMutualTls) {
  using ::token_authority::testing::PemPair;
  using ::token_authority::testing::TestCa;
  ASSERT_OK_AND_ASSIGN(auto ca, TestCa::Create("test ca"));
  ASSERT_OK_AND_ASSIGN(PemPair server_pem, ca->Issue("localhost", true));
  ASSERT_OK_AND_ASSIGN(PemPair client_pem, ca->Issue("edge-1", false));
  TestServerOptions options;
  options.tls_cert_pem = server_pem.cert_pem;
  options.tls_key_pem = server_pem.key_pem;
  options.client_ca_pem = ca->cert_pem();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca->cert_pem();
  ssl.pem_cert_chain = client_pem.cert_pem;
  ssl.pem_private_key = client_pem.key_pem;
  options.channel_credentials = grpc::SslCredentials(ssl);
  options.ssl_target_name_override = "localhost";
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(options));

  ClientOptions mtls;
  mtls.api_key = server->admin_key();
  mtls.tls_root_ca_pem = ca->cert_pem();
  mtls.tls_client_cert_pem = client_pem.cert_pem;
  mtls.tls_client_key_pem = client_pem.key_pem;
  mtls.tls_server_name = "localhost";
  mtls.retry.max_attempts = 1;
  ASSERT_OK_AND_ASSIGN(auto client,
                       TokenAuthorityClient::Create(server->address(), mtls));
  EXPECT_OK(client->ListOrganizations({}).status());

  // Without the client certificate the handshake fails.
  ClientOptions tls_only = mtls;
  tls_only.tls_client_cert_pem.clear();
  tls_only.tls_client_key_pem.clear();
  ASSERT_OK_AND_ASSIGN(
      auto no_cert, TokenAuthorityClient::Create(server->address(), tls_only));
  EXPECT_THAT(no_cert->ListOrganizations({}),
              StatusIs(absl::StatusCode::kUnavailable));
  // Plaintext to a TLS server fails too.
  ClientOptions plain;
  plain.insecure = true;
  plain.api_key = server->admin_key();
  plain.retry.max_attempts = 1;
  ASSERT_OK_AND_ASSIGN(auto plaintext,
                       TokenAuthorityClient::Create(server->address(), plain));
  EXPECT_THAT(plaintext->ListOrganizations({}),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(TokenctlTlsTest, MutualTls) {
  using ::token_authority::testing::PemPair;
  using ::token_authority::testing::TestCa;
  auto ca = TestCa::Create("test ca");
  ASSERT_TRUE(ca.ok());
  auto server_pem = (*ca)->Issue("localhost", true);
  auto client_pem = (*ca)->Issue("ops", false);
  ASSERT_TRUE(server_pem.ok() && client_pem.ok());
  TestServerOptions options;
  options.tls_cert_pem = server_pem->cert_pem;
  options.tls_key_pem = server_pem->key_pem;
  options.client_ca_pem = (*ca)->cert_pem();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = (*ca)->cert_pem();
  ssl.pem_cert_chain = client_pem->cert_pem;
  ssl.pem_private_key = client_pem->key_pem;
  options.channel_credentials = grpc::SslCredentials(ssl);
  options.ssl_target_name_override = "localhost";
  auto server = TestServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  TempDir dir;
  WriteFile(dir.File("ca.pem"), (*ca)->cert_pem());
  WriteFile(dir.File("cert.pem"), client_pem->cert_pem);
  WriteFile(dir.File("key.pem"), client_pem->key_pem);
  const std::vector<std::string> base = {
      "--server",         (*server)->address(), "--tls-ca",
      dir.File("ca.pem"), "--tls-server-name",  "localhost"};
  std::vector<std::string> mtls = base;
  mtls.insert(mtls.end(), {"--tls-cert", dir.File("cert.pem"), "--tls-key",
                           dir.File("key.pem"), "admin", "org"});
  std::vector<std::string> create = mtls;
  create.insert(create.end(), {"create", "Over TLS"});
  Result created = Tokenctl(dir, create, (*server)->admin_key());
  EXPECT_EQ(created.code, 0) << created.err;
  std::vector<std::string> list = mtls;
  list.push_back("list");
  Result ok = Tokenctl(dir, list, (*server)->admin_key());
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, StartsWith("ID"));
  EXPECT_THAT(ok.out, HasSubstr("Over TLS"));
  std::vector<std::string> no_cert = base;
  no_cert.insert(no_cert.end(), {"--timeout", "3s", "admin", "org", "list"});
  Result refused = Tokenctl(dir, no_cert, (*server)->admin_key());
  EXPECT_EQ(refused.code, 1);
  EXPECT_THAT(refused.err, IsOneLine());
  std::vector<std::string> half = base;
  half.insert(half.end(),
              {"--tls-cert", dir.File("cert.pem"), "admin", "org", "list"});
  EXPECT_EQ(Tokenctl(dir, half, (*server)->admin_key()).code, 2);
}

}  // namespace
}  // namespace token_authority::client

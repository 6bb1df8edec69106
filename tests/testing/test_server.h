// TestServer: the REAL token-authority server started in-process on
// 127.0.0.1:0 with a real SQLite database in a temporary data directory, for
// end-to-end tests of the server, the client library and tokenctl.
//
//   ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start());
//   ASSERT_OK_AND_ASSIGN(auto org, server->CreateOrganizationWithKey(
//                                      storage::ApiKeyRole::kIssuer));
//   auto stub = v1::TokenService::NewStub(server->NewChannel());
//   grpc::ClientContext ctx;
//   TestServer::Authorize(&ctx, org.api_key);
//
// Thread-safety: the accessors are safe to call from any thread; Restart and
// Stop must not race with each other or with the destructor.
#ifndef TESTS_TESTING_TEST_SERVER_H_
#define TESTS_TESTING_TEST_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "server/authority_server.h"
#include "server/call_log.h"
#include "storage/token_store.h"
#include "tests/testing/temp_dir.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/audit_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::testing {

namespace v1 = ::tokenauthority::v1;

struct TestServerOptions {
  // Use a FakeClock starting at `fake_clock_start` instead of the real
  // clock (the server, store and core all read it). Note that gRPC deadlines
  // still use real time.
  bool use_fake_clock = false;
  absl::Time fake_clock_start = absl::FromUnixSeconds(1767225600);  // 2026

  // Server settings (the defaults of the binary).
  server::TokenAuthorityOptions authority;
  // Plaintext unless tls_cert_pem and tls_key_pem are given; client_ca_pem
  // turns on mutual TLS.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string client_ca_pem;
  // Credentials for NewChannel() and the admin helpers (TLS servers need
  // them); null: plaintext. `ssl_target_name_override` is applied with them.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  std::string ssl_target_name_override;

  // Applied to the server's options last, on every (re)start: for settings
  // not listed here (keepalive enforcement, thread counts, ...).
  std::function<void(server::AuthorityServerOptions&)> adjust_server_options;

  // An existing data directory to use (e.g. to test start-up on given
  // files); empty: a fresh temporary directory, removed by the destructor.
  std::string data_dir;
  // Keep the temporary directory after the fixture is destroyed.
  bool keep_data_dir = false;
};

// An organisation and one API key of it.
struct OrgCredentials {
  std::string organization_id;
  std::string api_key_id;
  std::string api_key;  // the secret, for "authorization: Bearer ..."
};

class TestServer {
 public:
  // Starts a server. Errors are the server's (see AuthorityServer::Start).
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(
      TestServerOptions options = {});
  // Stops the server and removes the temporary data directory (unless kept).
  ~TestServer();

  // "127.0.0.1:<port>". Stays the same across Restart().
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // The bootstrap admin key's secret (read from <data_dir>/admin.key).
  const std::string& admin_key() const { return admin_key_; }
  const std::string& data_dir() const { return data_dir_; }
  // The fake clock, or nullptr when the real clock is used.
  FakeClock* clock() { return fake_clock_.get(); }
  // Every call line the server logged so far (kept across restarts).
  std::string CallLogContents() const { return call_log_->Contents(); }
  // The running server (nullptr while stopped), for direct access to the
  // core and the store.
  server::AuthorityServer* server() { return server_.get(); }
  const TestServerOptions& options() const { return options_; }

  // Stops the server (calls in flight finish within `grace`) and starts it
  // again on the same data directory and port. Existing channels reconnect.
  absl::Status Restart(absl::Duration grace = absl::Seconds(5));
  // Stops the server; Restart() starts it again.
  void Stop(absl::Duration grace = absl::Seconds(5));

  // A channel to the server with options().channel_credentials (plaintext
  // when unset).
  std::shared_ptr<grpc::Channel> NewChannel() const;
  std::shared_ptr<grpc::Channel> NewChannelWithCredentials(
      std::shared_ptr<grpc::ChannelCredentials> credentials,
      const std::string& ssl_target_name_override = "") const;
  std::unique_ptr<v1::TokenService::Stub> TokenStub() const;
  std::unique_ptr<v1::KeyService::Stub> KeyStub() const;
  std::unique_ptr<v1::AuditService::Stub> AuditStub() const;
  std::unique_ptr<v1::AdminService::Stub> AdminStub() const;

  // Adds "authorization: Bearer <api_key>" and, when given,
  // "x-organization-id" to `context`.
  static void Authorize(grpc::ClientContext* context,
                        const std::string& api_key,
                        const std::string& organization_id = "");

  // Admin calls over gRPC with the bootstrap admin key, on NewChannel().
  absl::StatusOr<v1::Organization> CreateOrganization(
      const std::string& name = "test organization", bool secure = true);
  absl::StatusOr<OrgCredentials> CreateApiKey(
      const std::string& organization_id, storage::ApiKeyRole role);
  // A new organisation (secure unless `secure` is false) and a key of `role`.
  absl::StatusOr<OrgCredentials> CreateOrganizationWithKey(
      storage::ApiKeyRole role, bool secure = true);

 private:
  explicit TestServer(TestServerOptions options);
  absl::Status StartServer();

  TestServerOptions options_;
  std::unique_ptr<FakeClock> fake_clock_;
  std::unique_ptr<server::MemoryCallLog> call_log_;
  std::unique_ptr<server::AuthorityServer> server_;
  std::string data_dir_;
  // The temporary data directory, unless given or kept.
  std::optional<TempDir> temp_dir_;
  int port_ = 0;
  std::string address_;
  std::string admin_key_;
};

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_TEST_SERVER_H_

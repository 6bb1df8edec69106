// DialogGateway: the HTTP(S) server of token-dialogs. Serves the dashboard
// pages with the <secure-token-dialog> component (pages.h) and the JSON API
// (dialog_api.h) under /api/:
//   GET  /api/form?page=/stream/ID      the dialog, its description, the
//                                       organisation's package, a CSRF token
//   POST /api/validate   {"form"}       every problem; creates nothing
//   POST /api/tokens     {"form"}       creates: overview + snippets (201)
//   POST /api/decode     {"jwt"}        the overview of a pasted token
//   GET  /api/tokens?page=...&tag=&user_id=&state=&page_size=&page_token=
//   POST /api/revoke     {"token_id", "reason"}
// Every response carries SecurityHeaders(); every POST must be same-origin
// (CheckSameOrigin) and carry the CSRF cookie and X-CSRF-Token (csrf.h);
// bodies are at most kMaxBodyBytes and must be JSON (400 otherwise). The
// browser never sees the gateway's API key: only the client holds it.
#ifndef CLIENT_WEB_GATEWAY_H_
#define CLIENT_WEB_GATEWAY_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "client/client.h"
#include "token/token_spec.h"

namespace httplib {
class Server;
}

namespace token_authority::client::web {

class DialogApi;
class CsrfGuard;

struct GatewayOptions {
  // "host:port"; port 0 picks a free port (see port()).
  std::string listen = "127.0.0.1:8080";
  // Both or neither: PEM files of the certificate chain and its key; HTTPS
  // when given.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The authority's lifetime limits (its --max-lifetime).
  token::TokenLimits limits;
  // How long a page waits for the organisation's state.
  absl::Duration state_timeout = absl::Seconds(5);
  // Injected for tests; nullptr: the real clock and the secure source. Not
  // owned; must outlive the gateway.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
};

class DialogGateway {
 public:
  // Binds `options.listen` and serves on a thread of its own until Stop()
  // or destruction. InvalidArgument for a malformed listen address or half
  // a TLS pair; FailedPrecondition when the TLS files cannot be loaded;
  // Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<DialogGateway>> Start(
      GatewayOptions options, std::unique_ptr<TokenAuthorityClient> client);
  ~DialogGateway();
  DialogGateway(const DialogGateway&) = delete;
  DialogGateway& operator=(const DialogGateway&) = delete;

  // The bound port and "host:port".
  int port() const { return port_; }
  std::string address() const;
  // "http" or "https".
  const char* scheme() const { return tls_ ? "https" : "http"; }
  // Stops serving; idempotent.
  void Stop();

 private:
  DialogGateway(GatewayOptions options,
                std::unique_ptr<TokenAuthorityClient> client);
  void Route();

  const GatewayOptions options_;
  const bool tls_;
  std::unique_ptr<TokenAuthorityClient> client_;
  std::unique_ptr<DialogApi> api_;
  std::unique_ptr<CsrfGuard> csrf_;
  std::unique_ptr<httplib::Server> http_;
  std::string host_;
  int port_ = 0;
  std::thread thread_;
};

// Splits "host:port" ("[::1]:8080" for IPv6). InvalidArgument naming
// --listen otherwise.
absl::Status ParseListen(const std::string& listen, std::string* host,
                         int* port);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_GATEWAY_H_

// token-dialogs: the inline secure token dialog of the dashboard on the web.
// Serves the dashboard pages with the <secure-token-dialog> component and
// its JSON API (gateway.h), talking to token-authority over gRPC with an
// issuer API key that never reaches a browser. Every flag can also be set
// by an environment variable (gateway_flags.h).
//
// Prints one line when it listens and serves until SIGTERM or SIGINT:
//   token-dialogs listening on http://127.0.0.1:8080 (authority
//   127.0.0.1:50051)
// A start-up error is one line on stderr and exit 1.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/web/gateway.h"
#include "client/web/gateway_flags.h"

namespace {

namespace web = token_authority::client::web;

int Fail(const std::string& message) {
  std::fprintf(stderr, "token-dialogs: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<web::GatewayFlags> flags =
      web::ParseGatewayFlags(argc, argv, token_authority::ProcessEnvironment());
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (!flags->help.empty()) {
    std::fputs(flags->help.c_str(), stdout);
    return 0;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto client = token_authority::client::TokenAuthorityClient::Create(
      flags->authority, flags->client);
  if (!client.ok()) return Fail(std::string(client.status().message()));
  auto gateway = web::DialogGateway::Start(flags->gateway, *std::move(client));
  if (!gateway.ok()) return Fail(std::string(gateway.status().message()));
  std::printf("token-dialogs listening on %s://%s (authority %s)\n",
              (*gateway)->scheme(), (*gateway)->address().c_str(),
              flags->authority.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  (*gateway)->Stop();
  return 0;
}

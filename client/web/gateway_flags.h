// The command line of token-dialogs: every flag, its environment variable
// (named after the flag: TD_LISTEN for --listen) and its default, parsed
// into what DialogGateway::Start and TokenAuthorityClient::Create take.
#ifndef CLIENT_WEB_GATEWAY_FLAGS_H_
#define CLIENT_WEB_GATEWAY_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/environment.h"
#include "client/client.h"
#include "client/web/gateway.h"

namespace token_authority::client::web {

struct GatewayFlags {
  GatewayOptions gateway;
  std::string authority;  // --authority: the gRPC target
  ClientOptions client;   // the API key, TLS towards the authority
  // Not empty when --help or --version was given: the text for stdout.
  std::string help;
};

// Parses `argv` and, for each flag not given there, its variable from
// `env` (an empty value counts as unset). Reads the API key file (required;
// its content without surrounding whitespace) and the --authority-ca file.
// InvalidArgument naming the flag for a usage error or a bad duration;
// FailedPrecondition for a file that cannot be read or an empty key file.
absl::StatusOr<GatewayFlags> ParseGatewayFlags(int argc,
                                               const char* const* argv,
                                               const Environment& env);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_GATEWAY_FLAGS_H_

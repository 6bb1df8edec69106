// Run(): builds the command line (global flags, then each command group in
// the order of --help), parses it and runs the command that was given. The
// commands live in one file per group (commands.h); what they share, in
// command.h.
#include "client/tokenctl/tokenctl.h"

#include <exception>
#include <optional>
#include <utility>

#include "CLI/CLI.hpp"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"

#ifndef TA_VERSION
#error "TA_VERSION (CMake's PROJECT_VERSION) must be defined"
#endif

namespace token_authority::client::tokenctl {
namespace {

int Main(const std::vector<std::string>& args, Environment& env) {
  Context context(env);
  CommandList commands;  // outlives `app`, which points into its flags
  CLI::App app{
      "tokenctl: issue, inspect, verify and revoke secure playback tokens of "
      "the token authority.",
      "tokenctl"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show the help of every command");
  app.set_version_flag("--version", TA_VERSION,
                       "Print tokenctl's version and exit");
  AddGlobalFlags(app, &context.globals());
  AddTokenCommands(app, commands);
  AddKeyCommands(app, commands);
  AddAuditCommand(app, commands);
  AddAdminCommands(app, commands);
  AddDialogCommand(app, commands);

  if (std::optional<int> done = ParseCommandLine(app, args, context)) {
    return *done;
  }
  context.ApplyEnvironment(app);
  if (std::optional<int> rc = commands.RunParsed(app, context)) return *rc;
  context.err() << "tokenctl: no command given; run 'tokenctl --help'\n";
  return kExitUsage;
}

}  // namespace

ClientFactory DefaultClientFactory() {
  return [](const ConnectionOptions& c)
             -> absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> {
    ClientOptions options;
    options.api_key = c.api_key;
    options.organization_id = c.as_organization;
    options.insecure = !c.tls;
    options.tls_root_ca_pem = c.tls_ca_pem;
    options.tls_client_cert_pem = c.tls_cert_pem;
    options.tls_client_key_pem = c.tls_key_pem;
    options.tls_server_name = c.tls_server_name;
    options.default_deadline = c.timeout;
    return TokenAuthorityClient::Create(c.server, options);
  };
}

int Run(const std::vector<std::string>& args, Environment& env) {
  try {
    return Main(args, env);
  } catch (const std::exception& e) {
    *env.err << "tokenctl: internal error: " << e.what() << "\n";
    return kExitServerFailure;
  }
}

}  // namespace token_authority::client::tokenctl

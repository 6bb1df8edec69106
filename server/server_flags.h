// The command line of the token-authority binary: every flag, its
// environment variable and its default (README "Flags of token-authority"),
// parsed into the options AuthorityServer::Start takes. main.cc only prints
// what this returns.
#ifndef SERVER_SERVER_FLAGS_H_
#define SERVER_SERVER_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/environment.h"
#include "server/authority_server.h"

namespace token_authority::server {

// What the command line asks for.
struct ServerFlags {
  // What to start; the PEM options hold the files' contents.
  AuthorityServerOptions server;
  // --shutdown-grace: how long calls in flight may take after SIGTERM/SIGINT.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Not empty when --help or --version was given: the text for stdout. Then
  // nothing else is set and the binary exits 0 without starting.
  std::string help;
};

// Parses `argv` (argv[0] is the program's name, shown by --help) and, for
// each flag not given there, its environment variable from `env` (an empty
// value counts as unset). Reads the PEM files the TLS flags name; writes
// nothing. Errors, each naming the flag ("--leeway: ..."):
//  - InvalidArgument for an unknown flag, a missing or unconvertible value or
//    a value out of range (CLI11's checks), and for a malformed duration;
//  - FailedPrecondition for a PEM file that cannot be read.
// ReportFlagError says how the binary reports each. Thread-compatible.
absl::StatusOr<ServerFlags> ParseFlags(int argc, const char* const* argv,
                                       const Environment& env);

// How the binary reports a ParseFlags error: like every other start-up error,
// one line "token-authority: <message>" on stderr and exit code 1 (CLI11's
// own checks keep their wording in <message>).
struct FlagErrorReport {
  std::string text;
  int exit_code = 1;
};
FlagErrorReport ReportFlagError(const absl::Status& error);

}  // namespace token_authority::server

#endif  // SERVER_SERVER_FLAGS_H_

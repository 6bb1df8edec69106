// tokenctl, the ops CLI of the token authority, as a library: Run() takes the
// arguments, the standard streams and a client factory, so tests can drive
// every command in-process; main.cc only wires it to the process.
//
// Exit codes (kExitCodesHelp, also the footer of `tokenctl --help`):
//   0 success;
//   1 the server failed or refused (unreachable, unauthenticated, not
//     found, ...), except for bad input;
//   2 bad input, whoever found it: bad flags or values, unreadable files, a
//     form with problems, or the server's INVALID_ARGUMENT;
//   3 the token is denied (verify) or invalid (decode: its signature does
//     not verify);
//   4 aborted: a confirmation was answered no (or, with --json, not given
//     with --yes); nothing was changed.
// Errors go to `err` as one line saying what to do; hints ("next page: ...")
// go to `err` too, so stdout holds only data. With --json, stdout gets
// exactly one JSON document once tokenctl started: the result, or the error
// {"error": {"code", "exit_code", "message", "problems": [{"field",
// "message"}]}} ("code" is the server's status code name, INVALID_ARGUMENT
// for every bad input, or ABORTED) — command-line errors included.
#ifndef CLIENT_TOKENCTL_TOKENCTL_H_
#define CLIENT_TOKENCTL_TOKENCTL_H_

#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client/client.h"

namespace token_authority::client::tokenctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDenied = 3;
inline constexpr int kExitAborted = 4;

// The exit codes in one paragraph, for --help and the README.
inline constexpr char kExitCodesHelp[] =
    "Exit codes: 0 ok; 1 server failure (unreachable, refused, not found); "
    "2 bad input, found by tokenctl or by the server (INVALID_ARGUMENT); 3 "
    "token denied (verify) or invalid (decode); 4 aborted (a confirmation "
    "was answered no; nothing changed). With --json, errors are one JSON "
    "document on stdout: {\"error\": {\"code\", \"exit_code\", "
    "\"message\", \"problems\": [{\"field\", \"message\"}]}}.";

// How to reach the server, as the global flags say.
struct ConnectionOptions {
  std::string server;  // "host:port"
  std::string api_key;
  bool tls = false;          // TLS (with tls_ca_pem, or the system's roots)
  std::string tls_ca_pem;    // --tls-ca contents
  std::string tls_cert_pem;  // --tls-cert contents (mTLS)
  std::string tls_key_pem;   // --tls-key contents (mTLS)
  std::string tls_server_name;
  std::string as_organization;  // --as-org: x-organization-id for admins
  absl::Duration timeout = absl::Seconds(10);
};

// Makes the client for a command. Called at most once per Run, only by
// commands that talk to the server.
using ClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<TokenAuthorityClient>>(
        const ConnectionOptions&)>;

// TokenAuthorityClient::Create with the options above.
ClientFactory DefaultClientFactory();

// What a run may touch. Not owned.
struct Environment {
  std::istream* in = nullptr;   // confirmations, "-" arguments
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // one-line errors, prompts
  ClientFactory client_factory = DefaultClientFactory();
  const Clock* clock = nullptr;  // nullptr: the real clock
  // Reads an environment variable (TOKENCTL_API_KEY); nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// Runs tokenctl with `args` (argv without the program name) and returns the
// exit code. Never throws. Thread-compatible (one run per Environment).
int Run(const std::vector<std::string>& args, Environment& env);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_TOKENCTL_H_

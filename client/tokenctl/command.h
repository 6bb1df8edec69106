// What every tokenctl command shares (internal to tokenctl): the global
// flags, the run's Context (streams, clock, the client made on demand, the
// error and output helpers that keep the exit codes and the one-JSON-document
// promise of tokenctl.h), the list of leaf commands, and the parsing of the
// command line.
//
// Each command group (tokens.cc, keys.cc, audit.cc, admin.cc,
// dialog_command.cc; declared in commands.h) registers its subcommands with
// flags of its own on a CommandList; tokenctl.cc builds the command line and
// runs the leaf that was parsed.
#ifndef CLIENT_TOKENCTL_COMMAND_H_
#define CLIENT_TOKENCTL_COMMAND_H_

#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "client/client.h"
#include "client/tokenctl/tokenctl.h"
#include "nlohmann/json.hpp"

namespace token_authority::client::tokenctl {

// The flags before (or after) any command.
struct GlobalFlags {
  std::string server = "127.0.0.1:50051";
  std::string api_key_file;
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string as_org;
  std::string timeout = "10s";
  bool json = false;
};

// Adds the global flags to the root command; they are written to `flags`
// when the command line is parsed (`flags` must outlive `app`'s parsing).
void AddGlobalFlags(CLI::App& app, GlobalFlags* flags);

// OK when `address` (the value of `source`: "--server" or
// "TOKENCTL_SERVER") is "host:port" or "[ipv6]:port" with a port of 1 to
// 65535; else InvalidArgumentError naming `source` and saying how to write
// it (a scheme such as https:// is refused: TLS is --tls).
absl::Status CheckServerAddress(absl::string_view address,
                                absl::string_view source);

// One problem with one input, for the JSON error document: the field (a
// flag such as "--ip", a form field, or a field the server named), what is
// wrong, and for form fields the flag that sets it.
struct Problem {
  std::string field;
  std::string message;
  std::string flag;  // may be empty
};

// The problems in a server's INVALID_ARGUMENT message ("field: description;
// field: description", as the server writes them); parts that name no field
// get an empty field.
std::vector<Problem> ProblemsFromMessage(absl::string_view message);

// The contents of the file at `path`, or InvalidArgumentError naming `flag`
// and the path.
absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path);

// One run of one command: what it may touch and how it reports. Every
// reporting method returns the exit code to return from the command.
// Thread-compatible; lives as long as the run.
class Context {
 public:
  // `env` must outlive the context; its streams must be set.
  explicit Context(Environment& env);

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  std::istream& in() { return *env_.in; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  const Clock& clock() const { return clock_; }
  GlobalFlags& globals() { return globals_; }
  bool json() const { return globals_.json; }

  // The command being run ("issue", "keys rotate", ...), for messages.
  const std::string& command() const { return command_; }
  void set_command(std::string command) { command_ = std::move(command); }

  // Applies TOKENCTL_SERVER and the TLS variables (TOKENCTL_TLS,
  // TOKENCTL_TLS_CA, TOKENCTL_TLS_CERT, TOKENCTL_TLS_KEY,
  // TOKENCTL_TLS_SERVER_NAME; each when set and not empty) unless its flag
  // was given on `app`. Called once after parsing.
  void ApplyEnvironment(const CLI::App& app);

  // The client, made on the first call from the global flags (API key from
  // --api-key-file, else TOKENCTL_API_KEY) through the environment's
  // factory. A failure here is local (usage): report it with Failure().
  absl::StatusOr<TokenAuthorityClient*> Client();
  // The options of each call: the client's defaults.
  CallOptions Call() const { return CallOptions{}; }

  // "tokenctl <command>: <message>" on stderr (and the JSON error document,
  // code INVALID_ARGUMENT, with `problems`); returns kExitUsage.
  int Usage(absl::string_view message,
            const std::vector<Problem>& problems = {});
  // The server's failure with a hint on what to do, on stderr (and the JSON
  // error document). Returns kExitUsage for INVALID_ARGUMENT (bad input,
  // whoever found it; the problems parsed from the message), else
  // kExitServerFailure.
  int ServerFailure(const absl::Status& status);
  // A status from Client(): Usage for local problems, else ServerFailure.
  int Failure(const absl::Status& status);
  // Nothing was done because it was not confirmed: "tokenctl <command>:
  // aborted: <message>" on stderr and the JSON error document (code ABORTED)
  // with `details` merged into it at the top level; returns kExitAborted.
  int Aborted(absl::string_view message,
              const nlohmann::json& details = nlohmann::json::object());
  // With --json and no document printed yet: the error document on stdout,
  // {"error": {"code", "exit_code", "message", "problems": [{"field",
  // "message"[, "flag"]}]}}, with `details`' members beside "error".
  void JsonError(absl::string_view code, absl::string_view message,
                 int exit_code, const std::vector<Problem>& problems = {},
                 const nlohmann::json& details = nlohmann::json::object());
  // A hint for people ("next page: ..."): one line on stderr, never mixed
  // into the data on stdout.
  void Hint(absl::string_view text);
  // Asks `question` on stderr ("... [y/N] ") and reads one line of stdin;
  // true only for y or yes (any case). Never asks with --json (scripts
  // confirm with --yes): false.
  bool Confirm(absl::string_view question);

  // The result: `doc` with --json, else `human`. Returns kExitOk.
  int Emit(const nlohmann::json& doc, const std::string& human);
  // `doc` as the result in both modes. Returns kExitOk.
  int EmitJson(const nlohmann::json& doc);

 private:
  absl::StatusOr<ConnectionOptions> Connection() const;

  Environment& env_;
  std::ostream& out_;
  std::ostream& err_;
  const Clock& clock_;
  GlobalFlags globals_;
  std::string server_source_ = "--server";  // or TOKENCTL_SERVER
  std::string command_;
  bool local_failure_ = false;
  bool emitted_ = false;  // a JSON document went to stdout
  std::unique_ptr<TokenAuthorityClient> client_;
};

// The leaf commands, in the order they were added, each with what runs it.
class CommandList {
 public:
  using RunFn = std::function<int(Context&)>;

  // Adds the subcommand `name` to `parent`, run by `run` when parsed. The
  // flags `run` reads are usually held by it (a shared_ptr captured by the
  // lambda), so they live as long as this list.
  CLI::App* Add(CLI::App* parent, const char* name, const char* help,
                RunFn run);

  // Runs the leaf that `root` parsed, after naming it in `context` ("admin
  // org create"). nullopt when no leaf was parsed.
  std::optional<int> RunParsed(const CLI::App& root, Context& context) const;

 private:
  struct Leaf {
    CLI::App* app;
    RunFn run;
  };
  std::vector<Leaf> leaves_;
};

// Parses `args` (argv without the program name) into `app`. Handles --help
// and --help-all (printed on context.out()), --version, and parse errors:
// one line on context.err() naming the deepest command reached (an unknown
// command is named, with the nearest known one), and with --json among
// `args` the error document on context.out(). nullopt when the command line
// parsed and the command should run, else the exit code.
std::optional<int> ParseCommandLine(CLI::App& app,
                                    const std::vector<std::string>& args,
                                    Context& context);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_COMMAND_H_

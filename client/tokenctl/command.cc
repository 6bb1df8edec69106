#include "client/tokenctl/command.h"

#include <exception>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/tokenctl/output.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {
namespace {

// What to tell a person about a server failure, by code.
std::string Hint(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
      return "check --server and that the token authority is running";
    case absl::StatusCode::kDeadlineExceeded:
      return "the server did not answer in time; try again or raise --timeout";
    case absl::StatusCode::kUnauthenticated:
      return "check the API key (--api-key-file or TOKENCTL_API_KEY)";
    case absl::StatusCode::kPermissionDenied:
      return "use an API key whose role allows this";
    case absl::StatusCode::kNotFound:
      return "check the ID (and the organisation the key acts for)";
    case absl::StatusCode::kInvalidArgument:
      return "fix the values named above";
    case absl::StatusCode::kAlreadyExists:
      return "use a new --request-id for a different token";
    case absl::StatusCode::kFailedPrecondition:
      return "ask an administrator to enable it";
    default:
      return "try again; if it persists, check the server's log";
  }
}

// Reads the TLS files of the global flags into `c`.
absl::Status ReadTlsFiles(const GlobalFlags& globals, ConnectionOptions* c) {
  if (!globals.tls_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("--tls-ca", globals.tls_ca);
    if (!ca.ok()) return ca.status();
    c->tls_ca_pem = *ca;
  }
  if (globals.tls_cert.empty() != globals.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key go together (mTLS)");
  }
  if (!globals.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadFile("--tls-cert", globals.tls_cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile("--tls-key", globals.tls_key);
    if (!key.ok()) return key.status();
    c->tls_cert_pem = *cert;
    c->tls_key_pem = *key;
  }
  c->tls = globals.tls || !c->tls_ca_pem.empty() || !c->tls_cert_pem.empty();
  return absl::OkStatus();
}

// The command line's "tokenctl sub sub" as far as it was parsed.
std::string DeepestCommand(const CLI::App& app) {
  std::string where = "tokenctl";
  const CLI::App* at = &app;
  while (true) {
    auto subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    absl::StrAppend(&where, " ", at->get_name());
  }
  return where;
}

}  // namespace

void AddGlobalFlags(CLI::App& app, GlobalFlags* flags) {
  app.add_option("--server", flags->server,
                 "The token authority's address (host:port; default: "
                 "$TOKENCTL_SERVER, else 127.0.0.1:50051)");
  app.add_option("--api-key-file", flags->api_key_file,
                 "A file holding the API key (default: $TOKENCTL_API_KEY)");
  app.add_flag("--tls", flags->tls,
               "Use TLS, trusting the system's CA certificates");
  app.add_option("--tls-ca", flags->tls_ca,
                 "Use TLS, trusting this CA certificate (PEM file)");
  app.add_option("--tls-cert", flags->tls_cert,
                 "Client certificate for mTLS (PEM file)");
  app.add_option("--tls-key", flags->tls_key,
                 "Client private key for mTLS (PEM file)");
  app.add_option("--tls-server-name", flags->tls_server_name,
                 "Expect this name in the server's certificate");
  app.add_option("--as-org", flags->as_org,
                 "Admin keys: act for this organisation (x-organization-id)");
  app.add_option("--timeout", flags->timeout,
                 "Deadline of each call, e.g. 10s, 2m")
      ->capture_default_str();
  app.add_flag("--json", flags->json,
               "Print one JSON document on stdout (for scripts)");
}

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read file \"", path, "\""));
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Context -------------------------------------------------------------------

Context::Context(Environment& env)
    : env_(env),
      out_(*env.out),
      err_(*env.err),
      clock_(env.clock != nullptr ? *env.clock : Clock::Real()) {}

void Context::ApplyEnvironment(const CLI::App& app) {
  if (app.count("--server") == 0 && env_.getenv) {
    std::optional<std::string> server = env_.getenv("TOKENCTL_SERVER");
    if (server.has_value() && !server->empty()) globals_.server = *server;
  }
}

absl::StatusOr<ConnectionOptions> Context::Connection() const {
  ConnectionOptions c;
  c.server = globals_.server;
  if (!globals_.api_key_file.empty()) {
    absl::StatusOr<std::string> key =
        ReadFile("--api-key-file", globals_.api_key_file);
    if (!key.ok()) return key.status();
    c.api_key = std::string(absl::StripAsciiWhitespace(*key));
  } else if (env_.getenv) {
    c.api_key = env_.getenv("TOKENCTL_API_KEY").value_or("");
  }
  if (c.api_key.empty()) {
    return absl::InvalidArgumentError(
        "no API key: pass --api-key-file FILE or set TOKENCTL_API_KEY");
  }
  if (absl::Status tls = ReadTlsFiles(globals_, &c); !tls.ok()) return tls;
  c.tls_server_name = globals_.tls_server_name;
  c.as_organization = globals_.as_org;
  absl::StatusOr<absl::Duration> timeout =
      token::ParseDuration(globals_.timeout);
  if (!timeout.ok() || *timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout \"", globals_.timeout,
                     "\" is not a positive duration such as 10s or 2m"));
  }
  c.timeout = *timeout;
  return c;
}

absl::StatusOr<TokenAuthorityClient*> Context::Client() {
  if (client_ != nullptr) return client_.get();
  local_failure_ = true;
  absl::StatusOr<ConnectionOptions> connection = Connection();
  if (!connection.ok()) return connection.status();
  absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> client =
      env_.client_factory(*connection);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  local_failure_ = false;
  return client_.get();
}

int Context::Usage(absl::string_view message) {
  err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
       << message << "\n";
  JsonError("USAGE", message, kExitUsage);
  return kExitUsage;
}

int Context::ServerFailure(const absl::Status& status) {
  err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
       << status.message() << " (" << absl::StatusCodeToString(status.code())
       << "); " << Hint(status.code()) << "\n";
  JsonError(absl::StatusCodeToString(status.code()), status.message(),
            kExitServerFailure);
  return kExitServerFailure;
}

int Context::Failure(const absl::Status& status) {
  return local_failure_ ? Usage(status.message()) : ServerFailure(status);
}

void Context::JsonError(absl::string_view code, absl::string_view message,
                        int exit_code) {
  if (!globals_.json || emitted_) return;
  out_ << DumpJson({{"error",
                     {{"code", std::string(code)},
                      {"message", std::string(message)},
                      {"exit_code", exit_code}}}});
  emitted_ = true;
}

int Context::Emit(const nlohmann::json& doc, const std::string& human) {
  if (globals_.json) return EmitJson(doc);
  out_ << human;
  return kExitOk;
}

int Context::EmitJson(const nlohmann::json& doc) {
  out_ << DumpJson(doc);
  emitted_ = true;
  return kExitOk;
}

// CommandList ---------------------------------------------------------------

CLI::App* CommandList::Add(CLI::App* parent, const char* name, const char* help,
                           RunFn run) {
  CLI::App* sub = parent->add_subcommand(name, help);
  leaves_.push_back({sub, std::move(run)});
  return sub;
}

std::optional<int> CommandList::RunParsed(const CLI::App& root,
                                          Context& context) const {
  for (const Leaf& leaf : leaves_) {
    if (!leaf.app->parsed()) continue;
    std::vector<std::string> names;
    for (const CLI::App* a = leaf.app; a != nullptr && a != &root;
         a = a->get_parent()) {
      names.insert(names.begin(), a->get_name());
    }
    context.set_command(absl::StrJoin(names, " "));
    return leaf.run(context);
  }
  return std::nullopt;
}

// Parsing -------------------------------------------------------------------

std::optional<int> ParseCommandLine(CLI::App& app,
                                    const std::vector<std::string>& args,
                                    Context& context) {
  std::vector<const char*> argv = {"tokenctl"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    app.exit(e, context.out(), context.err());
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e, context.out(), context.err());
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // Name the deepest command that was reached, for the hint.
    const std::string where = DeepestCommand(app);
    std::string what = e.what();
    if (what.empty()) what = "bad command line";
    context.err() << where << ": " << what << "; run '" << where
                  << " --help' for usage\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    context.err() << "tokenctl: " << e.what() << "\n";
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace token_authority::client::tokenctl

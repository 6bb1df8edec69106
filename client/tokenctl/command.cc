#include "client/tokenctl/command.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/tokenctl/output.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {
namespace {

// What to tell a person about a server failure, by code.
std::string WhatToDo(absl::StatusCode code) {
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
      return "fix the values it names";
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

}  // namespace

void AddGlobalFlags(CLI::App& app, GlobalFlags* flags) {
  app.add_option("--server", flags->server,
                 "The token authority's address, host:port or [ipv6]:port, "
                 "without a scheme (default: $TOKENCTL_SERVER, else "
                 "127.0.0.1:50051)");
  app.add_option("--api-key-file", flags->api_key_file,
                 "A file holding the API key (without this flag: the key "
                 "itself from $TOKENCTL_API_KEY)");
  app.add_flag("--tls", flags->tls,
               "Use TLS, trusting the system's CA certificates (default: "
               "$TOKENCTL_TLS=1)");
  app.add_option("--tls-ca", flags->tls_ca,
                 "Use TLS, trusting this CA certificate (PEM file; default: "
                 "$TOKENCTL_TLS_CA)");
  app.add_option("--tls-cert", flags->tls_cert,
                 "Client certificate for mTLS (PEM file; default: "
                 "$TOKENCTL_TLS_CERT)");
  app.add_option("--tls-key", flags->tls_key,
                 "Client private key for mTLS (PEM file; default: "
                 "$TOKENCTL_TLS_KEY)");
  app.add_option("--tls-server-name", flags->tls_server_name,
                 "Expect this name in the server's certificate (default: "
                 "$TOKENCTL_TLS_SERVER_NAME)");
  app.add_option("--as-org", flags->as_org,
                 "Admin keys: act for this organisation (x-organization-id)");
  app.add_option("--timeout", flags->timeout,
                 "Deadline of each call, e.g. 10s, 2m")
      ->capture_default_str();
  app.add_flag("--json", flags->json,
               "Print one JSON document on stdout (for scripts)");
}

absl::Status CheckServerAddress(absl::string_view address,
                                absl::string_view source) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " \"", absl::CEscape(address), "\": ", why));
  };
  if (address.empty()) return bad("empty; give host:port");
  if (const size_t scheme = address.find("://");
      scheme != absl::string_view::npos) {
    const bool https = absl::StartsWithIgnoreCase(address, "https://");
    std::string rest(absl::StripSuffix(address.substr(scheme + 3), "/"));
    if (!absl::StrContains(rest, ':')) {
      absl::StrAppend(&rest, https ? ":443" : ":50051");
    }
    return bad(absl::StrCat("give host:port without a scheme, e.g. ",
                            source == "--server" ? "--server " : "", rest,
                            https ? " with --tls" : "",
                            " (tokenctl speaks gRPC; TLS is --tls)"));
  }
  absl::string_view host = address;
  absl::string_view port;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return bad("no port after the IPv6 address; give [ipv6]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return bad(
          absl::StrCat("no port; give host:port, e.g. ", address, ":50051"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return bad("write an IPv6 address in brackets, e.g. [::1]:50051");
    }
  }
  int number = 0;
  if (port.empty() || !absl::c_all_of(port, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return bad(absl::StrCat("the port \"", absl::CEscape(port),
                            "\" is not a number from 1 to 65535"));
  }
  if (host.empty()) return bad("no host; give host:port");
  return absl::OkStatus();
}

std::vector<Problem> ProblemsFromMessage(absl::string_view message) {
  std::vector<Problem> problems;
  for (absl::string_view part : absl::StrSplit(message, "; ")) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    const size_t colon = part.find(": ");
    const absl::string_view field =
        colon == absl::string_view::npos ? "" : part.substr(0, colon);
    const bool named = !field.empty() && absl::c_all_of(field, [](char c) {
      return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '[' ||
             c == ']' || c == '-';
    });
    if (named) {
      problems.push_back(
          {std::string(field), std::string(part.substr(colon + 2)), ""});
    } else {
      problems.push_back({"", std::string(part), ""});
    }
  }
  return problems;
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
  if (!env_.getenv) return;
  auto from_env = [&](const char* flag, const char* variable,
                      std::string* value) {
    if (app.count(flag) > 0) return false;
    std::optional<std::string> v = env_.getenv(variable);
    if (!v.has_value() || v->empty()) return false;
    *value = *v;
    return true;
  };
  if (from_env("--server", "TOKENCTL_SERVER", &globals_.server)) {
    server_source_ = "TOKENCTL_SERVER";
  }
  from_env("--tls-ca", "TOKENCTL_TLS_CA", &globals_.tls_ca);
  from_env("--tls-cert", "TOKENCTL_TLS_CERT", &globals_.tls_cert);
  from_env("--tls-key", "TOKENCTL_TLS_KEY", &globals_.tls_key);
  from_env("--tls-server-name", "TOKENCTL_TLS_SERVER_NAME",
           &globals_.tls_server_name);
  std::string tls;
  if (from_env("--tls", "TOKENCTL_TLS", &tls)) {
    tls = absl::AsciiStrToLower(tls);
    globals_.tls = tls == "1" || tls == "true" || tls == "yes" || tls == "on";
  }
}

absl::StatusOr<ConnectionOptions> Context::Connection() const {
  ConnectionOptions c;
  if (absl::Status st = CheckServerAddress(globals_.server, server_source_);
      !st.ok()) {
    return st;
  }
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

int Context::Usage(absl::string_view message,
                   const std::vector<Problem>& problems) {
  err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
       << message << "\n";
  JsonError(absl::StatusCodeToString(absl::StatusCode::kInvalidArgument),
            message, kExitUsage, problems);
  return kExitUsage;
}

int Context::ServerFailure(const absl::Status& status) {
  const bool bad_input = status.code() == absl::StatusCode::kInvalidArgument;
  const int exit_code = bad_input ? kExitUsage : kExitServerFailure;
  err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_ << ": "
       << status.message() << " (" << absl::StatusCodeToString(status.code())
       << "); " << WhatToDo(status.code()) << "\n";
  JsonError(absl::StatusCodeToString(status.code()), status.message(),
            exit_code,
            bad_input ? ProblemsFromMessage(status.message())
                      : std::vector<Problem>{});
  return exit_code;
}

int Context::Failure(const absl::Status& status) {
  return local_failure_ ? Usage(status.message()) : ServerFailure(status);
}

int Context::Aborted(absl::string_view message, const nlohmann::json& details) {
  err_ << "tokenctl" << (command_.empty() ? "" : " ") << command_
       << ": aborted: " << message << "\n";
  JsonError("ABORTED", message, kExitAborted, {}, details);
  return kExitAborted;
}

void Context::JsonError(absl::string_view code, absl::string_view message,
                        int exit_code, const std::vector<Problem>& problems,
                        const nlohmann::json& details) {
  if (!globals_.json || emitted_) return;
  nlohmann::json list = nlohmann::json::array();
  for (const Problem& p : problems) {
    nlohmann::json j = {{"field", p.field}, {"message", p.message}};
    if (!p.flag.empty()) j["flag"] = p.flag;
    list.push_back(std::move(j));
  }
  nlohmann::json doc = details.is_object() ? details : nlohmann::json::object();
  doc["error"] = {{"code", std::string(code)},
                  {"exit_code", exit_code},
                  {"message", std::string(message)},
                  {"problems", std::move(list)}};
  out_ << DumpJson(doc);
  emitted_ = true;
}

void Context::Hint(absl::string_view text) { err_ << text << "\n"; }

bool Context::Confirm(absl::string_view question) {
  if (globals_.json) return false;
  err_ << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(*env_.in, answer);
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  return answer == "y" || answer == "yes";
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

}  // namespace token_authority::client::tokenctl

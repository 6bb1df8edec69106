#include "client/web/gateway_flags.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "token/time_util.h"

namespace token_authority::client::web {
namespace {

struct FlagValues {
  std::string listen = "127.0.0.1:8080";
  std::string authority = "127.0.0.1:50051";
  std::string api_key_file;
  std::string tls_cert, tls_key;
  std::string authority_ca;
  std::string authority_tls;  // "true"/"1": TLS with the system's roots
  std::string max_lifetime = "365d";
};

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    return absl::FailedPreconditionError(
        absl::StrCat(flag, ": cannot read ", path));
  }
  return text.str();
}

// The values CLI11 cannot check: files and durations.
absl::StatusOr<GatewayFlags> ToFlags(const FlagValues& v) {
  GatewayFlags flags;
  flags.gateway.listen = v.listen;
  flags.gateway.tls_cert_file = v.tls_cert;
  flags.gateway.tls_key_file = v.tls_key;
  flags.authority = v.authority;
  absl::StatusOr<absl::Duration> max = token::ParseDuration(v.max_lifetime);
  if (!max.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-lifetime: ", max.status().message()));
  }
  flags.gateway.limits.max_lifetime = *max;
  if (v.api_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--api-key-file: required (a file with an issuer API key of the "
        "organisation)");
  }
  absl::StatusOr<std::string> key = ReadFile("--api-key-file", v.api_key_file);
  if (!key.ok()) return key.status();
  flags.client.api_key = std::string(absl::StripAsciiWhitespace(*key));
  if (flags.client.api_key.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--api-key-file: ", v.api_key_file, " is empty"));
  }
  const std::string tls = absl::AsciiStrToLower(v.authority_tls);
  flags.client.insecure = v.authority_ca.empty() && tls != "true" && tls != "1";
  if (!v.authority_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile("--authority-ca", v.authority_ca);
    if (!ca.ok()) return ca.status();
    flags.client.tls_root_ca_pem = *std::move(ca);
  }
  return flags;
}

}  // namespace

absl::StatusOr<GatewayFlags> ParseGatewayFlags(int argc,
                                               const char* const* argv,
                                               const Environment& env) {
  FlagValues v;
  CLI::App app(
      "token-dialogs: the inline secure token dialog of the dashboard on the "
      "web (pages, web component and JSON API), talking to token-authority "
      "over gRPC. Every flag can also be set by its environment variable.");
  app.set_version_flag("--version", "token-dialogs " TA_VERSION);
  std::vector<std::pair<CLI::Option*, std::string>> envs;
  auto add = [&](const std::string& name, std::string& value,
                 const std::string& description, const std::string& env_name) {
    CLI::Option* o = app.add_option(
        name, value, absl::StrCat(description, " (env ", env_name, ")"));
    envs.emplace_back(o, env_name);
    return o;
  };
  add("--listen", v.listen, "host:port to serve on; port 0 picks a free port",
      "TD_LISTEN")
      ->capture_default_str();
  add("--authority", v.authority, "the token-authority gRPC address",
      "TD_AUTHORITY")
      ->capture_default_str();
  add("--api-key-file", v.api_key_file,
      "file with an issuer API key of the organisation (never sent to "
      "browsers)",
      "TD_API_KEY_FILE");
  add("--tls-cert", v.tls_cert, "certificate chain (PEM file): serve HTTPS",
      "TD_TLS_CERT");
  add("--tls-key", v.tls_key, "private key (PEM file) of --tls-cert",
      "TD_TLS_KEY");
  add("--authority-ca", v.authority_ca,
      "CA certificates (PEM file) to reach the authority over TLS",
      "TD_AUTHORITY_CA");
  add("--authority-tls", v.authority_tls,
      "true: reach the authority over TLS with the system's roots",
      "TD_AUTHORITY_TLS");
  add("--max-lifetime", v.max_lifetime,
      "the authority's --max-lifetime (the dialog's limit)", "TD_MAX_LIFETIME")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
    for (const auto& [option, name] : envs) {
      if (option->count() != 0) continue;
      std::optional<std::string> value = env(name);
      if (!value.has_value() || value->empty()) continue;
      option->add_result(*value);
      option->run_callback();
    }
  } catch (const CLI::CallForHelp&) {
    GatewayFlags flags;
    flags.help = app.help();
    return flags;
  } catch (const CLI::CallForVersion&) {
    GatewayFlags flags;
    flags.help = absl::StrCat("token-dialogs ", TA_VERSION, "\n");
    return flags;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return ToFlags(v);
}

}  // namespace token_authority::client::web

#include "server/server_flags.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/time_util.h"

namespace token_authority::server {
namespace {

constexpr char kDescription[] =
    "token-authority: issues, tracks, verifies and revokes secure playback "
    "tokens (JWT) over gRPC. Durations are written 90s, 15m, 36h, 14d, 2w.";

// The flags as CLI11 fills them, with their defaults.
struct FlagValues {
  std::string listen = "127.0.0.1:50051";
  std::string data_dir = "./var";
  std::string database, database_password_file, kek_file;
  std::string tls_cert, tls_key, client_ca;
  std::string leeway = "60s", default_lifetime = "14d", max_lifetime = "365d";
  std::string issuer = "token-authority";
  double rate_limit = 0, rate_burst = 0;
  std::string shutdown_grace = "10s";
  int blocking_threads = 64;
  int list_threads = 4;
  int64_t verify_cache = 10000;
  int max_concurrent_streams = 100;
  int64_t memory_limit_mib = 512;
  int64_t reply_backlog_mib = 4, reply_backlog_total_mib = 64;
  std::string metrics_listen;
};

// CLI11's help, with each option's environment variable written as CLI11
// writes an Option::envname ("(Env:TA_LISTEN)", after the default). The
// options carry no envname themselves, since CLI11 would then read the
// process environment instead of ParseFlags' `env`.
class EnvFormatter : public CLI::Formatter {
 public:
  void SetEnv(const CLI::Option* option, std::string name) {
    env_[option] = std::move(name);
  }

  std::string make_option_opts(const CLI::Option* option) const override {
    std::string out = CLI::Formatter::make_option_opts(option);
    auto it = env_.find(option);
    if (it != env_.end()) {
      absl::StrAppend(&out, " (", get_label("Env"), ":", it->second, ")");
    }
    return out;
  }

 private:
  absl::flat_hash_map<const CLI::Option*, std::string> env_;
};

// The CLI11 app of token-authority, bound to a FlagValues.
class CommandLine {
 public:
  explicit CommandLine(FlagValues& v);

  // Parses `argv`, then takes each flag not given there from its environment
  // variable. Throws CLI::ParseError (CLI11's errors, --help).
  void Parse(int argc, const char* const* argv, const Environment& env);

  // CLI11's report of `e`: what it prints on stdout and stderr, and its exit
  // code (0 for --help).
  int Report(const CLI::ParseError& e, std::string* out,
             std::string* err) const;

 private:
  void AddLimitFlags(FlagValues& v);

  template <typename T>
  CLI::Option* Add(const std::string& name, T& value,
                   const std::string& description, std::string env_name) {
    CLI::Option* option = app_.add_option(name, value, description);
    formatter_->SetEnv(option, env_name);
    env_.emplace_back(option, std::move(env_name));
    return option;
  }

  CLI::App app_{kDescription};
  std::shared_ptr<EnvFormatter> formatter_ = std::make_shared<EnvFormatter>();
  std::vector<std::pair<CLI::Option*, std::string>> env_;
};

CommandLine::CommandLine(FlagValues& v) {
  app_.formatter(formatter_);
  app_.set_version_flag("--version", "token-authority " TA_VERSION);
  Add("--listen", v.listen, "host:port to listen on; port 0 picks a free port",
      "TA_LISTEN")
      ->capture_default_str();
  Add("--data-dir", v.data_dir,
      "directory for token-authority.db, kek.key and admin.key", "TA_DATA_DIR")
      ->capture_default_str();
  Add("--database", v.database,
      "PostgreSQL instead of the SQLite file in --data-dir, for several "
      "replicas on one database: postgresql://user@host:5432/dbname",
      "TA_DATABASE_URL");
  Add("--database-password-file", v.database_password_file,
      "file holding the PostgreSQL password (first line)",
      "TA_DATABASE_PASSWORD_FILE");
  Add("--kek-file", v.kek_file,
      "key-encryption key file (default: kek.key in --data-dir); replicas of "
      "one database share one",
      "TA_KEK_FILE");
  Add("--tls-cert", v.tls_cert, "server certificate chain (PEM file)",
      "TA_TLS_CERT");
  Add("--tls-key", v.tls_key, "server private key (PEM file)", "TA_TLS_KEY");
  Add("--client-ca", v.client_ca,
      "CA certificates (PEM file) for mutual TLS: clients must present a "
      "certificate signed by one of them",
      "TA_CLIENT_CA");
  Add("--leeway", v.leeway, "tolerated clock skew for exp/nbf", "TA_LEEWAY")
      ->capture_default_str();
  Add("--default-lifetime", v.default_lifetime,
      "lifetime of tokens whose spec sets none", "TA_DEFAULT_LIFETIME")
      ->capture_default_str();
  Add("--max-lifetime", v.max_lifetime, "longest lifetime allowed",
      "TA_MAX_LIFETIME")
      ->capture_default_str();
  Add("--issuer", v.issuer, "the iss claim of issued tokens", "TA_ISSUER")
      ->capture_default_str();
  Add("--rate-limit", v.rate_limit,
      "requests per second per API key (0: unlimited)", "TA_RATE_LIMIT")
      ->capture_default_str();
  Add("--rate-burst", v.rate_burst, "burst per API key (0: one second's worth)",
      "TA_RATE_BURST")
      ->capture_default_str();
  Add("--shutdown-grace", v.shutdown_grace,
      "how long calls in flight may take after SIGTERM/SIGINT",
      "TA_SHUTDOWN_GRACE")
      ->capture_default_str();
  Add("--verify-cache", v.verify_cache,
      "tokens whose signature check VerifyToken remembers (by SHA-256; "
      "expiry, revocation and the request are checked every time); 0: none",
      "TA_VERIFY_CACHE")
      ->check(CLI::Range(int64_t{0}, kMaxVerifyCacheEntries))
      ->capture_default_str();
  Add("--blocking-threads", v.blocking_threads,
      "threads serving calls that touch the database", "TA_BLOCKING_THREADS")
      ->capture_default_str();
  Add("--metrics-listen", v.metrics_listen,
      "host:port of the Prometheus endpoint (GET /metrics), e.g. "
      "127.0.0.1:9464; off when empty",
      "TA_METRICS_LISTEN");
  Add("--list-threads", v.list_threads,
      "threads building the replies of List calls (pages of up to 1,000 "
      "rows): bounds the memory replies being built take",
      "TA_LIST_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  AddLimitFlags(v);
}

// The transport limits (README "Hostile clients").
void CommandLine::AddLimitFlags(FlagValues& v) {
  Add("--max-concurrent-streams", v.max_concurrent_streams,
      "calls open at once on one connection (HTTP/2 streams)",
      "TA_MAX_CONCURRENT_STREAMS")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  Add("--memory-limit", v.memory_limit_mib,
      "MiB gRPC may use for connections and calls (its resource quota)",
      "TA_MEMORY_LIMIT")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 30))
      ->capture_default_str();
  Add("--reply-backlog", v.reply_backlog_mib,
      "MiB of replies one connection may leave unread before its calls are "
      "refused (RESOURCE_EXHAUSTED)",
      "TA_REPLY_BACKLOG")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  Add("--reply-backlog-total", v.reply_backlog_total_mib,
      "MiB of unread replies for all connections together (at least "
      "--reply-backlog)",
      "TA_REPLY_BACKLOG_TOTAL")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
}

void CommandLine::Parse(int argc, const char* const* argv,
                        const Environment& env) {
  app_.parse(argc, argv);
  // What CLI11 does for an Option::envname: a flag not given takes a
  // non-empty variable as its value, converted and checked like one given.
  for (const auto& [option, name] : env_) {
    if (option->count() != 0) continue;
    std::optional<std::string> value = env(name);
    if (!value.has_value() || value->empty()) continue;
    option->add_result(*value);
    option->run_callback();
  }
}

int CommandLine::Report(const CLI::ParseError& e, std::string* out,
                        std::string* err) const {
  std::ostringstream out_stream, err_stream;
  const int code = app_.exit(e, out_stream, err_stream);
  *out = out_stream.str();
  *err = err_stream.str();
  return code;
}

// The values CLI11 cannot check: durations and PEM files.
absl::StatusOr<ServerFlags> ToServerFlags(const FlagValues& v) {
  ServerFlags flags;
  AuthorityServerOptions& options = flags.server;
  options.listen = v.listen;
  options.data_dir = v.data_dir;
  options.database_url = v.database;
  options.kek_file = v.kek_file;
  if (!v.database_password_file.empty()) {
    if (v.database.empty()) {
      return absl::InvalidArgumentError(
          "--database-password-file: needs --database");
    }
    TA_ASSIGN_OR_RETURN(options.database_password,
                        ReadDatabasePasswordFile(v.database_password_file));
  }
  options.blocking_threads = v.blocking_threads;
  options.metrics_listen = v.metrics_listen;
  options.list_threads = v.list_threads;
  options.max_concurrent_streams = v.max_concurrent_streams;
  options.memory_limit_bytes = v.memory_limit_mib << 20;
  options.reply_backlog_per_connection_bytes = v.reply_backlog_mib << 20;
  options.reply_backlog_total_bytes = v.reply_backlog_total_mib << 20;
  if (v.reply_backlog_total_mib < v.reply_backlog_mib) {
    return absl::InvalidArgumentError(
        "--reply-backlog-total: must be at least --reply-backlog");
  }
  options.authority.issuer = v.issuer;
  options.authority.rate_limit_per_second = v.rate_limit;
  options.authority.rate_limit_burst = v.rate_burst;
  options.authority.verify_cache_entries = static_cast<size_t>(v.verify_cache);
  struct DurationFlag {
    const char* name;
    const std::string* text;
    absl::Duration* out;
  };
  for (const DurationFlag& f : {
           DurationFlag{"leeway", &v.leeway, &options.authority.leeway},
           DurationFlag{"default-lifetime", &v.default_lifetime,
                        &options.authority.limits.default_lifetime},
           DurationFlag{"max-lifetime", &v.max_lifetime,
                        &options.authority.limits.max_lifetime},
           DurationFlag{"shutdown-grace", &v.shutdown_grace,
                        &flags.shutdown_grace},
       }) {
    absl::StatusOr<absl::Duration> d = token::ParseDuration(*f.text);
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", f.name, ": ", d.status().message()));
    }
    *f.out = *d;
  }
  for (const auto& [flag, path, out] :
       {std::make_tuple("tls-cert", &v.tls_cert, &options.tls_cert_pem),
        std::make_tuple("tls-key", &v.tls_key, &options.tls_key_pem),
        std::make_tuple("client-ca", &v.client_ca, &options.client_ca_pem)}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem = ReadSmallFile(*path);
    if (!pem.ok()) {
      return absl::Status(
          pem.status().code(),
          absl::StrCat("--", flag, ": ", pem.status().message()));
    }
    *out = std::move(*pem);
  }
  return flags;
}

}  // namespace

absl::StatusOr<ServerFlags> ParseFlags(int argc, const char* const* argv,
                                       const Environment& env) {
  FlagValues values;
  CommandLine command_line(values);
  try {
    command_line.Parse(argc, argv, env);
  } catch (const CLI::ParseError& e) {
    std::string out, err;
    const int code = command_line.Report(e, &out, &err);
    if (code == 0) {  // --help, --version
      ServerFlags help;
      help.help = std::move(out);
      return help;
    }
    return absl::InvalidArgumentError(e.what());
  }
  return ToServerFlags(values);
}

FlagErrorReport ReportFlagError(const absl::Status& error) {
  FlagErrorReport report;
  report.exit_code = 1;
  report.text = absl::StrCat("token-authority: ", error.message(), "\n");
  return report;
}

}  // namespace token_authority::server

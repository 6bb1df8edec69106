// h2_attack: the transport attacks of issue 18 against the REAL
// token-authority binary, each from one client for --seconds while a second,
// well-behaved client calls Health/Check and VerifyToken; prints one line
// per attack (see attack_runner.h) and what exceeded a bound.
//
//   build/tests/hardening/h2_attack --seconds 5 --after 5
//   build/tests/hardening/h2_attack --attacks reset-health --proxy never
//
// Rapid reset runs through HAProxy (deploy/haproxy.cfg) unless --proxy
// never: gRPC 1.51 cannot bound it alone (README "Hostile clients").
// Exit status: 0 every bound held, 2 a bound was exceeded or the server
// misbehaved, 1 the run could not be set up.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "tests/hardening/attack_runner.h"
#include "tests/testing/temp_dir.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif
#ifndef TA_SOURCE_DIR
#error "TA_SOURCE_DIR must name the source tree (deploy/haproxy.cfg)"
#endif

namespace token_authority::hardening {
namespace {

// The attacks named in `list` ("all" or comma-separated names).
bool ParseSelection(const std::string& list, std::vector<Attack>* out) {
  if (list == "all") {
    *out = AllAttacks();
    return true;
  }
  for (const std::string& name :
       std::vector<std::string>(absl::StrSplit(list, ','))) {
    Attack a;
    if (!ParseAttack(name, &a)) {
      std::fprintf(stderr, "h2_attack: unknown attack %s\n", name.c_str());
      return false;
    }
    out->push_back(a);
  }
  return true;
}

// Runs `attacks`, prints a line each and what exceeded a bound; the exit
// status.
int RunAttacks(const RunnerConfig& config, const std::vector<Attack>& attacks) {
  AttackRunner runner(config);
  if (absl::Status s = runner.Prepare(); !s.ok()) {
    std::fprintf(stderr, "h2_attack: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::string> problems;
  for (Attack a : attacks) {
    auto result = runner.Run(a);
    if (!result.ok()) {
      std::fprintf(stderr, "h2_attack: %s: %s\n", AttackName(a),
                   result.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", FormatResult(*result).c_str());
    std::fflush(stdout);
    for (auto& p : MemoryViolations(*result)) problems.push_back(p);
    for (auto& p : ServiceViolations(*result, config.shutdown_grace_seconds)) {
      problems.push_back(p);
    }
  }
  for (const std::string& p : problems) {
    std::printf("EXCEEDED: %s\n", p.c_str());
  }
  if (problems.empty()) std::printf("h2_attack: every bound held\n");
  return problems.empty() ? 0 : 2;
}

}  // namespace
}  // namespace token_authority::hardening

int main(int argc, char** argv) {
  namespace h = token_authority::hardening;
  h::RunnerConfig config;
  config.server_binary = TA_SERVER_BINARY;
  config.haproxy_config = std::string(TA_SOURCE_DIR) + "/deploy/haproxy.cfg";
  std::string attacks = "all", proxy = "auto", work_dir;
  CLI::App app{"h2_attack: HTTP/2 transport attacks against token-authority"};
  app.add_option("--seconds", config.seconds, "length of each attack")
      ->capture_default_str();
  app.add_option("--after", config.after_seconds,
                 "seconds after the attack before the 'after' RSS")
      ->capture_default_str();
  app.add_option("--attacks", attacks,
                 "comma-separated: reset-health, reset-verify, gzip-body, "
                 "ping-1-read, ping-1-noread, ping-6-read, ping-6-noread, "
                 "slow-reader; or all")
      ->capture_default_str();
  app.add_option("--proxy", proxy,
                 "auto: rapid reset through HAProxy, the rest direct; "
                 "always; never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app.add_option("--server-binary", config.server_binary)
      ->capture_default_str();
  app.add_option("--haproxy-config", config.haproxy_config)
      ->capture_default_str();
  app.add_option("--tokens", config.seed_tokens, "tokens seeded")
      ->capture_default_str();
  app.add_option("--work-dir", work_dir,
                 "keep the data directory and the logs (server.log, "
                 "haproxy.log) here; default: a temporary directory, removed");
  CLI11_PARSE(app, argc, argv);

  using Proxy = h::RunnerConfig::Proxy;
  config.proxy = proxy == "always"  ? Proxy::kAlways
                 : proxy == "never" ? Proxy::kNever
                                    : Proxy::kAuto;
  std::vector<h::Attack> selected;
  if (!h::ParseSelection(attacks, &selected)) return 1;
  bool proxied = false;
  for (h::Attack a : selected) {
    proxied |= config.proxy == Proxy::kAlways ||
               (config.proxy == Proxy::kAuto && h::NeedsProxy(a));
  }
  if (proxied) {
    config.haproxy_binary = h::FindProgram("haproxy");
    if (config.haproxy_binary.empty()) {
      std::fprintf(stderr,
                   "h2_attack: haproxy not found (scripts/install-deps "
                   "installs it)\n");
      return 1;
    }
  }
  auto dir = token_authority::testing::TempDir::Create();
  if (!dir.ok()) {
    std::fprintf(stderr, "h2_attack: %s\n", dir.status().ToString().c_str());
    return 1;
  }
  config.work_dir = work_dir.empty() ? dir->path() : work_dir;
  std::error_code ec;
  std::filesystem::create_directories(config.work_dir, ec);
  return h::RunAttacks(config, selected);
}

// Runs one transport attack against a freshly started token-authority
// binary (the data directory is kept between attacks), with HAProxy from
// deploy/haproxy.cfg in front when the attack needs it, while the
// well-behaved Prober calls the server, and reports the figures of issue 18:
// what was sent, the server's RSS idle / peak / some seconds after, the
// second client's calls, failures and latencies, whether Health still
// answered, and how SIGTERM ended the server.
#ifndef TESTS_HARDENING_ATTACK_RUNNER_H_
#define TESTS_HARDENING_ATTACK_RUNNER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/hardening/attack_env.h"
#include "tests/hardening/h2_attacks.h"

namespace token_authority::hardening {

enum class Attack {
  kResetHealth,  // rapid reset on Health/Check (no API key needed)
  kResetVerify,  // rapid reset on VerifyToken with a bad signature
  kGzipBody,     // grpc-encoding gzip, 61 KB inflating to 60 MiB
  kPing1Read,    // PING flood, 1 connection, reading the answers
  kPing1NoRead,  // ... not reading
  kPing6Read,    // 6 connections, reading
  kPing6NoRead,  // 6 connections, not reading
  kSlowReader,   // 6 connections x 50 ListTokens of 1,000, never reading
};

// Every attack, in the order the program runs them.
const std::vector<Attack>& AllAttacks();
const char* AttackName(Attack a);
// The attacks the server cannot bound by itself (gRPC 1.51): rapid reset.
bool NeedsProxy(Attack a);
bool ParseAttack(const std::string& name, Attack* out);

struct RunnerConfig {
  std::string server_binary;
  std::string haproxy_binary;  // "" when proxy is kNever
  std::string haproxy_config;  // deploy/haproxy.cfg
  std::string work_dir;        // data directory and logs below it
  int seconds = 5;             // each attack
  int after_seconds = 5;       // wait before the "after" RSS
  enum class Proxy { kAuto, kAlways, kNever } proxy = Proxy::kAuto;
  int seed_tokens = 1000;
  int shutdown_grace_seconds = 10;
};

struct AttackResult {
  std::string name;
  bool via_proxy = false;
  double seconds = 0;
  AttackCounts counts;
  long idle_kib = 0;
  long peak_kib = 0;  // highest sample from the attack's start to "after"
  long after_kib = 0;
  int after_seconds = 0;
  long proxy_peak_kib = -1;  // HAProxy's, when used
  // CPU time the server used from the attack's start to "after", seconds.
  double server_cpu_seconds = 0;
  // Calls the server logged from the attack's start to "after" (the second
  // client's included), by status code.
  std::map<std::string, int64_t> logged_calls;
  ProbeStats probe;
  bool health_after = false;
  std::string health_error;
  int exit_code = -1;  // of the server after SIGTERM (-1: killed/timeout)
  double stop_seconds = 0;
};

class AttackRunner {
 public:
  explicit AttackRunner(RunnerConfig config);
  ~AttackRunner();

  // Starts the server once to create the organisation, keys and tokens,
  // then stops it; builds the compressed body.
  absl::Status Prepare();
  absl::StatusOr<AttackResult> Run(Attack attack);

  const RunnerConfig& config() const { return config_; }
  std::string server_log() const { return config_.work_dir + "/server.log"; }
  std::string proxy_log() const { return config_.work_dir + "/haproxy.log"; }

 private:
  bool UsesProxy(Attack attack) const;
  Request MakeRequest(Attack attack, const std::string& authority) const;
  AttackCounts Launch(Attack attack, const Target& target, Deadline until);

  RunnerConfig config_;
  Fixture fixture_;
  std::shared_ptr<const std::string> gzip_body_;
};

// One line: the attack, what was sent, RSS idle/peak/after in MB, the second
// client's calls, failures, p50/p99, Health afterwards, SIGTERM.
std::string FormatResult(const AttackResult& r);

// The memory bounds of issue 18 (peak <= idle + 100 MB, after <= idle +
// 32 MB); one sentence per bound not met.
std::vector<std::string> MemoryViolations(const AttackResult& r);
// Everything else that must hold: Health answered afterwards, no failed
// call of the second client, exit 0 on SIGTERM within the grace.
std::vector<std::string> ServiceViolations(const AttackResult& r,
                                           int shutdown_grace_seconds);

}  // namespace token_authority::hardening

#endif  // TESTS_HARDENING_ATTACK_RUNNER_H_

// What the transport attack program needs around the attacks themselves:
// the server's keys and tokens, the well-behaved second client, the
// server's resident memory sampled every 50 ms, and HAProxy as a child
// process started from deploy/haproxy.cfg.
#ifndef TESTS_HARDENING_ATTACK_ENV_H_
#define TESTS_HARDENING_ATTACK_ENV_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace token_authority::hardening {

// An organisation with secure playback, its keys and tokens.
struct Fixture {
  std::string admin_key;
  std::string organization_id;
  std::string issuer_key;    // issuer of the organisation (ListTokens)
  std::string verifier_key;  // VerifyToken
  std::string valid_jwt;     // allowed for any stream of the organisation
  // `valid_jwt` with one signature character changed: a real signature check
  // that fails (such tokens never enter the verify cache).
  std::string bad_signature_jwt;
};

// Creates the organisation, an issuer and a verifier key, and `tokens`
// organisation-wide tokens, through the admin key of the server at
// `address`.
absl::StatusOr<Fixture> Seed(const std::string& address,
                             const std::string& admin_key, int tokens);

// Health/Check on a new connection with `deadline` (scaled in sanitizer
// builds): true if SERVING.
bool HealthServing(const std::string& address, absl::Duration deadline,
                   std::string* error);

// What the well-behaved client saw.
struct ProbeStats {
  int64_t calls = 0;
  int64_t failures = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::string first_error;
};

// The well-behaved second client: on its own connection, Health/Check then
// VerifyToken of a valid token, about 100 pairs a second (an edge, not a
// load generator: a per-source rate limit must not refuse it), each call
// with a 5 s deadline (scaled in sanitizer builds) and wait-for-ready (a
// connection the server closed is re-established within the call's deadline, as
// a production client's retry would). A call fails if it does not answer OK
// (and, for VerifyToken, allowed) within its deadline.
class Prober {
 public:
  Prober(const std::string& address, const Fixture& fixture);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Forgets the calls made so far (the warm-up).
  void Reset();
  // Stops the loop (waits for the call in flight) and returns the figures.
  ProbeStats Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Samples VmRSS of `pid` every `period` on a thread of its own.
class RssSampler {
 public:
  RssSampler(pid_t pid, std::chrono::milliseconds period);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // The highest sample since the last ResetPeak() (or the start), KiB.
  long peak_kib();
  void ResetPeak();

 private:
  pid_t pid_;
  std::mutex mu_;
  long peak_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// HAProxy in the foreground as a child process: `haproxy -f config` with
// TA_PROXY_LISTEN and TA_BACKEND set; stderr appended to `log_path`.
class ProxyProcess {
 public:
  // Returns once `listen` (host:port) accepts connections (10 s at most).
  static absl::StatusOr<std::unique_ptr<ProxyProcess>> Start(
      const std::string& binary, const std::string& config,
      const std::string& listen, const std::string& backend,
      const std::string& log_path);
  ~ProxyProcess();  // SIGKILLs a proxy that is still running

  pid_t pid() const { return pid_; }
  // SIGTERM, then waits up to `timeout` (scaled); the exit code or -1.
  int Terminate(absl::Duration timeout = absl::Seconds(10));

 private:
  ProxyProcess() = default;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

// `name` found in PATH, /usr/sbin or /sbin; "" if absent.
std::string FindProgram(const std::string& name);

}  // namespace token_authority::hardening

#endif  // TESTS_HARDENING_ATTACK_ENV_H_

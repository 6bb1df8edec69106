#include "tests/hardening/attack_runner.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/faults/server_process.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::hardening {
namespace {

namespace v1 = ::tokenauthority::v1;
using Clock = std::chrono::steady_clock;
using testing::ServerProcess;

constexpr long kPeakBoundKib = 100 * 1024;
constexpr long kAfterBoundKib = 32 * 1024;
// The well-behaved client's warm-up before the idle RSS is read.
constexpr auto kWarmUp = std::chrono::milliseconds(1000);
// The attacker's source address, so that the proxy's per-source limits see
// it apart from the well-behaved client (127.0.0.1).
constexpr char kAttackerSource[] = "127.0.0.2";
constexpr size_t kInflatedBytes = 60 << 20;

struct AttackInfo {
  Attack attack;
  const char* name;
};
constexpr AttackInfo kAttacks[] = {
    {Attack::kResetHealth, "reset-health"},
    {Attack::kResetVerify, "reset-verify"},
    {Attack::kGzipBody, "gzip-body"},
    {Attack::kPing1Read, "ping-1-read"},
    {Attack::kPing1NoRead, "ping-1-noread"},
    {Attack::kPing6Read, "ping-6-read"},
    {Attack::kPing6NoRead, "ping-6-noread"},
    {Attack::kSlowReader, "slow-reader"},
};

std::string Mb(long kib) { return absl::StrFormat("%.1f", kib / 1024.0); }

int Port(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

// One ListTokens of 1,000 rows, so that the idle figure includes the page
// cache a normal large listing fills.
void WarmListing(const std::string& address, const Fixture& f) {
  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ctx.AddMetadata("authorization", "Bearer " + f.issuer_key);
  v1::ListTokensRequest req;
  req.set_page_size(1000);
  v1::ListTokensResponse resp;
  stub->ListTokens(&ctx, req, &resp);
}

// User + system CPU time of `pid` so far, seconds (0 if unreadable).
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15.
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
}

// The size of `path` now (where the lines of interest will start).
std::streamoff FileSize(const std::string& path) {
  std::ifstream in(path, std::ios::ate | std::ios::binary);
  return in ? static_cast<std::streamoff>(in.tellg()) : 0;
}

// The server's call-log lines ("[time] rpc method=... code=X ...") after
// `offset`, counted by code.
std::map<std::string, int64_t> LoggedCalls(const std::string& path,
                                           std::streamoff offset) {
  std::map<std::string, int64_t> codes;
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("rpc method=") == std::string::npos) continue;
    const size_t at = line.find(" code=");
    if (at == std::string::npos) continue;
    const size_t end = line.find(' ', at + 6);
    ++codes[line.substr(at + 6, end == std::string::npos ? end : end - at - 6)];
  }
  return codes;
}

}  // namespace

const std::vector<Attack>& AllAttacks() {
  static const auto* all = [] {
    auto* v = new std::vector<Attack>;
    for (const AttackInfo& a : kAttacks) v->push_back(a.attack);
    return v;
  }();
  return *all;
}

const char* AttackName(Attack a) {
  for (const AttackInfo& info : kAttacks) {
    if (info.attack == a) return info.name;
  }
  return "?";
}

bool NeedsProxy(Attack a) {
  // gRPC 1.51 bounds neither rapid reset nor PING floods by itself (its PING
  // ACKs queue without a limit): README "Hostile clients".
  return a == Attack::kResetHealth || a == Attack::kResetVerify ||
         a == Attack::kPing1Read || a == Attack::kPing1NoRead ||
         a == Attack::kPing6Read || a == Attack::kPing6NoRead;
}

bool ParseAttack(const std::string& name, Attack* out) {
  for (const AttackInfo& info : kAttacks) {
    if (name == info.name) {
      *out = info.attack;
      return true;
    }
  }
  return false;
}

AttackRunner::AttackRunner(RunnerConfig config) : config_(std::move(config)) {}
AttackRunner::~AttackRunner() = default;

absl::Status AttackRunner::Prepare() {
  const std::string data = config_.work_dir + "/data";
  auto server =
      ServerProcess::Start(config_.server_binary, data, server_log(), {});
  if (!server.ok()) return server.status();
  std::ifstream key_file(data + "/admin.key");
  std::string admin_key((std::istreambuf_iterator<char>(key_file)), {});
  auto fixture = Seed((*server)->address(),
                      std::string(absl::StripAsciiWhitespace(admin_key)),
                      config_.seed_tokens);
  if (!fixture.ok()) return fixture.status();
  fixture_ = *fixture;
  if ((*server)->Terminate() != 0) {
    return absl::InternalError("the server did not stop cleanly after seeding");
  }
  gzip_body_ = std::make_shared<const std::string>(GrpcFrame(
      GzipBombVerifyRequest(fixture_.organization_id, kInflatedBytes), true));
  return absl::OkStatus();
}

bool AttackRunner::UsesProxy(Attack attack) const {
  switch (config_.proxy) {
    case RunnerConfig::Proxy::kAlways:
      return true;
    case RunnerConfig::Proxy::kNever:
      return false;
    case RunnerConfig::Proxy::kAuto:
      break;
  }
  return NeedsProxy(attack);
}

Request AttackRunner::MakeRequest(Attack attack,
                                  const std::string& authority) const {
  Request r;
  auto headers = [&](const std::string& path, const std::string& key) {
    r.headers = GrpcRequestHeaders(authority, path);
    if (!key.empty()) r.headers.push_back({"authorization", "Bearer " + key});
  };
  switch (attack) {
    case Attack::kResetHealth:
      headers("/grpc.health.v1.Health/Check", "");
      r.body = std::make_shared<const std::string>(GrpcFrame(""));
      break;
    case Attack::kResetVerify: {
      headers("/tokenauthority.v1.TokenService/VerifyToken",
              fixture_.verifier_key);
      v1::VerifyTokenRequest req;
      req.set_jwt(fixture_.bad_signature_jwt);
      req.set_organization_id(fixture_.organization_id);
      req.set_stream_name("live-1");
      r.body = std::make_shared<const std::string>(
          GrpcFrame(req.SerializeAsString()));
      break;
    }
    case Attack::kGzipBody:
      headers("/tokenauthority.v1.TokenService/VerifyToken",
              fixture_.verifier_key);
      r.headers.push_back({"grpc-encoding", "gzip"});
      r.body = gzip_body_;
      break;
    case Attack::kSlowReader: {
      headers("/tokenauthority.v1.TokenService/ListTokens",
              fixture_.issuer_key);
      v1::ListTokensRequest req;
      req.set_page_size(1000);
      r.body = std::make_shared<const std::string>(
          GrpcFrame(req.SerializeAsString()));
      break;
    }
    default:
      break;
  }
  return r;
}

AttackCounts AttackRunner::Launch(Attack attack, const Target& target,
                                  Deadline until) {
  const Request request =
      MakeRequest(attack, absl::StrCat(target.host, ":", target.port));
  switch (attack) {
    case Attack::kResetHealth:
    case Attack::kResetVerify:
      return RapidReset(target, request, /*batch=*/50, until);
    case Attack::kGzipBody:
      return CompressedBodies(target, request, /*in_flight=*/4, until);
    case Attack::kPing1Read:
      return PingFlood(target, 1, true, until);
    case Attack::kPing1NoRead:
      return PingFlood(target, 1, false, until);
    case Attack::kPing6Read:
      return PingFlood(target, 6, true, until);
    case Attack::kPing6NoRead:
      return PingFlood(target, 6, false, until);
    case Attack::kSlowReader:
      return SlowReader(target, request, /*connections=*/6, /*calls=*/50,
                        /*window=*/16, until);
  }
  return {};
}

absl::StatusOr<AttackResult> AttackRunner::Run(Attack attack) {
  AttackResult r;
  r.name = AttackName(attack);
  r.via_proxy = UsesProxy(attack);
  r.after_seconds = config_.after_seconds;
  auto server = ServerProcess::Start(
      config_.server_binary, config_.work_dir + "/data", server_log(),
      {"--shutdown-grace", absl::StrCat(config_.shutdown_grace_seconds, "s")});
  if (!server.ok()) return server.status();
  const pid_t pid = (*server)->pid();
  const std::string direct = (*server)->address();
  std::string front = direct;
  std::unique_ptr<ProxyProcess> proxy;
  if (r.via_proxy) {
    front = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    auto p = ProxyProcess::Start(config_.haproxy_binary, config_.haproxy_config,
                                 front, direct, proxy_log());
    if (!p.ok()) return p.status();
    proxy = std::move(*p);
  }
  Target target{"127.0.0.1", Port(front), r.via_proxy ? kAttackerSource : ""};

  Prober prober(front, fixture_);
  WarmListing(direct, fixture_);
  std::this_thread::sleep_for(kWarmUp);
  prober.Reset();
  RssSampler rss(pid, std::chrono::milliseconds(50));
  std::unique_ptr<RssSampler> proxy_rss;
  if (proxy) {
    proxy_rss = std::make_unique<RssSampler>(proxy->pid(),
                                             std::chrono::milliseconds(50));
  }
  r.idle_kib = testing::ResidentKib(pid);
  rss.ResetPeak();

  const std::streamoff log_offset = FileSize(server_log());
  const double cpu_start = CpuSeconds(pid);
  const auto start = Clock::now();
  r.counts =
      Launch(attack, target, start + std::chrono::seconds(config_.seconds));
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.probe = prober.Stop();

  std::this_thread::sleep_for(std::chrono::seconds(config_.after_seconds));
  r.after_kib = testing::ResidentKib(pid);
  r.peak_kib = std::max(rss.peak_kib(), r.after_kib);
  if (proxy_rss) r.proxy_peak_kib = proxy_rss->peak_kib();
  r.logged_calls = LoggedCalls(server_log(), log_offset);
  r.server_cpu_seconds = CpuSeconds(pid) - cpu_start;
  r.health_after = HealthServing(direct, absl::Seconds(5), &r.health_error);
  if (r.health_after && r.via_proxy) {
    r.health_after = HealthServing(front, absl::Seconds(5), &r.health_error);
    if (!r.health_after) r.health_error += " (through the proxy)";
  }

  const auto stop = Clock::now();
  r.exit_code =
      (*server)->Terminate(absl::Seconds(config_.shutdown_grace_seconds + 5));
  r.stop_seconds = std::chrono::duration<double>(Clock::now() - stop).count();
  if (proxy) proxy->Terminate();
  return r;
}

std::string FormatResult(const AttackResult& r) {
  std::vector<std::string> statuses;
  for (const auto& [status, n] : r.counts.statuses) {
    statuses.push_back(absl::StrCat(status, " x", n));
  }
  std::vector<std::string> logged;
  for (const auto& [code, n] : r.logged_calls) {
    logged.push_back(absl::StrCat(code, " ", n));
  }
  return absl::StrFormat(
      "attack %-13s %s %.1f s: %d streams, %d frames, %d connections "
      "(%d ended by GOAWAY)%s; server logged %s, used %.1f s CPU; "
      "server RSS idle %s / peak %s / %d s after %s MB%s; "
      "client %d calls, %d failures, p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
      "health after: %s; SIGTERM: exit %d in %.1f s",
      r.name, r.via_proxy ? "(via haproxy)" : "(direct)     ", r.seconds,
      r.counts.streams, r.counts.frames, r.counts.connections, r.counts.goaways,
      statuses.empty() ? "" : "; answers: " + absl::StrJoin(statuses, ", "),
      logged.empty() ? "no call" : absl::StrJoin(logged, ", "),
      r.server_cpu_seconds, Mb(r.idle_kib), Mb(r.peak_kib), r.after_seconds,
      Mb(r.after_kib),
      r.proxy_peak_kib >= 0 ? "; haproxy peak " + Mb(r.proxy_peak_kib) + " MB"
                            : "",
      r.probe.calls, r.probe.failures, r.probe.p50_ms, r.probe.p99_ms,
      r.probe.max_ms, r.health_after ? "yes" : "NO (" + r.health_error + ")",
      r.exit_code, r.stop_seconds);
}

std::vector<std::string> MemoryViolations(const AttackResult& r) {
  std::vector<std::string> out;
  if (r.peak_kib > r.idle_kib + kPeakBoundKib) {
    out.push_back(absl::StrCat(r.name, ": peak RSS ", Mb(r.peak_kib),
                               " MB > idle ", Mb(r.idle_kib), " + 100 MB"));
  }
  if (r.after_kib > r.idle_kib + kAfterBoundKib) {
    out.push_back(absl::StrCat(r.name, ": RSS ", r.after_seconds, " s after ",
                               Mb(r.after_kib), " MB > idle ", Mb(r.idle_kib),
                               " + 32 MB"));
  }
  return out;
}

std::vector<std::string> ServiceViolations(const AttackResult& r,
                                           int shutdown_grace_seconds) {
  std::vector<std::string> out;
  if (!r.health_after) {
    out.push_back(r.name + ": no Health answer afterwards: " + r.health_error);
  }
  if (r.probe.failures > 0) {
    out.push_back(absl::StrCat(
        r.name, ": ", r.probe.failures, " of ", r.probe.calls,
        " calls of the second client failed, first: ", r.probe.first_error));
  }
  if (r.probe.calls == 0) {
    out.push_back(r.name + ": the second client completed no call");
  }
  if (r.exit_code != 0 || r.stop_seconds > shutdown_grace_seconds + 1) {
    out.push_back(absl::StrFormat(
        "%s: SIGTERM: exit %d after %.1f s (grace %d s)", r.name, r.exit_code,
        r.stop_seconds, shutdown_grace_seconds));
  }
  return out;
}

}  // namespace token_authority::hardening

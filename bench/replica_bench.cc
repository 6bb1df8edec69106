// replica_bench: IssueToken and VerifyToken throughput of the token-authority
// binary over loopback in three configurations, in one run on this machine:
//   SQLite         the single server on its SQLite data directory (the
//                  default; synchronous=FULL);
//   PostgreSQL x1  one replica on PostgreSQL (--database);
//   PostgreSQL x2  two replicas on one PostgreSQL database (a shared
//                  --kek-file), the calls spread over both (the channels
//                  alternate between them, as a round-robin balancer would).
// PostgreSQL is a throw-away cluster this program starts
// (tests/testing/postgres_cluster.h: initdb into a temporary directory,
// pg_ctl start on 127.0.0.1 and a free port, run as the user "postgres"
// when this program runs as root) with fsync and full_page_writes ON and
// synchronous_commit on (its default): durability is part of the
// comparison, as SQLite's is. Each configuration has a database of its own;
// the cluster shares the machine's cores with the servers and this program.
//
// Phases of each configuration, driven with the callback API through
// generic stubs (bench/load_driver.h, as server_load does), many calls in
// flight: IssueToken (durable, ES256, no request_id), VerifyToken ES256 of
// one token (after the first call the server's verify cache answers), and
// VerifyToken ES256 of a new token each call (the tokens that round's
// IssueToken phase issued: each call checks a signature). The phases of all
// configurations run interleaved in --rounds rounds, so that a change in
// the shared machine's load hits every configuration alike.
//
// Prints for each configuration and phase: requests, errors, requests/s,
// p50 and p99 latency, the machine's idle CPU share, and CPU time per call
// of the token-authority processes ("srv"), of PostgreSQL's processes
// ("db"), of this program ("gen") and, for IssueToken, of the servers'
// writer threads (ta-writer / ta-pg-writer); then IssueToken on PostgreSQL
// with one replica (and two) as a ratio of the SQLite server's, with the
// range of the rounds' ratios, against issue 16's goal (>= 0.5 for one
// replica). Last, the revocation propagation between the two PostgreSQL
// replicas: p50 / p99 / max of the delay from a revocation acknowledged by
// one replica to the other refusing the token (issue 16: p99 < 200 ms).
//
//   build/bench/replica_bench --requests 40000 --seconds 20 --rounds 5
//
// Exit status: 0 both goals met, 2 one not met, 1 a call failed or the run
// could not be set up. The closing line "replica_bench: all 3 configurations
// measured, no call failed" is printed only then (the smoke test needs it).
#include <dirent.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/load_driver.h"
#include "grpcpp/create_channel.h"
#include "tests/testing/postgres_cluster.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#define TA_SERVER_BINARY "token-authority"
#endif

namespace {

namespace v1 = ::tokenauthority::v1;
using ta_bench::Die;
using ta_bench::PhaseResult;
using ta_bench::StartCall;
using token_authority::testing::PostgresCluster;

struct Settings {
  std::string server_binary = TA_SERVER_BINARY;
  int channels = 4;
  int in_flight = 256;
  int requests = 20000;  // per phase and configuration, over all rounds
  double seconds = 10;   // the same
  int warmup = 500;
  int rounds = 5;
  bool pg_fsync = true;
  int propagation_samples = 30;
};

// --- CPU of processes and threads --------------------------------------------

// The postmaster (first line of postmaster.pid) and its children.
std::vector<pid_t> PostgresPids(const PostgresCluster& cluster) {
  std::vector<pid_t> pids;
  std::ifstream in(cluster.directory() + "/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(in >> postmaster) || postmaster <= 0) return pids;
  pids.push_back(postmaster);
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)),
                     std::istreambuf_iterator<char>());
    const size_t paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(text.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 &&
        ppid == postmaster) {
      pids.push_back(pid);
    }
  }
  ::closedir(proc);
  return pids;
}

// CPU ticks of each of `pids`.
std::map<pid_t, int64_t> TicksOf(const std::vector<pid_t>& pids) {
  std::map<pid_t, int64_t> ticks;
  for (pid_t pid : pids) {
    ticks[pid] =
        ta_bench::ProcessTicks("/proc/" + std::to_string(pid) + "/stat");
  }
  return ticks;
}

// The CPU ticks PostgreSQL's processes used since `before`: of those that
// ran then, the difference; of those started since, all. (A process that
// ended meanwhile, such as an autovacuum worker, is not counted.)
int64_t PostgresTicksSince(const PostgresCluster& cluster,
                           const std::map<pid_t, int64_t>& before) {
  int64_t sum = 0;
  for (const auto& [pid, ticks] : TicksOf(PostgresPids(cluster))) {
    auto it = before.find(pid);
    sum += ticks - (it != before.end() ? it->second : 0);
  }
  return sum;
}

// CPU ticks of the threads of `pids` named `name` (or `other_name`).
int64_t ThreadTicks(const std::vector<pid_t>& pids, const std::string& name,
                    const std::string& other_name) {
  int64_t sum = 0;
  for (pid_t pid : pids) {
    const std::string task = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(task.c_str());
    if (dir == nullptr) continue;
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream comm(task + "/" + e->d_name + "/comm");
      std::string c;
      std::getline(comm, c);
      if (c == name || c == other_name) {
        sum += ta_bench::ProcessTicks(task + "/" + e->d_name + "/stat");
      }
    }
    ::closedir(dir);
  }
  return sum;
}

// --- A configuration ---------------------------------------------------------

enum Phase { kIssue, kVerifySame, kVerifyNew, kPhases };
const char* const kPhaseNames[kPhases] = {
    "IssueToken ES256", "VerifyToken ES256", "  new token each call"};

struct Config {
  std::string name;
  std::vector<ta_bench::ServerChild> servers;
  std::vector<pid_t> pids;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;  // channel i: server
                                                          // i % n
  ta_bench::Fixture f;
  grpc::ByteBuffer issue_body;
  std::vector<grpc::ByteBuffer> es_same;
  std::mutex mu;
  std::vector<grpc::ByteBuffer> es_new;  // issued by the last issue phase
  PhaseResult results[kPhases];
  int64_t db_ticks[kPhases] = {0, 0, 0};
  int64_t writer_ticks = 0;  // during the IssueToken phases
};

// Starts `replicas` servers (SQLite when `database` is empty), sets up the
// organisations and keys, and the calls.
void SetUpConfig(const Settings& s, Config& c, int replicas,
                 const std::string& database) {
  // The organisations and keys are made through the first server before the
  // others start, so that they load them at start.
  for (int i = 0; i < replicas; ++i) {
    std::vector<std::string> args;
    if (!database.empty()) {
      args = {"--database", database};
      if (i > 0) {
        args.insert(args.end(),
                    {"--kek-file", c.servers[0].data_dir + "/kek.key"});
      }
    }
    c.servers.push_back(ta_bench::StartServer(s.server_binary, args));
    c.pids.push_back(c.servers.back().pid);
    if (i == 0) {
      const std::string& admin_key = c.servers[0].admin_key;
      if (admin_key.empty()) Die(c.name + ": the server wrote no admin key");
      c.f = ta_bench::SetUpFixture(
          grpc::CreateChannel(c.servers[0].address,
                              grpc::InsecureChannelCredentials()),
          admin_key);
    }
  }
  for (int i = 0; i < s.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("ta.load_channel", i);  // distinct args: distinct connections
    c.stubs.push_back(std::make_unique<grpc::GenericStub>(
        grpc::CreateCustomChannel(c.servers[i % replicas].address,
                                  grpc::InsecureChannelCredentials(), args)));
  }
  v1::IssueTokenRequest issue;
  issue.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      "cam1");
  issue.mutable_spec()->set_tag("load");
  c.issue_body = ta_bench::Serialized(issue);
  c.es_same = {ta_bench::VerifyBody(c.f.es_jwt, c.f.es_org)};
}

// One phase of `c`: `limit` calls or `seconds`.
PhaseResult RunPhase(const Settings& s, Config& c, Phase phase, int limit,
                     double seconds, const PostgresCluster* cluster) {
  StartCall start;
  if (phase == kIssue) {
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.es_new.clear();
    }
    start = ta_bench::IssueCalls(
        &c.stubs, &c.issue_body, c.f.issuer_key, [&c](const std::string& jwt) {
          grpc::ByteBuffer body = ta_bench::VerifyBody(jwt, c.f.es_org);
          std::lock_guard<std::mutex> lock(c.mu);
          c.es_new.push_back(std::move(body));
        });
  } else if (phase == kVerifySame) {
    start = ta_bench::VerifyCalls(&c.stubs, &c.es_same, c.f.verifier_key);
  } else {
    // Each token of the last issue phase once.
    limit = std::min<int>(limit, static_cast<int>(c.es_new.size()));
    if (limit == 0) Die(c.name + ": no token to verify");
    start = ta_bench::VerifyCalls(&c.stubs, &c.es_new, c.f.verifier_key);
  }
  const std::map<pid_t, int64_t> db_before =
      cluster != nullptr ? TicksOf(PostgresPids(*cluster))
                         : std::map<pid_t, int64_t>{};
  const int64_t writer_before =
      ThreadTicks(c.pids, "ta-writer", "ta-pg-writer");
  PhaseResult r = ta_bench::Driver({s.channels, s.in_flight}, c.pids, start)
                      .Run(kPhaseNames[phase], limit, seconds);
  if (cluster != nullptr) {
    c.db_ticks[phase] += PostgresTicksSince(*cluster, db_before);
  }
  if (phase == kIssue) {
    c.writer_ticks +=
        ThreadTicks(c.pids, "ta-writer", "ta-pg-writer") - writer_before;
  }
  return r;
}

// "0.52 (0.48-0.55)": the total ratio and the range of the rounds' ratios.
std::string Ratio(const PhaseResult& a, const PhaseResult& b) {
  if (b.rps() <= 0) return "-";
  double lo = 0, hi = 0;
  for (size_t k = 0; k < a.round_rps.size() && k < b.round_rps.size(); ++k) {
    const double x = b.round_rps[k] > 0 ? a.round_rps[k] / b.round_rps[k] : 0;
    lo = k == 0 ? x : std::min(lo, x);
    hi = k == 0 ? x : std::max(hi, x);
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f (rounds %.2f-%.2f)", a.rps() / b.rps(),
                lo, hi);
  return buf;
}

// --- Revocation propagation -------------------------------------------------

// Revocation propagation between the replicas of `c` (two): a token issued
// on one replica and verified (allowed) on the other is revoked on the
// first; the delay is from the revocation's acknowledgement to the first
// VerifyToken on the other replica that refuses it as revoked (polled every
// millisecond, at most 5 s). `samples` tokens, alternating directions. The
// delays in ms; *errors counts failed calls and timeouts.
std::vector<double> MeasurePropagation(Config& c, int samples,
                                       int64_t* errors) {
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (const ta_bench::ServerChild& server : c.servers) {
    stubs.push_back(v1::TokenService::NewStub(grpc::CreateChannel(
        server.address, grpc::InsecureChannelCredentials())));
  }
  // 1: allowed, 0: refused as revoked, -1: anything else.
  auto verify = [&](v1::TokenService::Stub& stub, const std::string& jwt) {
    grpc::ClientContext ctx;
    ta_bench::Authorize(&ctx, c.f.verifier_key);
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(c.f.es_org);
    req.set_stream_name("cam1");
    v1::VerifyTokenResponse resp;
    if (!stub.VerifyToken(&ctx, req, &resp).ok()) return -1;
    if (resp.allowed()) return 1;
    return resp.reason() == v1::DENY_REASON_REVOKED ? 0 : -1;
  };
  std::vector<double> delays_ms;
  for (int i = 0; i < samples; ++i) {
    v1::TokenService::Stub& from = *stubs[i % 2];
    v1::TokenService::Stub& to = *stubs[1 - i % 2];
    v1::IssueTokenResponse issued;
    {
      grpc::ClientContext ctx;
      ta_bench::Authorize(&ctx, c.f.issuer_key);
      v1::IssueTokenRequest req;
      req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
          "cam1");
      if (!from.IssueToken(&ctx, req, &issued).ok()) {
        ++*errors;
        continue;
      }
    }
    if (verify(to, issued.jwt()) != 1) {
      ++*errors;
      continue;
    }
    {
      grpc::ClientContext ctx;
      ta_bench::Authorize(&ctx, c.f.issuer_key);
      v1::RevokeTokenRequest req;
      req.set_token_id(issued.token().id());
      v1::Token t;
      if (!from.RevokeToken(&ctx, req, &t).ok()) {
        ++*errors;
        continue;
      }
    }
    const auto revoked = ta_bench::Clock::now();
    const auto deadline = revoked + std::chrono::seconds(5);
    int state = 1;
    while ((state = verify(to, issued.jwt())) == 1 &&
           ta_bench::Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (state != 0) {
      ++*errors;
      continue;
    }
    delays_ms.push_back(std::chrono::duration<double, std::milli>(
                            ta_bench::Clock::now() - revoked)
                            .count());
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  return delays_ms;
}

void PrintTable(std::vector<std::unique_ptr<Config>>& configs) {
  std::printf("%-15s %-21s %9s %7s %9s %8s %8s %6s %8s %8s %8s %8s\n",
              "configuration", "phase", "requests", "errors", "req/s", "p50 us",
              "p99 us", "idle%", "srv cpu", "db cpu", "gen cpu", "writer");
  for (auto& c : configs) {
    for (int p = 0; p < kPhases; ++p) {
      PhaseResult& r = c->results[p];
      const int64_t n = r.completed();
      char writer[32] = "-";
      if (p == kIssue) {
        std::snprintf(writer, sizeof(writer), "%.1f",
                      ta_bench::CpuTicks::PerCall(c->writer_ticks, n));
      }
      std::printf(
          "%-15s %-21s %9lld %7lld %9.0f %8.0f %8.0f %6.1f %8.1f %8.1f %8.1f "
          "%8s\n",
          c->name.c_str(), r.name.c_str(), static_cast<long long>(n),
          static_cast<long long>(r.errors), r.rps(), r.Percentile(50),
          r.Percentile(99), r.cpu.Percent(r.cpu.idle),
          ta_bench::CpuTicks::PerCall(r.cpu.server, n),
          ta_bench::CpuTicks::PerCall(c->db_ticks[p], n),
          ta_bench::CpuTicks::PerCall(r.cpu.client, n), writer);
    }
  }
  std::printf(
      "(cpu: microseconds of CPU per completed call; srv: the configuration's "
      "token-authority processes, db: PostgreSQL's, gen: this program, "
      "writer: the servers' writer threads)\n");
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{
      "replica_bench: IssueToken and VerifyToken ES256 on the SQLite server "
      "and on 1 and 2 PostgreSQL replicas, in one run"};
  app.add_option("--server-binary", s.server_binary)->capture_default_str();
  app.add_option("--channels", s.channels)->capture_default_str();
  app.add_option("--in-flight", s.in_flight, "calls in flight")
      ->capture_default_str();
  app.add_option("--requests", s.requests,
                 "requests per phase and configuration (over all rounds)")
      ->capture_default_str();
  app.add_option("--seconds", s.seconds,
                 "time limit per phase and configuration (over all rounds)")
      ->capture_default_str();
  app.add_option("--warmup", s.warmup, "warm-up requests per phase")
      ->capture_default_str();
  app.add_option("--rounds", s.rounds, "interleaved rounds")
      ->capture_default_str();
  app.add_option("--propagation-samples", s.propagation_samples,
                 "revocations whose propagation between the two PostgreSQL "
                 "replicas is measured")
      ->capture_default_str();
  app.add_option("--pg-fsync", s.pg_fsync,
                 "PostgreSQL fsync and full_page_writes (on: durable like "
                 "SQLite's synchronous=FULL)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (s.channels < 2 || s.in_flight < 1 || s.requests < 1 || s.rounds < 1) {
    Die("--channels must be at least 2; --in-flight, --requests and "
        "--rounds positive");
  }

  PostgresCluster::Options pg_options;
  pg_options.fsync = s.pg_fsync;
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start(pg_options);
  if (!cluster.ok())
    Die("PostgreSQL: " + std::string(cluster.status().message()));

  std::vector<std::unique_ptr<Config>> configs;
  for (int replicas : {0, 1, 2}) {
    auto c = std::make_unique<Config>();
    std::string url;
    if (replicas == 0) {
      c->name = "SQLite";
    } else {
      c->name = "PostgreSQL x" + std::to_string(replicas);
      absl::StatusOr<std::string> db = (*cluster)->CreateDatabase();
      if (!db.ok())
        Die("CREATE DATABASE: " + std::string(db.status().message()));
      url = (*cluster)->Url(*db);
    }
    SetUpConfig(s, *c, std::max(replicas, 1), url);
    configs.push_back(std::move(c));
  }

  std::printf(
      "replica_bench: %d channels, %d calls in flight, up to %d requests or "
      "%.0f s per phase and configuration (after %d warm-up requests) in %d "
      "interleaved rounds; PostgreSQL %s (fsync %s)\n",
      s.channels, s.in_flight, s.requests, s.seconds, s.warmup, s.rounds,
      (*cluster)->Url("").c_str(), s.pg_fsync ? "on" : "off");
  std::fflush(stdout);
  auto db_of = [&](const Config& c) -> const PostgresCluster* {
    return c.name == "SQLite" ? nullptr : cluster->get();
  };
  for (auto& c : configs) {
    for (int p = 0; p < kPhases; ++p) {
      if (s.warmup > 0) {
        RunPhase(s, *c, static_cast<Phase>(p), s.warmup, s.seconds, db_of(*c));
      }
      c->db_ticks[p] = 0;
    }
    c->writer_ticks = 0;
  }
  const int per_round = std::max(1, s.requests / s.rounds);
  for (int round = 0; round < s.rounds; ++round) {
    for (auto& c : configs) {
      for (int p = 0; p < kPhases; ++p) {
        c->results[p].name = kPhaseNames[p];
        c->results[p].Add(RunPhase(s, *c, static_cast<Phase>(p), per_round,
                                   s.seconds / s.rounds, db_of(*c)));
      }
    }
  }

  PrintTable(configs);
  const PhaseResult& sqlite = configs[0]->results[kIssue];
  const std::string one = Ratio(configs[1]->results[kIssue], sqlite);
  const std::string two = Ratio(configs[2]->results[kIssue], sqlite);
  const double ratio =
      sqlite.rps() > 0 ? configs[1]->results[kIssue].rps() / sqlite.rps() : 0;
  const bool met = ratio >= 0.5;
  std::printf(
      "IssueToken, PostgreSQL x1 / SQLite: %s  goal >= 0.50 %s\n"
      "IssueToken, PostgreSQL x2 / SQLite: %s\n",
      one.c_str(), met ? "met" : "NOT met", two.c_str());
  std::fflush(stdout);
  int64_t errors = 0;
  const std::vector<double> delays =
      MeasurePropagation(*configs[2], s.propagation_samples, &errors);
  bool propagation_met = false;
  if (!delays.empty()) {
    auto at = [&](size_t p) {
      return delays[std::min(delays.size() - 1, delays.size() * p / 100)];
    };
    propagation_met = at(99) < 200;
    std::printf(
        "revocation propagation, PostgreSQL x2 (revoked on one replica, "
        "refused on the other; %zu samples): p50 %.1f ms, p99 %.1f ms, max "
        "%.1f ms  goal p99 < 200 ms %s\n",
        delays.size(), at(50), at(99), delays.back(),
        propagation_met ? "met" : "NOT met");
  }
  for (auto& c : configs) {
    for (PhaseResult& r : c->results) errors += r.errors;
    for (ta_bench::ServerChild& server : c->servers) {
      ta_bench::StopServer(server);
    }
  }
  if (errors > 0) {
    std::fprintf(stderr, "replica_bench: %lld calls failed\n",
                 static_cast<long long>(errors));
    return 1;
  }
  std::printf(
      "replica_bench: all %zu configurations measured, no call failed\n",
      configs.size());
  return met && propagation_met ? 0 : 2;
}

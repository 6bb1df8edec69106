// replica_propagation: how long a change made through one token-authority
// replica takes to reach another (issue 16: p99 under 200 ms on loopback).
//
// Starts a throw-away PostgreSQL cluster (tests/testing/postgres_cluster.h)
// unless --database names one (an empty database: the replicas create the
// schema), and --replicas token-authority binaries on it (port 0, their own
// data dirs, one shared --kek-file, call logs to /dev/null). Replica A is
// the first, B the second (a third, when asked for, only adds a listener).
//   Revocations: --revocations tokens issued through A, then revoked through
//   A one after another (--interval-ms apart) while a WatchRevocations
//   stream on B records when each arrives.
//   Key rotations and organisation disables: --changes of each through A,
//   one at a time, each waiting for B's WatchOrganizationStates stream to
//   deliver it (a new JWK Set digest; the secure flag toggled).
// The delay is measured on one steady clock to B's delivery from A's answer
// (the change is committed; a delivery before the answer reached this
// program counts as 0, and how many did is printed) and from the start of
// the call to A (an upper bound: it includes A's commit). Prints p50/p99/max
// per kind, the run's time and the load average before and after. Exit status:
// 0 measured (the figures are not checked), 1 a failure.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/create_channel.h"
#include "server/start_line.h"
#include "tests/testing/postgres_cluster.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#define TA_SERVER_BINARY "token-authority"
#endif

namespace {

namespace v1 = ::tokenauthority::v1;
using Clock = std::chrono::steady_clock;

struct Settings {
  std::string database;  // empty: a throw-away cluster
  std::string server_binary = TA_SERVER_BINARY;
  int replicas = 3;
  int revocations = 500;
  int changes = 50;
  int interval_ms = 5;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "replica_propagation: %s\n", message.c_str());
  std::exit(1);
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// --- Replicas ----------------------------------------------------------------

struct Replica {
  pid_t pid = -1;
  std::string address;
  std::unique_ptr<v1::AdminService::Stub> admin;
  std::unique_ptr<v1::KeyService::Stub> keys;
  std::unique_ptr<v1::TokenService::Stub> tokens;
};

// The first stdout line of `fd` within 30 s.
std::string FirstLine(int fd) {
  std::string line;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  return line;
}

Replica StartReplica(const Settings& s, const std::string& url,
                     const std::string& data, const std::string& kek) {
  Replica r;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) Die("pipe failed");
  r.pid = ::fork();
  if (r.pid == 0) {
    ::dup2(out[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);  // the call log
    const char* argv[] = {s.server_binary.c_str(),
                          "--listen",
                          "127.0.0.1:0",
                          "--data-dir",
                          data.c_str(),
                          "--database",
                          url.c_str(),
                          "--kek-file",
                          kek.c_str(),
                          nullptr};
    ::execv(s.server_binary.c_str(), const_cast<char**>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  const std::string line = FirstLine(out[0]);
  ::close(out[0]);
  r.address = token_authority::server::ListenAddressFromStartLine(line);
  if (r.address.empty()) Die("a replica did not start: " + line);
  auto channel =
      grpc::CreateChannel(r.address, grpc::InsecureChannelCredentials());
  r.admin = v1::AdminService::NewStub(channel);
  r.keys = v1::KeyService::NewStub(channel);
  r.tokens = v1::TokenService::NewStub(channel);
  return r;
}

void StopReplica(Replica& r) {
  if (r.pid <= 0) return;
  ::kill(r.pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300 && ::waitpid(r.pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (::waitpid(r.pid, &status, WNOHANG) == 0) {
    ::kill(r.pid, SIGKILL);
    ::waitpid(r.pid, &status, 0);
  }
}

// --- Calls -----------------------------------------------------------------

void Prepare(grpc::ClientContext* c, const std::string& key,
             const std::string& org) {
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  c->AddMetadata("authorization", "Bearer " + key);
  if (!org.empty()) c->AddMetadata("x-organization-id", org);
}

template <typename Stub, typename Req, typename Resp>
Resp MustCall(Stub& stub,
              grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&,
                                           Resp*),
              const Req& req, const std::string& key, const std::string& org,
              const char* what) {
  grpc::ClientContext c;
  Prepare(&c, key, org);
  Resp resp;
  grpc::Status st = (stub.*method)(&c, req, &resp);
  if (!st.ok()) Die(std::string(what) + ": " + st.error_message());
  return resp;
}

// --- Figures ---------------------------------------------------------------

// One kind's delays: from A's answer (0 when B delivered before it) and
// from the start of the call to A (an upper bound, including A's commit).
struct Delays {
  std::vector<double> from_answer;
  std::vector<double> from_call;
  int early = 0;  // delivered before A's answer reached this program
};

void PrintLine(const char* kind, const char* from, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(ms.size() - 1));
    return ms[i];
  };
  std::printf("%-28s %-14s n=%-5zu p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n",
              kind, from, ms.size(), at(0.5), at(0.99), ms.back());
}

void Print(const char* kind, Delays d) {
  if (d.from_answer.empty()) {
    std::printf("%-28s no samples\n", kind);
    return;
  }
  PrintLine(kind, "from answer", std::move(d.from_answer));
  PrintLine(kind, "from call", std::move(d.from_call));
  std::printf("%-28s %d of them delivered before A's answer arrived\n", kind,
              d.early);
}

double Ms(Clock::duration d) {
  return std::max(0.0, std::chrono::duration<double, std::milli>(d).count());
}

// --- Revocations -------------------------------------------------------------

void MeasureRevocations(const Settings& s, Replica& a, Replica& b,
                        const std::string& admin, const std::string& org) {
  std::vector<std::string> ids;
  for (int i = 0; i < s.revocations; ++i) {
    v1::IssueTokenRequest issue;
    issue.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
        "cam1");
    ids.push_back(MustCall(*a.tokens, &v1::TokenService::Stub::IssueToken,
                           issue, admin, org, "IssueToken")
                      .token()
                      .id());
  }
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Clock::time_point> arrived;
  grpc::ClientContext watch;
  watch.AddMetadata("authorization", "Bearer " + admin);
  auto reader =
      b.tokens->WatchRevocations(&watch, v1::WatchRevocationsRequest());
  std::thread watcher([&] {
    v1::RevocationEvent e;
    while (reader->Read(&e)) {
      std::lock_guard<std::mutex> lock(mu);
      arrived[e.token_id()] = Clock::now();
      cv.notify_all();
    }
  });
  std::map<std::string, std::pair<Clock::time_point, Clock::time_point>>
      answered;  // call start, answer
  for (const std::string& id : ids) {
    v1::RevokeTokenRequest rev;
    rev.set_token_id(id);
    const Clock::time_point called = Clock::now();
    MustCall(*a.tokens, &v1::TokenService::Stub::RevokeToken, rev, admin, org,
             "RevokeToken");
    answered[id] = {called, Clock::now()};
    std::this_thread::sleep_for(std::chrono::milliseconds(s.interval_ms));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(30),
                [&] { return arrived.size() >= ids.size(); });
  }
  watch.TryCancel();
  watcher.join();
  (void)reader->Finish();
  Delays d;
  for (const auto& [id, t] : answered) {
    auto it = arrived.find(id);
    if (it == arrived.end()) Die("a revocation never reached B");
    if (it->second < t.second) ++d.early;
    d.from_answer.push_back(Ms(it->second - t.second));
    d.from_call.push_back(Ms(it->second - t.first));
  }
  Print("revocation (WatchRevocations)", std::move(d));
}

// --- Organisation states -----------------------------------------------------

void MeasureOrganizationStates(const Settings& s, Replica& a, Replica& b,
                               const std::string& admin,
                               const std::string& org) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<v1::OrganizationStateEvent, Clock::time_point>> events;
  grpc::ClientContext watch;
  watch.AddMetadata("authorization", "Bearer " + admin);
  v1::WatchOrganizationStatesRequest req;
  req.add_organization_ids(org);
  auto reader = b.tokens->WatchOrganizationStates(&watch, req);
  std::thread watcher([&] {
    v1::OrganizationStateEvent e;
    while (reader->Read(&e)) {
      std::lock_guard<std::mutex> lock(mu);
      events.emplace_back(e, Clock::now());
      cv.notify_all();
    }
  });
  // The snapshot first.
  auto wait_for = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(10),
                     [&] { return events.size() >= n; })) {
      Die("B's WatchOrganizationStates did not deliver a change in 10 s");
    }
    return events[n - 1];
  };
  wait_for(1);
  Delays rotations, toggles;
  auto record = [](Delays& d, Clock::time_point called,
                   Clock::time_point answered, Clock::time_point at) {
    if (at < answered) ++d.early;
    d.from_answer.push_back(Ms(at - answered));
    d.from_call.push_back(Ms(at - called));
  };
  bool secure = true;
  for (int i = 0; i < s.changes; ++i) {
    size_t before;
    {
      std::lock_guard<std::mutex> lock(mu);
      before = events.size();
    }
    v1::RotateSigningKeyRequest rotate;
    rotate.set_algorithm(v1::ALGORITHM_ES256);
    Clock::time_point called = Clock::now();
    MustCall(*a.keys, &v1::KeyService::Stub::RotateSigningKey, rotate, admin,
             org, "RotateSigningKey");
    Clock::time_point t = Clock::now();
    auto [e, at] = wait_for(before + 1);
    record(rotations, called, t, at);

    secure = !secure;
    v1::UpdateOrganizationRequest update;
    update.set_organization_id(org);
    update.set_secure_enabled(secure);
    called = Clock::now();
    MustCall(*a.admin, &v1::AdminService::Stub::UpdateOrganization, update,
             admin, "", "UpdateOrganization");
    t = Clock::now();
    auto [e2, at2] = wait_for(before + 2);
    if (e2.secure_enabled() != secure) Die("B delivered the wrong state");
    record(toggles, called, t, at2);
  }
  watch.TryCancel();
  watcher.join();
  (void)reader->Finish();
  Print("key rotation (OrgStates)", std::move(rotations));
  Print("secure toggled (OrgStates)", std::move(toggles));
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"How long a change through one replica takes to reach another"};
  app.add_option("--database", s.database,
                 "postgresql:// URL of an empty database (default: a "
                 "throw-away cluster)");
  app.add_option("--server", s.server_binary, "token-authority binary");
  app.add_option("--replicas", s.replicas, "2 or 3")->check(CLI::Range(2, 3));
  app.add_option("--revocations", s.revocations)->check(CLI::Range(1, 100000));
  app.add_option("--changes", s.changes, "rotations and secure toggles each")
      ->check(CLI::Range(1, 1000));
  app.add_option("--interval-ms", s.interval_ms, "between revocations")
      ->check(CLI::Range(0, 10000));
  CLI11_PARSE(app, argc, argv);
  ::signal(SIGPIPE, SIG_IGN);

  const auto start = Clock::now();
  const std::string load_before = LoadAverage();
  std::unique_ptr<token_authority::testing::PostgresCluster> cluster;
  std::string url = s.database;
  if (url.empty()) {
    auto c = token_authority::testing::PostgresCluster::Start();
    if (!c.ok()) Die(std::string(c.status().message()));
    cluster = std::move(*c);
    auto db = cluster->CreateDatabase();
    if (!db.ok()) Die(std::string(db.status().message()));
    url = cluster->Url(*db);
  }
  char tmpl[] = "/tmp/ta-replicas-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const std::string dir = tmpl;
  const std::string kek = dir + "/kek.key";
  {
    std::ofstream f(kek, std::ios::binary);
    std::ifstream random("/dev/urandom", std::ios::binary);
    char key[32];
    random.read(key, sizeof(key));
    f.write(key, sizeof(key));
  }
  ::chmod(kek.c_str(), 0600);
  std::vector<Replica> replicas;
  for (int i = 0; i < s.replicas; ++i) {
    replicas.push_back(
        StartReplica(s, url, dir + "/replica" + std::to_string(i), kek));
  }
  std::string admin;
  {
    std::ifstream f(dir + "/replica0/admin.key");
    std::getline(f, admin);
    while (!admin.empty() && (admin.back() == '\n' || admin.back() == ' ')) {
      admin.pop_back();
    }
    if (admin.empty()) Die("no admin key");
  }
  v1::CreateOrganizationRequest create;
  create.set_name("Bench");
  create.set_secure_enabled(true);
  const std::string org =
      MustCall(*replicas[0].admin, &v1::AdminService::Stub::CreateOrganization,
               create, admin, "", "CreateOrganization")
          .id();
  // B knows the organisation before the clocks start.
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext c;
    Prepare(&c, admin, org);
    v1::GetJwksRequest req;
    req.set_organization_id(org);
    v1::GetJwksResponse resp;
    if (replicas[1].keys->GetJwks(&c, req, &resp).ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("replica_propagation: %d replicas on %s, load average %s\n",
              s.replicas,
              s.database.empty() ? "a throw-away cluster" : "--database",
              load_before.c_str());
  MeasureRevocations(s, replicas[0], replicas[1], admin, org);
  MeasureOrganizationStates(s, replicas[0], replicas[1], admin, org);
  for (Replica& r : replicas) ::kill(r.pid, SIGTERM);  // all stop at once
  for (Replica& r : replicas) StopReplica(r);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::printf(
      "replica_propagation: done in %.1f s, load average before %s, after "
      "%s\n",
      std::chrono::duration<double>(Clock::now() - start).count(),
      load_before.c_str(), LoadAverage().c_str());
  return 0;
}

// server_load: a load run against one token-authority server over loopback.
//
// Starts the token-authority binary (port 0, a temporary data directory, its
// call log to /dev/null) unless --target names a running server, sets up two
// organisations (ES256 and HS256 primary keys) with the admin key, then drives
// five phases with the callback client API, many calls in flight over a few
// channels (256 by default: IssueToken waits for an fsync, and with 64 in
// flight 12 % of the machine's CPU stayed idle in that phase), each bounded
// by a request count and a time limit:
//   Health/Check, VerifyToken ES256 (one token replayed, as every viewer of
//   a page presents the player configuration's token: after the first call
//   the server's verify cache answers), VerifyToken ES256 with a new token
//   each call (issued beforehand: every call checks a signature),
//   VerifyToken HS256 (one token), IssueToken (durable, ES256).
// The phases run interleaved in --rounds rounds (each a share of every
// phase), so that a change in the shared machine's load hits all phases
// alike instead of the one that happened to run then.
// Prints requests/s, p50 and p99 for each, the share of the machine's CPU
// left idle (and stolen by the hypervisor) while it ran, the CPU time per
// call of the server (when started here) and of this program (the two share
// the machine, so both count in every ratio), and each one's ratio to
// Health/Check from the same run (and the range of the rounds' ratios), with
// the goals (0.30 / 0.70 / 0.30). bench/h2load_ratios.sh measures the same
// ratios with h2load, a much lighter load generator.
// Exit status: 0 every goal met, 2 a goal not met, 1 a call failed or the
// run could not be set up.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/start_line.h"
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
  std::string target;  // empty: start the binary
  std::string admin_key_file;
  std::string server_binary = TA_SERVER_BINARY;
  int channels = 4;
  int in_flight = 256;
  int requests = 20000;
  double seconds = 10;
  int warmup = 500;
  int rounds = 5;    // phases interleaved, each round a share of every phase
  std::string only;  // "health,es256,hs256,issue" subset; empty: all
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "server_load: %s\n", message.c_str());
  std::exit(1);
}

// --- The server child ------------------------------------------------------

struct ServerChild {
  pid_t pid = -1;
  std::string address;
  std::string data_dir;
  std::string admin_key;
};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

ServerChild StartServer(const Settings& settings) {
  ServerChild child;
  char tmpl[] = "/tmp/ta-load-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  child.data_dir = tmpl;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) Die("pipe failed");
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(out[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);  // the call log: one line per call
    std::string binary = settings.server_binary;
    std::string data = child.data_dir + "/var";
    const char* argv[] = {binary.c_str(), "--listen",   "127.0.0.1:0",
                          "--data-dir",   data.c_str(), nullptr};
    ::execv(binary.c_str(), const_cast<char**>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  child.address = token_authority::server::ListenAddressFromStartLine(line);
  if (child.address.empty()) Die("the server did not start: " + line);
  std::ifstream key(child.data_dir + "/var/admin.key");
  std::getline(key, child.admin_key);
  child.admin_key = Trim(child.admin_key);
  if (child.admin_key.empty()) Die("no admin key");
  return child;
}

void StopServer(ServerChild& child) {
  if (child.pid <= 0) return;
  ::kill(child.pid, SIGTERM);
  int status = 0;
  // The server's grace is 10 s by default; one that is still there after 30 s
  // is killed, so the benchmark never hangs on a stuck shutdown.
  for (int i = 0; i < 300 && ::waitpid(child.pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (::waitpid(child.pid, &status, WNOHANG) == 0) {
    std::fprintf(stderr,
                 "server_load: the server did not stop in 30 s; killed\n");
    ::kill(child.pid, SIGKILL);
    ::waitpid(child.pid, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(child.data_dir, ec);
}

// --- Set-up with blocking calls ----------------------------------------------

// Every call carries a deadline, as production callers' calls (and health
// probes: grpc_health_probe, Kubernetes' gRPC probe) do.
void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
}

void Authorize(grpc::ClientContext* context, const std::string& key,
               const std::string& org = "") {
  context->AddMetadata("authorization", "Bearer " + key);
  if (!org.empty()) context->AddMetadata("x-organization-id", org);
  SetDeadline(context);
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    Die(std::string(what) + ": " + status.error_message());
  }
}

struct Fixture {
  std::string es_org, hs_org;
  std::string issuer_key;  // of es_org
  std::string verifier_key;
  std::string es_jwt, hs_jwt;
};

Fixture SetUp(const std::shared_ptr<grpc::Channel>& channel,
              const std::string& admin_key) {
  auto admin = v1::AdminService::NewStub(channel);
  auto keys = v1::KeyService::NewStub(channel);
  auto tokens = v1::TokenService::NewStub(channel);
  Fixture f;
  for (std::string* org : {&f.es_org, &f.hs_org}) {
    grpc::ClientContext c;
    Authorize(&c, admin_key);
    v1::CreateOrganizationRequest req;
    req.set_name("load");
    req.set_secure_enabled(true);
    v1::Organization o;
    Check(admin->CreateOrganization(&c, req, &o), "CreateOrganization");
    *org = o.id();
  }
  {
    grpc::ClientContext c;
    Authorize(&c, admin_key);
    v1::CreateApiKeyRequest req;
    req.set_organization_id(f.es_org);
    req.set_role(v1::API_KEY_ROLE_ISSUER);
    v1::CreateApiKeyResponse resp;
    Check(admin->CreateApiKey(&c, req, &resp), "CreateApiKey");
    f.issuer_key = resp.secret();
  }
  {
    grpc::ClientContext c;
    Authorize(&c, admin_key);
    v1::CreateApiKeyRequest req;
    req.set_role(v1::API_KEY_ROLE_VERIFIER);
    v1::CreateApiKeyResponse resp;
    Check(admin->CreateApiKey(&c, req, &resp), "CreateApiKey");
    f.verifier_key = resp.secret();
  }
  {
    grpc::ClientContext c;
    Authorize(&c, admin_key, f.hs_org);
    v1::RotateSigningKeyRequest req;
    req.set_algorithm(v1::ALGORITHM_HS256);
    v1::RotateSigningKeyResponse resp;
    Check(keys->RotateSigningKey(&c, req, &resp), "RotateSigningKey");
  }
  for (auto [org, jwt] : {std::make_pair(f.es_org, &f.es_jwt),
                          std::make_pair(f.hs_org, &f.hs_jwt)}) {
    grpc::ClientContext c;
    Authorize(&c, admin_key, org);
    v1::IssueTokenRequest req;
    req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
        "cam1");
    v1::IssueTokenResponse resp;
    Check(tokens->IssueToken(&c, req, &resp), "IssueToken");
    *jwt = resp.jwt();
  }
  return f;
}

// --- The load driver
// -----------------------------------------------------------

// One call of a phase: starts the RPC and calls `done(ok)` when it ends.
using StartCall = std::function<void(size_t channel_index,
                                     std::function<void(bool ok)> done)>;

// CPU time in ticks: the machine's from the first line of /proc/stat (all
// of it, the idle part (idle + iowait) and the part the hypervisor gave to
// others (steal)), and that of the server process (when this program started
// it) and of this one (user + system, from /proc/<pid>/stat). Zero where a
// file cannot be read.
struct CpuTicks {
  int64_t total = 0, idle = 0, steal = 0;
  int64_t server = 0, client = 0;
  static CpuTicks Now(pid_t server_pid) {
    CpuTicks t;
    t.client = ProcessTicks("/proc/self/stat");
    if (server_pid > 0) {
      t.server = ProcessTicks("/proc/" + std::to_string(server_pid) + "/stat");
    }
    std::ifstream in("/proc/stat");
    std::string cpu;
    int64_t v[8] = {0};  // user nice system idle iowait irq softirq steal
    if (!(in >> cpu) || cpu != "cpu") return t;
    for (int64_t& x : v) in >> x;
    for (int64_t x : v) t.total += x;
    t.idle = v[3] + v[4];
    t.steal = v[7];
    return t;
  }
  CpuTicks operator-(const CpuTicks& o) const {
    return {total - o.total, idle - o.idle, steal - o.steal, server - o.server,
            client - o.client};
  }
  void operator+=(const CpuTicks& o) {
    total += o.total;
    idle += o.idle;
    steal += o.steal;
    server += o.server;
    client += o.client;
  }
  double Percent(int64_t part) const {
    return total > 0 ? 100.0 * part / total : 0;
  }
  // Microseconds of CPU per call; 0 without calls.
  static double PerCall(int64_t ticks, int64_t calls) {
    static const double kTick =
        1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    return calls > 0 ? ticks * kTick / static_cast<double>(calls) : 0;
  }

 private:
  // utime + stime (fields 14 and 15) of /proc/<pid>/stat; the name in
  // field 2 may hold spaces, so fields are counted after its ')'.
  static int64_t ProcessTicks(const std::string& path) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    const size_t paren = text.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(text.substr(paren + 1));
    std::string field;
    int64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && (fields >> field); ++i) {
      if (i == 14) utime = std::atoll(field.c_str());
      if (i == 15) stime = std::atoll(field.c_str());
    }
    return utime + stime;
  }
};

// What one phase measured, summed over its rounds.
struct PhaseResult {
  std::string name;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_us;  // one per completed call
  std::vector<double> round_rps;     // requests/s of each round
  CpuTicks cpu;                      // while it ran
  int64_t completed() const {
    return static_cast<int64_t>(latencies_us.size());
  }
  double rps() const { return seconds > 0 ? completed() / seconds : 0; }
  double Percentile(int p) {
    if (latencies_us.empty()) return 0;
    std::sort(latencies_us.begin(), latencies_us.end());
    return latencies_us[std::min(latencies_us.size() - 1,
                                 latencies_us.size() * p / 100)];
  }
  void Add(const PhaseResult& round) {
    errors += round.errors;
    seconds += round.seconds;
    latencies_us.insert(latencies_us.end(), round.latencies_us.begin(),
                        round.latencies_us.end());
    round_rps.push_back(round.rps());
    cpu += round.cpu;
  }
};

class Driver {
 public:
  Driver(const Settings& settings, pid_t server_pid, StartCall start)
      : settings_(settings),
        server_pid_(server_pid),
        start_(std::move(start)) {}

  // Runs `limit` calls (or until `seconds`), `in_flight` at a time.
  PhaseResult Run(const std::string& name, int limit, double seconds) {
    limit_ = limit;
    issued_.store(0);
    finished_ = 0;
    errors_.store(0);
    latencies_.assign(settings_.in_flight, {});
    const CpuTicks cpu_start = CpuTicks::Now(server_pid_);
    start_time_ = Clock::now();
    deadline_ = start_time_ +
                std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
    for (int slot = 0; slot < settings_.in_flight; ++slot) Next(slot);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return finished_ == settings_.in_flight; });
    }
    const double elapsed =
        std::chrono::duration<double>(Clock::now() - start_time_).count();
    PhaseResult r;
    r.name = name;
    for (auto& v : latencies_) {
      r.latencies_us.insert(r.latencies_us.end(), v.begin(), v.end());
    }
    r.errors = errors_.load();
    r.seconds = elapsed;
    r.cpu = CpuTicks::Now(server_pid_) - cpu_start;
    return r;
  }

 private:
  // Starts the next call on `slot`, or retires the slot.
  void Next(int slot) {
    const int n = issued_.fetch_add(1);
    if (n >= limit_ || Clock::now() >= deadline_) {
      std::lock_guard<std::mutex> lock(mu_);
      if (++finished_ == settings_.in_flight) cv_.notify_all();
      return;
    }
    const auto begin = Clock::now();
    start_(static_cast<size_t>(slot % settings_.channels),
           [this, slot, begin](bool ok) {
             const double us =
                 std::chrono::duration<double, std::micro>(Clock::now() - begin)
                     .count();
             if (ok) {
               latencies_[slot].push_back(us);
             } else {
               errors_.fetch_add(1);
             }
             Next(slot);
           });
  }

  const Settings& settings_;
  pid_t server_pid_;  // -1: not known (--target)
  StartCall start_;
  int limit_ = 0;
  std::atomic<int> issued_{0};
  std::atomic<int64_t> errors_{0};
  std::vector<std::vector<double>> latencies_;  // per slot: no locking
  Clock::time_point start_time_, deadline_;
  std::mutex mu_;
  std::condition_variable cv_;
  int finished_ = 0;
};

// `message` serialized once, to send as it is on many calls.
grpc::ByteBuffer Serialized(const google::protobuf::MessageLite& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

// Parses a reply; false if it is not a `Message`.
template <typename Message>
bool Parse(const grpc::ByteBuffer& reply, Message* message) {
  grpc::ByteBuffer copy(reply);  // Deserialize consumes its buffer
  return grpc::SerializationTraits<Message>::Deserialize(&copy, message).ok();
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{
      "server_load: Health/Check, VerifyToken (ES256, HS256) and "
      "IssueToken (durable, ES256) against one token-authority"};
  app.add_option("--target", s.target,
                 "host:port of a running server (default: start one)");
  app.add_option("--admin-key-file", s.admin_key_file,
                 "admin key of the --target server");
  app.add_option("--server-binary", s.server_binary)->capture_default_str();
  app.add_option("--channels", s.channels)->capture_default_str();
  app.add_option("--in-flight", s.in_flight, "calls in flight")
      ->capture_default_str();
  app.add_option("--requests", s.requests, "requests per phase")
      ->capture_default_str();
  app.add_option("--seconds", s.seconds, "time limit per phase")
      ->capture_default_str();
  app.add_option("--warmup", s.warmup, "warm-up requests per phase")
      ->capture_default_str();
  app.add_option("--rounds", s.rounds,
                 "rounds: each runs every phase for requests/rounds calls "
                 "(seconds/rounds), so that a change in the machine's load "
                 "hits all phases alike")
      ->capture_default_str();
  app.add_option(
      "--only", s.only,
      "comma-separated phases to run: health, es256, es256new, hs256, "
      "issue "
      "(ratios need health)");
  CLI11_PARSE(app, argc, argv);
  if (s.channels < 1 || s.in_flight < 1 || s.requests < 1 || s.rounds < 1) {
    Die("--channels, --in-flight, --requests and --rounds must be positive");
  }

  ServerChild child;
  std::string admin_key;
  if (s.target.empty()) {
    child = StartServer(s);
    s.target = child.address;
    admin_key = child.admin_key;
  } else {
    std::ifstream in(s.admin_key_file);
    std::getline(in, admin_key);
    admin_key = Trim(admin_key);
    if (admin_key.empty()) Die("--admin-key-file: no key");
  }

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < s.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("ta.load_channel", i);  // distinct args: distinct connections
    channels.push_back(grpc::CreateCustomChannel(
        s.target, grpc::InsecureChannelCredentials(), args));
  }
  const Fixture f = SetUp(channels[0], admin_key);

  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  for (auto& c : channels) {
    generic.push_back(std::make_unique<grpc::GenericStub>(c));
  }

  // Every phase sends prebuilt request bytes through the generic stub (as
  // h2load would), with the same deadline, and checks each reply, so that
  // the client's own work per call is alike in every phase and the ratios
  // compare the server's.
  // `body()` is the next call's request; `key` (if set) goes in
  // "authorization: Bearer"; `check` says whether the reply is right.
  auto generic_call =
      [&](std::string method, std::function<const grpc::ByteBuffer&()> body,
          std::string key, std::function<bool(const grpc::ByteBuffer&)> check) {
        return StartCall([&, method, body, key, check](
                             size_t ch, std::function<void(bool)> done) {
          struct State {
            grpc::ClientContext context;
            grpc::ByteBuffer request, response;
          };
          auto* st = new State;
          if (key.empty()) {
            SetDeadline(&st->context);
          } else {
            Authorize(&st->context, key);
          }
          st->request = body();
          generic[ch]->UnaryCall(
              &st->context, method, grpc::StubOptions(), &st->request,
              &st->response, [st, done, check](grpc::Status status) {
                const bool ok = status.ok() && check(st->response);
                delete st;
                done(ok);
              });
        });
      };
  // Health/Check: an empty HealthCheckRequest; SERVING is {status: 1}.
  grpc::Slice empty_slice("");
  const grpc::ByteBuffer empty_body(&empty_slice, 1);
  StartCall health = generic_call(
      "/grpc.health.v1.Health/Check",
      [&]() -> const grpc::ByteBuffer& { return empty_body; }, "",
      [](const grpc::ByteBuffer& r) { return r.Length() == 2; });
  // VerifyToken of the requests `bodies` (one per token), in turn.
  auto verify = [&](const std::vector<grpc::ByteBuffer>* bodies) {
    auto next = std::make_shared<std::atomic<size_t>>(0);
    return generic_call(
        "/tokenauthority.v1.TokenService/VerifyToken",
        [bodies, next]() -> const grpc::ByteBuffer& {
          return (*bodies)[next->fetch_add(1) % bodies->size()];
        },
        f.verifier_key,
        [](const grpc::ByteBuffer& r) {
          v1::VerifyTokenResponse resp;
          return Parse(r, &resp) && resp.allowed();
        });
  };
  auto verify_body = [&](const std::string& jwt, const std::string& org) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(org);
    req.set_stream_name("cam1");
    return Serialized(req);
  };
  // IssueToken of a one-stream token; `keep` (if set) gets each JWT.
  v1::IssueTokenRequest issue_request;
  issue_request.mutable_spec()
      ->mutable_target()
      ->mutable_stream_names()
      ->add_names("cam1");
  issue_request.mutable_spec()->set_tag("load");
  const grpc::ByteBuffer issue_body = Serialized(issue_request);
  auto issue_calls = [&](std::function<void(const std::string&)> keep) {
    return generic_call(
        "/tokenauthority.v1.TokenService/IssueToken",
        [&]() -> const grpc::ByteBuffer& { return issue_body; }, f.issuer_key,
        [keep](const grpc::ByteBuffer& r) {
          v1::IssueTokenResponse resp;
          if (!Parse(r, &resp) || resp.jwt().empty()) return false;
          if (keep) keep(resp.jwt());
          return true;
        });
  };
  StartCall issue = issue_calls(nullptr);

  // One token for every call, as when the viewers of a page all present the
  // player configuration's token (the server's verify cache answers after
  // the first call), and a new token for every call (every call checks a
  // signature), issued before the phases.
  const std::vector<grpc::ByteBuffer> es_same = {
      verify_body(f.es_jwt, f.es_org)};
  const std::vector<grpc::ByteBuffer> hs_same = {
      verify_body(f.hs_jwt, f.hs_org)};
  // Calls of a phase in each round.
  const int per_round = std::max(1, s.requests / s.rounds);
  std::vector<grpc::ByteBuffer> es_new;
  if (s.only.empty() ||
      ("," + s.only + ",").find(",es256new,") != std::string::npos) {
    std::mutex mu;
    // One per call of the phase: its warm-up and every round's share.
    const size_t want = static_cast<size_t>(per_round) * s.rounds + s.warmup;
    es_new.reserve(want);
    StartCall issue_one = issue_calls([&](const std::string& jwt) {
      grpc::ByteBuffer body = verify_body(jwt, f.es_org);
      std::lock_guard<std::mutex> lock(mu);
      es_new.push_back(std::move(body));
    });
    Driver(s, child.pid, issue_one).Run("issue", static_cast<int>(want), 600);
    if (es_new.size() < want) Die("could not issue the tokens of es256new");
  }

  struct Phase {
    std::string key;
    std::string name;
    StartCall start;
    double goal;  // ratio to Health/Check; 0: the reference
  };
  std::vector<Phase> phases;
  for (Phase p : std::vector<Phase>{
           {"health", "Health/Check", health, 0},
           {"es256", "VerifyToken ES256", verify(&es_same), 0.30},
           {"es256new", "  new token each call", verify(&es_new), 0.30},
           {"hs256", "VerifyToken HS256", verify(&hs_same), 0.70},
           {"issue", "IssueToken ES256", issue, 0.30},
       }) {
    if (s.only.empty() ||
        ("," + s.only + ",").find("," + p.key + ",") != std::string::npos) {
      phases.push_back(std::move(p));
    }
  }

  std::printf(
      "server_load: %s, %d channels, %d calls in flight, up to %d requests or "
      "%.0f s per phase (after %d warm-up requests) in %d interleaved "
      "rounds\n",
      s.target.c_str(), s.channels, s.in_flight, s.requests, s.seconds,
      s.warmup, s.rounds);
  std::vector<PhaseResult> results(phases.size());
  for (size_t i = 0; i < phases.size(); ++i) {
    results[i].name = phases[i].name;
    Driver driver(s, child.pid, phases[i].start);
    if (s.warmup > 0) driver.Run(phases[i].name, s.warmup, s.seconds);
  }
  for (int round = 0; round < s.rounds; ++round) {
    for (size_t i = 0; i < phases.size(); ++i) {
      Driver driver(s, child.pid, phases[i].start);
      results[i].Add(
          driver.Run(phases[i].name, per_round, s.seconds / s.rounds));
    }
  }

  // A phase's ratio is its total rate over Health's; the range is that of
  // the rounds' ratios (each round's phases ran seconds apart).
  // "cpu us/call": CPU time per completed call of the server process (when
  // this program started it; "-" with --target) and of this load generator.
  std::printf("%-20s %9s %7s %11s %9s %9s %6s %6s %8s %8s %9s %13s  %s\n",
              "phase", "requests", "errors", "req/s", "p50 us", "p99 us",
              "idle%", "steal%", "srv cpu", "gen cpu", "x health",
              "round range", "goal");
  const PhaseResult* reference = nullptr;
  for (size_t i = 0; i < phases.size(); ++i) {
    if (phases[i].goal == 0) reference = &results[i];
  }
  bool all_met = true;
  int64_t errors = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    PhaseResult& r = results[i];
    errors += r.errors;
    double ratio = 0, lo = 0, hi = 0;
    if (reference != nullptr && reference->rps() > 0) {
      ratio = r.rps() / reference->rps();
      for (size_t k = 0; k < r.round_rps.size(); ++k) {
        const double h = reference->round_rps[k];
        const double x = h > 0 ? r.round_rps[k] / h : 0;
        lo = k == 0 ? x : std::min(lo, x);
        hi = k == 0 ? x : std::max(hi, x);
      }
    }
    std::string goal = "reference";
    if (phases[i].goal > 0) {
      const bool met = ratio >= phases[i].goal && r.errors == 0;
      all_met = all_met && met;
      char buf[64];
      std::snprintf(buf, sizeof(buf), ">= %.2f %s", phases[i].goal,
                    met ? "met" : "NOT met");
      goal = buf;
    }
    char range[32];
    std::snprintf(range, sizeof(range), "%.2f-%.2f", lo, hi);
    char server_cpu[32] = "-";
    if (child.pid > 0) {
      std::snprintf(server_cpu, sizeof(server_cpu), "%.1f",
                    CpuTicks::PerCall(r.cpu.server, r.completed()));
    }
    std::printf(
        "%-20s %9lld %7lld %11.0f %9.0f %9.0f %6.1f %6.1f %8s %8.1f %9.2f "
        "%13s  %s\n",
        r.name.c_str(), static_cast<long long>(r.completed()),
        static_cast<long long>(r.errors), r.rps(), r.Percentile(50),
        r.Percentile(99), r.cpu.Percent(r.cpu.idle), r.cpu.Percent(r.cpu.steal),
        server_cpu, CpuTicks::PerCall(r.cpu.client, r.completed()), ratio,
        range, goal.c_str());
  }
  std::fflush(stdout);
  StopServer(child);
  if (errors > 0) {
    std::fprintf(stderr, "server_load: %lld calls failed\n",
                 static_cast<long long>(errors));
    return 1;
  }
  // The smoke test (server_load_smoke.sh) passes only with this line: a run
  // that stopped early, whatever its exit status, never prints it.
  std::printf("server_load: all %zu phases measured, no call failed\n",
              phases.size());
  return all_met ? 0 : 2;
}

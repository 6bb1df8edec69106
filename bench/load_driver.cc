#include "bench/load_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "server/start_line.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace ta_bench {

namespace v1 = ::tokenauthority::v1;

void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name,
               message.c_str());
  std::exit(1);
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  return line;
}

ServerChild StartServer(const std::string& binary,
                        const std::vector<std::string>& extra_args) {
  ServerChild child;
  char tmpl[] = "/tmp/ta-load-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  child.root = tmpl;
  child.data_dir = child.root + "/var";
  // Everything the child needs, made before fork.
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0",
                                   "--data-dir", child.data_dir};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) Die("pipe failed");
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(out[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);  // the call log: one line per call
    ::execv(argv[0], argv.data());
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
  child.admin_key = ReadKeyFile(child.data_dir + "/admin.key");
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
    std::fprintf(stderr, "%s: the server did not stop in 30 s; killed\n",
                 program_invocation_short_name);
    ::kill(child.pid, SIGKILL);
    ::waitpid(child.pid, &status, 0);
  }
  child.pid = -1;
  std::error_code ec;
  std::filesystem::remove_all(child.root, ec);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
}

void Authorize(grpc::ClientContext* context, const std::string& key,
               const std::string& org) {
  context->AddMetadata("authorization", "Bearer " + key);
  if (!org.empty()) context->AddMetadata("x-organization-id", org);
  SetDeadline(context);
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    Die(std::string(what) + ": " + status.error_message());
  }
}

Fixture SetUpFixture(const std::shared_ptr<grpc::Channel>& channel,
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

grpc::ByteBuffer Serialized(const google::protobuf::MessageLite& message) {
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

StartCall GenericCall(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    std::string method, std::function<const grpc::ByteBuffer&()> body,
    std::string key, std::function<bool(const grpc::ByteBuffer&)> check) {
  return [stubs, method, body, key, check](size_t ch,
                                           std::function<void(bool)> done) {
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
    (*stubs)[ch]->UnaryCall(
        &st->context, method, grpc::StubOptions(), &st->request, &st->response,
        [st, done, check](grpc::Status status) {
          const bool ok = status.ok() && check(st->response);
          delete st;
          done(ok);
        });
  };
}

grpc::ByteBuffer VerifyBody(const std::string& jwt, const std::string& org) {
  v1::VerifyTokenRequest req;
  req.set_jwt(jwt);
  req.set_organization_id(org);
  req.set_stream_name("cam1");
  return Serialized(req);
}

StartCall VerifyCalls(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    const std::vector<grpc::ByteBuffer>* bodies,
    const std::string& verifier_key) {
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return GenericCall(
      stubs, "/tokenauthority.v1.TokenService/VerifyToken",
      [bodies, next]() -> const grpc::ByteBuffer& {
        return (*bodies)[next->fetch_add(1) % bodies->size()];
      },
      verifier_key,
      [](const grpc::ByteBuffer& r) {
        v1::VerifyTokenResponse resp;
        return Parse(r, &resp) && resp.allowed();
      });
}

StartCall IssueCalls(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    const grpc::ByteBuffer* body, const std::string& issuer_key,
    std::function<void(const std::string&)> keep) {
  return GenericCall(
      stubs, "/tokenauthority.v1.TokenService/IssueToken",
      [body]() -> const grpc::ByteBuffer& { return *body; }, issuer_key,
      [keep](const grpc::ByteBuffer& r) {
        v1::IssueTokenResponse resp;
        if (!Parse(r, &resp) || resp.jwt().empty()) return false;
        if (keep) keep(resp.jwt());
        return true;
      });
}

int64_t ProcessTicks(const std::string& path) {
  // utime + stime (fields 14 and 15); the name in field 2 may hold spaces,
  // so fields are counted after its ')'.
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

CpuTicks CpuTicks::Now(const std::vector<pid_t>& servers) {
  CpuTicks t;
  t.client = ProcessTicks("/proc/self/stat");
  for (pid_t pid : servers) {
    t.server += ProcessTicks("/proc/" + std::to_string(pid) + "/stat");
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

CpuTicks CpuTicks::operator-(const CpuTicks& o) const {
  return {total - o.total, idle - o.idle, steal - o.steal, server - o.server,
          client - o.client};
}

void CpuTicks::operator+=(const CpuTicks& o) {
  total += o.total;
  idle += o.idle;
  steal += o.steal;
  server += o.server;
  client += o.client;
}

double CpuTicks::PerCall(int64_t ticks, int64_t calls) {
  static const double kTick = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return calls > 0 ? ticks * kTick / static_cast<double>(calls) : 0;
}

double PhaseResult::Percentile(int p) {
  if (latencies_us.empty()) return 0;
  std::sort(latencies_us.begin(), latencies_us.end());
  return latencies_us[std::min(latencies_us.size() - 1,
                               latencies_us.size() * p / 100)];
}

void PhaseResult::Add(const PhaseResult& round) {
  errors += round.errors;
  seconds += round.seconds;
  latencies_us.insert(latencies_us.end(), round.latencies_us.begin(),
                      round.latencies_us.end());
  round_rps.push_back(round.rps());
  cpu += round.cpu;
}

PhaseResult Driver::Run(const std::string& name, int limit, double seconds) {
  limit_ = limit;
  issued_.store(0);
  finished_ = 0;
  errors_.store(0);
  latencies_.assign(options_.in_flight, {});
  const CpuTicks cpu_start = CpuTicks::Now(server_pids_);
  start_time_ = Clock::now();
  deadline_ = start_time_ +
              std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  for (int slot = 0; slot < options_.in_flight; ++slot) Next(slot);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return finished_ == options_.in_flight; });
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
  r.cpu = CpuTicks::Now(server_pids_) - cpu_start;
  return r;
}

void Driver::Next(int slot) {
  const int n = issued_.fetch_add(1);
  if (n >= limit_ || Clock::now() >= deadline_) {
    std::lock_guard<std::mutex> lock(mu_);
    if (++finished_ == options_.in_flight) cv_.notify_all();
    return;
  }
  const auto begin = Clock::now();
  start_(static_cast<size_t>(slot % options_.channels), [this, slot,
                                                         begin](bool ok) {
    const double us =
        std::chrono::duration<double, std::micro>(Clock::now() - begin).count();
    if (ok) {
      latencies_[slot].push_back(us);
    } else {
      errors_.fetch_add(1);
    }
    Next(slot);
  });
}

}  // namespace ta_bench

#include "tests/hardening/attack_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tests/faults/server_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::hardening {
namespace {

namespace v1 = ::tokenauthority::v1;
using Clock = std::chrono::steady_clock;

// A channel with a connection of its own (not shared with the process's
// other channels to the same address).
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// Deadline `deadline` (scaled in sanitizer builds), wait-for-ready, and the
// API key if any.
void Prepare(grpc::ClientContext* ctx, const std::string& key,
             absl::Duration deadline = absl::Seconds(5)) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(testing::Scaled(deadline)));
  ctx->set_wait_for_ready(true);
  if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
}

absl::Status Failed(const std::string& what, const grpc::Status& st) {
  return absl::UnavailableError(
      absl::StrCat(what, ": ", st.error_code(), " ", st.error_message()));
}

absl::Status CreateOrganization(v1::AdminService::Stub* admin, Fixture* f) {
  grpc::ClientContext ctx;
  Prepare(&ctx, f->admin_key);
  v1::CreateOrganizationRequest req;
  req.set_name("h2 attack");
  req.set_secure_enabled(true);
  v1::Organization org;
  grpc::Status st = admin->CreateOrganization(&ctx, req, &org);
  if (!st.ok()) return Failed("CreateOrganization", st);
  f->organization_id = org.id();
  for (const auto role : {v1::API_KEY_ROLE_ISSUER, v1::API_KEY_ROLE_VERIFIER}) {
    grpc::ClientContext kctx;
    Prepare(&kctx, f->admin_key);
    v1::CreateApiKeyRequest kreq;
    kreq.set_organization_id(org.id());
    kreq.set_role(role);
    v1::CreateApiKeyResponse kresp;
    st = admin->CreateApiKey(&kctx, kreq, &kresp);
    if (!st.ok()) return Failed("CreateApiKey", st);
    (role == v1::API_KEY_ROLE_ISSUER ? f->issuer_key : f->verifier_key) =
        kresp.secret();
  }
  return absl::OkStatus();
}

// Issues `count` tokens from `threads` threads; the last JWT in `jwt`.
absl::Status IssueTokens(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& issuer_key, int count,
                         std::string* jwt) {
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads), jwts(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::TokenService::NewStub(channel);
      for (int i = t; i < count; i += kThreads) {
        grpc::ClientContext ctx;
        Prepare(&ctx, issuer_key, absl::Seconds(30));
        v1::IssueTokenRequest req;
        req.mutable_spec()->mutable_target()->set_organization(true);
        req.mutable_spec()->mutable_lifetime()->set_seconds(7 * 86400);
        req.mutable_spec()->set_tag("h2-attack-seed");
        req.mutable_spec()->set_user_id(absl::StrCat("viewer-", i));
        v1::IssueTokenResponse resp;
        grpc::Status st = stub->IssueToken(&ctx, req, &resp);
        if (!st.ok()) {
          errors[t] = Failed("IssueToken", st).ToString();
          return;
        }
        jwts[t] = resp.jwt();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return absl::UnavailableError(e);
  }
  *jwt = jwts[0];
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Fixture> Seed(const std::string& address,
                             const std::string& admin_key, int tokens) {
  Fixture f;
  f.admin_key = admin_key;
  auto channel = OwnChannel(address);
  auto admin = v1::AdminService::NewStub(channel);
  if (absl::Status s = CreateOrganization(admin.get(), &f); !s.ok()) return s;
  if (absl::Status s =
          IssueTokens(channel, f.issuer_key, std::max(tokens, 1), &f.valid_jwt);
      !s.ok()) {
    return s;
  }
  // Change one character in the middle of the signature segment: still
  // canonical base64url, the signature no longer verifies.
  f.bad_signature_jwt = f.valid_jwt;
  const size_t sig = f.bad_signature_jwt.rfind('.') + 1;
  char& c = f.bad_signature_jwt[sig + (f.bad_signature_jwt.size() - sig) / 2];
  c = c == 'A' ? 'B' : 'A';
  return f;
}

bool HealthServing(const std::string& address, absl::Duration deadline,
                   std::string* error) {
  grpc::GenericStub stub(OwnChannel(address));
  grpc::ClientContext ctx;
  Prepare(&ctx, "", deadline);
  grpc::Slice empty("");
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response,
                 [&done](grpc::Status st) { done.set_value(std::move(st)); });
  const grpc::Status st = done.get_future().get();
  std::vector<grpc::Slice> slices;
  std::string body;
  if (st.ok() && response.Dump(&slices).ok()) {
    for (const auto& s : slices) body.append(s.begin(), s.end());
  }
  if (st.ok() && body == std::string("\x08\x01", 2)) return true;
  if (error != nullptr) {
    *error = st.ok() ? "Health/Check answered NOT SERVING"
                     : absl::StrCat("Health/Check: ", st.error_code(), " ",
                                    st.error_message());
  }
  return false;
}

// ---------------------------------------------------------------- Prober

struct Prober::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> generic;
  std::unique_ptr<v1::TokenService::Stub> tokens;
  Fixture fixture;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> latencies_ms;  // guarded by mu
  int64_t failures = 0;              // guarded by mu
  std::string first_error;           // guarded by mu
  std::thread thread;

  void Record(Clock::time_point start, const std::string& error) {
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::lock_guard<std::mutex> lock(mu);
    latencies_ms.push_back(ms);
    if (error.empty()) return;
    ++failures;
    if (first_error.empty()) first_error = error;
  }

  void Health() {
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    grpc::Slice empty("");
    const grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    const auto start = Clock::now();
    generic->UnaryCall(
        &ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
        &response, [&done](grpc::Status st) { done.set_value(std::move(st)); });
    const grpc::Status st = done.get_future().get();
    Record(start, st.ok() ? ""
                          : absl::StrCat("Health: ", st.error_code(), " ",
                                         st.error_message()));
  }

  void Verify() {
    grpc::ClientContext ctx;
    Prepare(&ctx, fixture.verifier_key);
    v1::VerifyTokenRequest req;
    req.set_jwt(fixture.valid_jwt);
    req.set_organization_id(fixture.organization_id);
    req.set_stream_name("live-1");
    v1::VerifyTokenResponse resp;
    const auto start = Clock::now();
    const grpc::Status st = tokens->VerifyToken(&ctx, req, &resp);
    std::string error;
    if (!st.ok()) {
      error = absl::StrCat("VerifyToken: ", st.error_code(), " ",
                           st.error_message());
    } else if (!resp.allowed()) {
      error = "VerifyToken: denied: " + resp.detail();
    }
    Record(start, error);
  }

  void Loop() {
    auto next = Clock::now();
    while (!stop.load()) {
      Health();
      Verify();
      next += std::chrono::milliseconds(10);
      std::this_thread::sleep_until(std::max(next, Clock::now()));
    }
  }
};

Prober::Prober(const std::string& address, const Fixture& fixture)
    : impl_(std::make_unique<Impl>()) {
  impl_->channel = OwnChannel(address);
  impl_->generic = std::make_unique<grpc::GenericStub>(impl_->channel);
  impl_->tokens = v1::TokenService::NewStub(impl_->channel);
  impl_->fixture = fixture;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

Prober::~Prober() { Stop(); }

void Prober::Reset() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->latencies_ms.clear();
  impl_->failures = 0;
  impl_->first_error.clear();
}

ProbeStats Prober::Stop() {
  impl_->stop.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
  std::lock_guard<std::mutex> lock(impl_->mu);
  ProbeStats s;
  std::vector<double>& l = impl_->latencies_ms;
  s.calls = static_cast<int64_t>(l.size());
  s.failures = impl_->failures;
  s.first_error = impl_->first_error;
  if (!l.empty()) {
    std::sort(l.begin(), l.end());
    s.p50_ms = l[l.size() / 2];
    s.p99_ms = l[std::min(l.size() - 1, l.size() * 99 / 100)];
    s.max_ms = l.back();
  }
  return s;
}

// ------------------------------------------------------------ RssSampler

RssSampler::RssSampler(pid_t pid, std::chrono::milliseconds period)
    : pid_(pid) {
  thread_ = std::thread([this, period] {
    while (!stop_.load()) {
      const long kib = testing::ResidentKib(pid_);
      {
        std::lock_guard<std::mutex> lock(mu_);
        peak_ = std::max(peak_, kib);
      }
      std::this_thread::sleep_for(period);
    }
  });
}

RssSampler::~RssSampler() {
  stop_.store(true);
  thread_.join();
}

long RssSampler::peak_kib() {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

void RssSampler::ResetPeak() {
  const long now = testing::ResidentKib(pid_);
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = now;
}

// ---------------------------------------------------------- ProxyProcess

absl::StatusOr<std::unique_ptr<ProxyProcess>> ProxyProcess::Start(
    const std::string& binary, const std::string& config,
    const std::string& listen, const std::string& backend,
    const std::string& log_path) {
  // Everything the child needs is built before fork (only async-signal-safe
  // calls after it).
  std::vector<std::string> args = {binary, "-f", config};
  std::vector<std::string> env = {"TA_PROXY_LISTEN=" + listen,
                                  "TA_BACKEND=" + backend,
                                  "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int log_fd =
      ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return absl::InternalError("cannot open " + log_path);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  std::unique_ptr<ProxyProcess> p(new ProxyProcess());
  p->pid_ = pid;

  std::vector<std::string> hp = absl::StrSplit(listen, ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) {
    return absl::InvalidArgumentError("listen must be host:port: " + listen);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, hp[0].c_str(), &addr.sin_addr);
  const auto until = Clock::now() + testing::Scaled(std::chrono::seconds(10));
  while (Clock::now() < until) {
    int status = 0;
    if (testing::WaitForExit(pid, absl::ZeroDuration(), &status)) {
      p->pid_ = -1;
      return absl::UnavailableError(absl::StrCat("haproxy exited (code ",
                                                 testing::ExitCode(status),
                                                 "), see ", log_path));
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool up = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr),
                              sizeof(addr)) == 0;
    ::close(fd);
    if (up) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("haproxy did not listen on " + listen);
}

ProxyProcess::~ProxyProcess() {
  if (pid_ > 0) testing::KillAndReap(pid_);
}

int ProxyProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (!testing::WaitForExit(pid_, testing::Scaled(timeout), &status)) {
    return -1;  // the destructor kills it
  }
  pid_ = -1;
  return testing::ExitCode(status);
}

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs =
      absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty());
  dirs.push_back("/usr/sbin");
  dirs.push_back("/sbin");
  for (const std::string& d : dirs) {
    const std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace token_authority::hardening

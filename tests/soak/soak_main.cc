// A bounded soak of the REAL token-authority binary over loopback: a fixed
// number of requests of mixed traffic (IssueToken, VerifyToken of valid,
// revoked and tampered tokens, ListTokens, RevokeToken) from many
// connections, while several WatchRevocations streams run. Prints its
// figures and exits non-zero if any of these fails:
//  - every call answered OK, every verdict the expected one (allowed, or the
//    expected denial: REVOKED, BAD_SIGNATURE);
//  - the server's RSS (VmRSS) after warm-up grows by less than 10%;
//  - every watcher saw every acknowledged revocation, in increasing sequence;
//  - the server's log (its stderr) holds no JWT, no API key secret and no
//    PEM material.
//
//   ta_soak [--requests=N] [--warmup-tokens=N] [--warmup-revocations=N]
//           [--token-lifetime=S] [--connections=N] [--watchers=N]
//           [--warmup=F] [--max-rss-growth=F] [--server=PATH]
//
// Warm-up: the server's SQLite page caches (64 MiB for the writer, 16 MiB
// per reader connection) fill as the database grows, so RSS rises with the
// data until the database outgrows them. --warmup-tokens issues that many
// tokens first (unmeasured) and revokes --warmup-revocations of them (the
// revocation feed keeps the last 65536 events in memory); with a short
// --token-lifetime, revocations expire and the server forgets them (its
// maintenance runs every minute), so the set of live revocations stops
// growing. RSS is judged from the point where --warmup (a fraction) of the
// measured requests are done.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/faults/server_process.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::soak {
namespace {

namespace v1 = ::tokenauthority::v1;
using Clock = std::chrono::steady_clock;
using testing::ServerProcess;

struct Options {
  int64_t requests = 20000;
  // Tokens issued before the measured requests (not counted), so that the
  // database outgrows the server's page caches before RSS is judged.
  int64_t warmup_tokens = 0;
  // Of those, how many are revoked during the warm-up (fills the server's
  // revocation buffers).
  int64_t warmup_revocations = 0;
  // Lifetime of every token, seconds. Short lifetimes let revocations
  // expire and be forgotten during the run (the server then runs with
  // --leeway=1s), so that the revocation set reaches a steady state.
  int64_t token_lifetime = 3600;
  int connections = 16;
  int watchers = 4;
  double warmup = 0.25;
  double max_rss_growth = 0.10;
  std::string server = TA_SERVER_BINARY;
};

bool ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    bool ok = true;
    if (name == "--requests") {
      ok = absl::SimpleAtoi(value, &o->requests) && o->requests > 0;
    } else if (name == "--warmup-tokens") {
      ok = absl::SimpleAtoi(value, &o->warmup_tokens) && o->warmup_tokens >= 0;
    } else if (name == "--warmup-revocations") {
      ok = absl::SimpleAtoi(value, &o->warmup_revocations) &&
           o->warmup_revocations >= 0;
    } else if (name == "--token-lifetime") {
      ok = absl::SimpleAtoi(value, &o->token_lifetime) &&
           o->token_lifetime >= 10;
    } else if (name == "--connections") {
      ok = absl::SimpleAtoi(value, &o->connections) && o->connections > 0;
    } else if (name == "--watchers") {
      ok = absl::SimpleAtoi(value, &o->watchers) && o->watchers > 0;
    } else if (name == "--warmup") {
      ok =
          absl::SimpleAtod(value, &o->warmup) && o->warmup > 0 && o->warmup < 1;
    } else if (name == "--max-rss-growth") {
      ok = absl::SimpleAtod(value, &o->max_rss_growth);
    } else if (name == "--server") {
      o->server = value;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "soak: bad flag %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                          int index) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // own connection
  args.SetInt("ta.soak.connection", index);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// Every call's deadline: 30 s, longer in sanitizer builds.
void Prepare(grpc::ClientContext* ctx, const std::string& key) {
  ctx->AddMetadata("authorization", "Bearer " + key);
  ctx->set_deadline(testing::DeadlineIn(std::chrono::seconds(30)));
}

enum Op {
  kIssue,
  kVerify,
  kVerifyRevoked,
  kVerifyTampered,
  kList,
  kRevoke,
  kOps
};
const char* const kOpNames[kOps] = {
    "issue", "verify", "verify-revoked", "verify-tampered", "list", "revoke"};

// Everything the run found wrong; printed at the end.
class Problems {
 public:
  void Add(const std::string& p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (list_.size() < 20) list_.push_back(p);
    ++count_;
  }
  int64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  void Print() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& p : list_)
      std::printf("  PROBLEM: %s\n", p.c_str());
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> list_;
  int64_t count_ = 0;
};

struct Org {
  std::string id;
  std::string issuer_key;
};

struct Shared {
  std::string address;
  std::vector<Org> orgs;
  std::string verifier_key;
  std::atomic<int64_t> next{0};  // requests handed out
  std::atomic<int64_t> done{0};  // requests finished
  int64_t total = 0;
  int64_t lifetime = 3600;
  Problems problems;
  std::mutex revoked_mu;
  std::unordered_map<std::string, Clock::time_point> revoked;  // id -> ack
};

struct Latencies {
  std::vector<uint32_t> us[kOps];
};

struct OwnToken {
  std::string id, jwt;
  bool revoked = false;
  Clock::time_point issued;
};

std::string Tampered(const std::string& jwt) {
  // Another claim value under the same signature: change one payload
  // character (keeping it base64url).
  std::string t = jwt;
  const size_t dot = t.find('.');
  const size_t pos = dot + 10;
  t[pos] = t[pos] == 'A' ? 'B' : 'A';
  return t;
}

void Worker(Shared* s, int index, uint64_t seed, Latencies* lat) {
  auto stub = v1::TokenService::NewStub(NewChannel(s->address, index));
  const Org& org = s->orgs[index % s->orgs.size()];
  const std::string stream = absl::StrCat("s-", index);
  std::mt19937_64 rng(seed);
  std::vector<OwnToken> mine;
  int64_t n = 0;
  auto record = [&](Op op, Clock::time_point start) {
    lat->us[op].push_back(static_cast<uint32_t>(std::min<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() -
                                                              start)
            .count(),
        UINT32_MAX)));
    s->done.fetch_add(1);
  };
  auto fail = [&](Op op, const std::string& what) {
    s->problems.Add(
        absl::StrCat(kOpNames[op], " (connection ", index, "): ", what));
  };
  auto verify = [&](Op op, const std::string& jwt, v1::DenyReason want) {
    grpc::ClientContext ctx;
    Prepare(&ctx, s->verifier_key);
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(org.id);
    req.set_stream_name(stream);
    v1::VerifyTokenResponse resp;
    const auto start = Clock::now();
    grpc::Status st = stub->VerifyToken(&ctx, req, &resp);
    record(op, start);
    if (!st.ok()) return fail(op, st.error_message());
    if (resp.reason() != want) {
      fail(op, absl::StrCat("expected ", v1::DenyReason_Name(want), ", got ",
                            v1::DenyReason_Name(resp.reason()), ": ",
                            resp.detail()));
    }
  };

  while (s->next.fetch_add(1) < s->total) {
    ++n;
    const int dice = static_cast<int>(rng() % 100);
    const bool can_revoke = std::any_of(
        mine.begin(), mine.end(), [](const OwnToken& t) { return !t.revoked; });
    if (mine.size() < 4 || dice < 20) {
      grpc::ClientContext ctx;
      Prepare(&ctx, org.issuer_key);
      v1::IssueTokenRequest req;
      req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
          stream);
      req.mutable_spec()->mutable_lifetime()->set_seconds(s->lifetime);
      req.mutable_spec()->set_tag(absl::StrCat("soak-", index));
      req.mutable_spec()->set_user_id(absl::StrCat("viewer-", rng() % 1000));
      req.set_request_id(absl::StrCat("c", index, "-", n));
      v1::IssueTokenResponse resp;
      const auto start = Clock::now();
      grpc::Status st = stub->IssueToken(&ctx, req, &resp);
      record(kIssue, start);
      if (!st.ok()) {
        fail(kIssue, st.error_message());
        continue;
      }
      mine.push_back({resp.token().id(), resp.jwt(), false, Clock::now()});
      // Keep recent tokens only: far from their expiry.
      const auto too_old = Clock::now() - std::chrono::seconds(s->lifetime / 2);
      while (mine.size() > 200 ||
             (mine.size() > 4 && mine.front().issued < too_old)) {
        mine.erase(mine.begin());
      }
    } else if (dice < 70) {
      // A valid token (62%) or, when it has one, a revoked one (8%).
      const bool want_revoked = dice >= 62;
      std::vector<const OwnToken*> pool;
      for (const OwnToken& t : mine) {
        if (t.revoked == want_revoked) pool.push_back(&t);
      }
      if (pool.empty()) {
        for (const OwnToken& t : mine) pool.push_back(&t);
      }
      const OwnToken& t = *pool[rng() % pool.size()];
      verify(t.revoked ? kVerifyRevoked : kVerify, t.jwt,
             t.revoked ? v1::DENY_REASON_REVOKED : v1::DENY_REASON_UNSPECIFIED);
    } else if (dice < 75) {
      verify(kVerifyTampered, Tampered(mine[rng() % mine.size()].jwt),
             v1::DENY_REASON_BAD_SIGNATURE);
    } else if (dice < 88) {
      grpc::ClientContext ctx;
      Prepare(&ctx, org.issuer_key);
      v1::ListTokensRequest req;
      req.set_tag(absl::StrCat("soak-", index));
      req.set_page_size(50);
      if (rng() % 2 == 0) req.set_state(v1::TOKEN_STATE_REVOKED);
      v1::ListTokensResponse resp;
      const auto start = Clock::now();
      grpc::Status st = stub->ListTokens(&ctx, req, &resp);
      record(kList, start);
      if (!st.ok()) fail(kList, st.error_message());
    } else if (can_revoke) {
      OwnToken* victim = nullptr;
      while (victim == nullptr || victim->revoked) {
        victim = &mine[rng() % mine.size()];
      }
      grpc::ClientContext ctx;
      Prepare(&ctx, org.issuer_key);
      v1::RevokeTokenRequest req;
      req.set_token_id(victim->id);
      req.set_reason("soak");
      v1::Token resp;
      const auto start = Clock::now();
      grpc::Status st = stub->RevokeToken(&ctx, req, &resp);
      record(kRevoke, start);
      if (!st.ok()) {
        fail(kRevoke, st.error_message());
        continue;
      }
      victim->revoked = true;
      std::lock_guard<std::mutex> lock(s->revoked_mu);
      s->revoked.emplace(victim->id, Clock::now());
    } else {
      s->done.fetch_add(1);  // nothing to revoke: counted, no call
    }
  }
}

// Issues `n` tokens over all connections and revokes the first
// `revocations` of them, unmeasured.
void WarmUp(Shared* s, int64_t n, int64_t revocations, int connections) {
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([s, n, revocations, i, &next] {
      auto stub = v1::TokenService::NewStub(NewChannel(s->address, 500 + i));
      const Org& org = s->orgs[i % s->orgs.size()];
      for (int64_t k; (k = next.fetch_add(1)) < n;) {
        grpc::ClientContext ctx;
        Prepare(&ctx, org.issuer_key);
        v1::IssueTokenRequest req;
        req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
            absl::StrCat("warm-", i));
        req.mutable_spec()->mutable_lifetime()->set_seconds(s->lifetime);
        req.mutable_spec()->set_tag("warm-up");
        v1::IssueTokenResponse resp;
        grpc::Status st = stub->IssueToken(&ctx, req, &resp);
        if (!st.ok()) {
          s->problems.Add("warm-up issue: " + st.error_message());
          continue;
        }
        if (k >= revocations) continue;
        grpc::ClientContext rctx;
        Prepare(&rctx, org.issuer_key);
        v1::RevokeTokenRequest rreq;
        rreq.set_token_id(resp.token().id());
        rreq.set_reason("warm-up");
        v1::Token t;
        st = stub->RevokeToken(&rctx, rreq, &t);
        if (!st.ok()) {
          s->problems.Add("warm-up revoke: " + st.error_message());
          continue;
        }
        std::lock_guard<std::mutex> lock(s->revoked_mu);
        s->revoked.emplace(t.id(), Clock::now());
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

// One WatchRevocations stream from the beginning.
class Watcher {
 public:
  Watcher(const std::string& address, const std::string& key, int index,
          Problems* problems)
      : problems_(problems) {
    stub_ = v1::TokenService::NewStub(NewChannel(address, 1000 + index));
    ctx_.AddMetadata("authorization", "Bearer " + key);
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  // Token id -> when it was seen.
  std::unordered_map<std::string, Clock::time_point> Seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.size();
  }

 private:
  void Run() {
    v1::WatchRevocationsRequest req;
    req.set_since_sequence(0);
    auto reader = stub_->WatchRevocations(&ctx_, req);
    v1::RevocationEvent event;
    int64_t last = 0;
    while (reader->Read(&event)) {
      if (event.sequence() <= last) {
        problems_->Add(absl::StrCat("watcher: sequence ", event.sequence(),
                                    " after ", last));
      }
      last = event.sequence();
      std::lock_guard<std::mutex> lock(mu_);
      if (!seen_.emplace(event.token_id(), Clock::now()).second) {
        problems_->Add("watcher: revocation seen twice: " + event.token_id());
      }
    }
    grpc::Status st = reader->Finish();
    if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
      problems_->Add("watcher ended: " + st.error_message());
    }
  }

  Problems* problems_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::unordered_map<std::string, Clock::time_point> seen_;
  std::thread thread_;
};

double Percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(
      v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

// Counts of forbidden material in the server's log.
struct LogScan {
  int64_t bytes = 0, lines = 0;
  int64_t jwts = 0, api_keys = 0, pem = 0, known_secrets = 0;
  std::string example;
};

bool IsB64UrlChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

LogScan ScanLog(const std::string& path,
                const std::vector<std::string>& secrets) {
  LogScan scan;
  std::ifstream in(path, std::ios::binary);
  const std::string log((std::istreambuf_iterator<char>(in)), {});
  scan.bytes = static_cast<int64_t>(log.size());
  scan.lines = std::count(log.begin(), log.end(), '\n');
  auto note = [&](size_t pos) {
    if (scan.example.empty()) {
      const size_t b = log.rfind('\n', pos);
      const size_t e = log.find('\n', pos);
      scan.example = log.substr(b == std::string::npos ? 0 : b + 1,
                                std::min<size_t>(e - b, 300));
    }
  };
  // JWT: eyJ<b64url>.eyJ<b64url>
  for (size_t p = log.find("eyJ"); p != std::string::npos;
       p = log.find("eyJ", p + 1)) {
    size_t q = p + 3;
    while (q < log.size() && IsB64UrlChar(log[q])) ++q;
    if (q + 4 <= log.size() && log.compare(q, 4, ".eyJ") == 0) {
      ++scan.jwts;
      note(p);
    }
  }
  // API key secret: ta_k<16 hex>_<43 base64url>
  for (size_t p = log.find("ta_k"); p != std::string::npos;
       p = log.find("ta_k", p + 1)) {
    size_t q = p + 4, hex = 0;
    while (q < log.size() &&
           absl::ascii_isxdigit(static_cast<unsigned char>(log[q]))) {
      ++q;
      ++hex;
    }
    if (hex == 16 && q < log.size() && log[q] == '_') {
      size_t r = q + 1;
      while (r < log.size() && IsB64UrlChar(log[r])) ++r;
      if (r - q - 1 >= 43) {
        ++scan.api_keys;
        note(p);
      }
    }
  }
  for (const char* pem : {"-----BEGIN", "PRIVATE KEY", "-----END"}) {
    for (size_t p = log.find(pem); p != std::string::npos;
         p = log.find(pem, p + 1)) {
      ++scan.pem;
      note(p);
    }
  }
  for (const std::string& secret : secrets) {
    if (!secret.empty() && log.find(secret) != std::string::npos) {
      ++scan.known_secrets;
      note(log.find(secret));
    }
  }
  return scan;
}

int Run(const Options& o) {
  absl::StatusOr<testing::TempDir> made = testing::TempDir::Create();
  if (!made.ok()) {
    std::fprintf(stderr, "soak: %s\n", made.status().ToString().c_str());
    return 1;
  }
  const testing::TempDir tmp = std::move(*made);
  const std::string data = tmp.path() + "/data";
  const std::string log = tmp.path() + "/server.log";
  std::vector<std::string> server_args;
  if (o.token_lifetime < 3600) server_args = {"--leeway", "1s"};
  auto server = ServerProcess::Start(o.server, data, log, server_args);
  if (!server.ok()) {
    std::fprintf(stderr, "soak: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const pid_t pid = (*server)->pid();
  Shared s;
  s.address = (*server)->address();
  s.total = o.requests;
  s.lifetime = o.token_lifetime;

  // Two organisations with an issuer key each, and a verifier key.
  std::ifstream key_file(data + "/admin.key");
  std::string admin_key((std::istreambuf_iterator<char>(key_file)), {});
  admin_key = std::string(absl::StripAsciiWhitespace(admin_key));
  std::vector<std::string> secrets = {admin_key};
  {
    auto admin = v1::AdminService::NewStub(NewChannel(s.address, -1));
    for (int i = 0; i < 2; ++i) {
      grpc::ClientContext ctx;
      Prepare(&ctx, admin_key);
      v1::CreateOrganizationRequest req;
      req.set_name(absl::StrCat("soak ", i));
      req.set_secure_enabled(true);
      v1::Organization org;
      grpc::Status st = admin->CreateOrganization(&ctx, req, &org);
      if (!st.ok()) {
        std::fprintf(stderr, "soak: %s\n", st.error_message().c_str());
        return 1;
      }
      s.orgs.push_back({org.id(), ""});
    }
    for (int i = 0; i < 3; ++i) {
      grpc::ClientContext ctx;
      Prepare(&ctx, admin_key);
      v1::CreateApiKeyRequest req;
      req.set_organization_id(i < 2 ? s.orgs[i].id : "");
      req.set_role(i < 2 ? v1::API_KEY_ROLE_ISSUER : v1::API_KEY_ROLE_VERIFIER);
      v1::CreateApiKeyResponse resp;
      grpc::Status st = admin->CreateApiKey(&ctx, req, &resp);
      if (!st.ok()) {
        std::fprintf(stderr, "soak: %s\n", st.error_message().c_str());
        return 1;
      }
      (i < 2 ? s.orgs[i].issuer_key : s.verifier_key) = resp.secret();
      secrets.push_back(resp.secret());
    }
  }

  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < o.watchers; ++i) {
    watchers.push_back(
        std::make_unique<Watcher>(s.address, s.verifier_key, i, &s.problems));
  }

  // RSS against progress.
  std::vector<std::pair<int64_t, long>> rss;  // (requests done, KiB)
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling.load()) {
      rss.emplace_back(s.done.load(), testing::ResidentKib(pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  const long rss_start = testing::ResidentKib(pid);
  if (o.warmup_tokens > 0) {
    const auto w = Clock::now();
    WarmUp(&s, o.warmup_tokens, o.warmup_revocations, o.connections);
    std::printf(
        "soak: warm-up: %lld tokens issued (%lld revoked) in %.1f s; "
        "server RSS %ld KiB\n",
        static_cast<long long>(o.warmup_tokens),
        static_cast<long long>(std::min(o.warmup_revocations, o.warmup_tokens)),
        std::chrono::duration<double>(Clock::now() - w).count(),
        testing::ResidentKib(pid));
  }
  const auto start = Clock::now();
  std::vector<Latencies> lat(o.connections);
  std::vector<std::thread> workers;
  for (int i = 0; i < o.connections; ++i) {
    workers.emplace_back(Worker, &s, i, 1234 + i, &lat[i]);
  }
  for (std::thread& t : workers) t.join();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  sampling = false;
  sampler.join();
  const long rss_end = testing::ResidentKib(pid);

  // Watchers: every acknowledged revocation, within 30 s (scaled).
  const auto load_end = Clock::now();
  const auto watch_timeout = testing::Scaled(std::chrono::seconds(30));
  std::vector<uint32_t> delivery_us;
  bool watchers_in_step = true;
  for (auto& w : watchers) {
    while (w->count() < s.revoked.size() &&
           Clock::now() - load_end < watch_timeout) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto seen = w->Seen();
    int64_t missing = 0;
    for (const auto& [id, acked] : s.revoked) {
      auto it = seen.find(id);
      if (it == seen.end()) {
        ++missing;
        continue;
      }
      delivery_us.push_back(static_cast<uint32_t>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(it->second -
                                                                   acked)
                 .count())));
    }
    if (missing > 0 || seen.size() != s.revoked.size()) {
      watchers_in_step = false;
      s.problems.Add(absl::StrCat("a watcher missed ", missing, " of ",
                                  s.revoked.size(), " revocations (saw ",
                                  seen.size(), ")"));
    }
  }
  watchers.clear();
  const int exit_code = (*server)->Terminate();
  if (exit_code != 0) s.problems.Add(absl::StrCat("server exit ", exit_code));
  const LogScan scan = ScanLog(log, secrets);
  int64_t db_bytes = 0;
  for (const char* f : {"/token-authority.db", "/token-authority.db-wal"}) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(data + f, ec);
    if (!ec) db_bytes += static_cast<int64_t>(n);
  }

  // Figures.
  std::vector<uint32_t> all;
  std::printf(
      "soak: %lld requests over %d connections in %.1f s (%.0f/s), "
      "%d revocation watchers\n",
      static_cast<long long>(s.done.load()), o.connections, seconds,
      static_cast<double>(s.done.load()) / seconds, o.watchers);
  std::printf("  %-16s %9s %9s %9s %9s\n", "op", "count", "p50 ms", "p99 ms",
              "max ms");
  for (int op = 0; op < kOps; ++op) {
    std::vector<uint32_t> v;
    for (Latencies& l : lat)
      v.insert(v.end(), l.us[op].begin(), l.us[op].end());
    all.insert(all.end(), v.begin(), v.end());
    const double p50 = Percentile(v, 0.50), p99 = Percentile(v, 0.99),
                 mx = v.empty()
                          ? 0
                          : *std::max_element(v.begin(), v.end()) / 1000.0;
    std::printf("  %-16s %9zu %9.2f %9.2f %9.2f\n", kOpNames[op], v.size(), p50,
                p99, mx);
  }
  const double all_p50 = Percentile(all, 0.50), all_p99 = Percentile(all, 0.99);
  std::printf("  %-16s %9zu %9.2f %9.2f\n", "all calls", all.size(), all_p50,
              all_p99);

  // RSS: baseline at the end of warm-up, then the highest value after it.
  const int64_t warm = static_cast<int64_t>(o.warmup * o.requests);
  long rss_warm = -1, rss_max_after = -1;
  for (const auto& [done, kib] : rss) {
    if (done >= warm && rss_warm < 0) rss_warm = kib;
    if (rss_warm >= 0) rss_max_after = std::max(rss_max_after, kib);
  }
  rss_max_after = std::max(rss_max_after, rss_end);
  const double growth =
      rss_warm > 0 ? static_cast<double>(rss_max_after - rss_warm) / rss_warm
                   : 0;
  std::printf(
      "  server RSS: %ld KiB at start, %ld KiB after warm-up (%.0f%% "
      "of the requests), max %ld KiB after it, %ld KiB at the end: "
      "growth %.1f%% (limit %.0f%%)\n",
      rss_start, rss_warm, o.warmup * 100, rss_max_after, rss_end, growth * 100,
      o.max_rss_growth * 100);
  std::string curve;
  for (int tenth = 1; tenth <= 10; ++tenth) {
    const int64_t mark = o.requests * tenth / 10;
    long kib = -1;
    for (const auto& [done, k] : rss) {
      if (done <= mark) kib = k;
    }
    if (tenth == 10) kib = rss_end;
    absl::StrAppend(&curve, tenth == 1 ? "" : " ", kib / 1024);
  }
  std::printf(
      "  server RSS (MiB) at each tenth of the requests: %s; "
      "database at the end: %.1f MiB\n",
      curve.c_str(), static_cast<double>(db_bytes) / (1 << 20));
  if (rss_warm <= 0) s.problems.Add("no RSS sample after warm-up");
  if (growth >= o.max_rss_growth) {
    s.problems.Add(
        absl::StrFormat("RSS grew %.1f%% after warm-up", growth * 100));
  }
  std::printf(
      "  revocations: %zu acknowledged; %d watchers %s; delivery "
      "after the acknowledgement p50 %.2f ms, p99 %.2f ms\n",
      s.revoked.size(), o.watchers,
      watchers_in_step ? "saw every one" : "MISSED SOME",
      Percentile(delivery_us, 0.5), Percentile(delivery_us, 0.99));
  std::printf(
      "  server log: %lld bytes, %lld lines; JWTs %lld, API key "
      "secrets %lld, PEM markers %lld, known secrets %lld\n",
      static_cast<long long>(scan.bytes), static_cast<long long>(scan.lines),
      static_cast<long long>(scan.jwts), static_cast<long long>(scan.api_keys),
      static_cast<long long>(scan.pem),
      static_cast<long long>(scan.known_secrets));
  if (scan.jwts + scan.api_keys + scan.pem + scan.known_secrets > 0) {
    s.problems.Add("secret material in the server log, e.g.: " + scan.example);
  }
  if (scan.lines == 0) s.problems.Add("the server log is empty");
  if (s.problems.count() > 0) {
    std::printf("soak FAILED: %lld problems\n",
                static_cast<long long>(s.problems.count()));
    s.problems.Print();
    return 1;
  }
  std::printf("soak OK: no errors, only the expected denials\n");
  return 0;
}

}  // namespace
}  // namespace token_authority::soak

int main(int argc, char** argv) {
  token_authority::soak::Options options;
  if (!token_authority::soak::ParseFlags(argc, argv, &options)) return 2;
  return token_authority::soak::Run(options);
}

// Restart on the same data directory keeps tokens, revocations, keys and API
// keys; tokens issued before a rotation and a restart still verify; a
// WatchRevocations client resumes across a restart without gap or
// duplicate; a stop lets the calls in flight finish.
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/random.h"
#include "base/thread_name.h"
#include "convert/status.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using AS = v1::AdminService::Stub;
using KS = v1::KeyService::Stub;
using TS = v1::TokenService::Stub;
constexpr std::chrono::milliseconds kSecond{1000};

absl::StatusOr<v1::VerifyTokenResponse> Verify(TS& stub,
                                               const std::string& verifier_key,
                                               const std::string& org,
                                               const std::string& jwt) {
  v1::VerifyTokenRequest req;
  req.set_jwt(jwt);
  req.set_organization_id(org);
  req.set_stream_name("cam1");
  return Call(stub, &TS::VerifyToken, req, verifier_key);
}

TEST(RestartE2eTest, EverythingSurvivesARestart) {
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start());
  const std::string admin_key = server->admin_key();
  ASSERT_FALSE(admin_key.empty());
  struct stat st;
  ASSERT_EQ(::stat((server->data_dir() + "/admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((server->data_dir() + "/kek.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(OrgCredentials verifier,
                       server->CreateApiKey("", ApiKeyRole::kVerifier));
  ASSERT_OK_AND_ASSIGN(
      OrgCredentials revoked_key,
      server->CreateApiKey(issuer.organization_id, ApiKeyRole::kAuditor));
  auto tokens = server->TokenStub();
  auto keys = server->KeyStub();
  auto admin = server->AdminStub();

  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  issue.set_request_id("before-rotation");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse before,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  issue.set_request_id("");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse to_revoke,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  v1::RevokeTokenRequest rev;
  rev.set_token_id(to_revoke.token().id());
  rev.set_reason("gone");
  ASSERT_OK(Call(*tokens, &TS::RevokeToken, rev, issuer.api_key).status());
  v1::RotateSigningKeyRequest rotate;
  rotate.set_algorithm(v1::ALGORITHM_EDDSA);
  ASSERT_OK_AND_ASSIGN(
      v1::RotateSigningKeyResponse rotated,
      Call(*keys, &KS::RotateSigningKey, rotate, issuer.api_key));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse after,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  v1::RevokeApiKeyRequest revoke_key;
  revoke_key.set_api_key_id(revoked_key.api_key_id);
  ASSERT_OK(Call(*admin, &AS::RevokeApiKey, revoke_key, admin_key).status());
  v1::GetJwksRequest jwks_req;
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse jwks_before,
                       Call(*keys, &KS::GetJwks, jwks_req, issuer.api_key));

  ASSERT_OK(server->Restart());
  // The same admin key, read back from admin.key; no new one was made.
  EXPECT_EQ(server->admin_key(), admin_key);
  EXPECT_FALSE(server->server()->admin_key_created());

  // Tokens from before the rotation and the restart verify; the revoked one
  // stays refused; API keys work, the revoked one does not.
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Verify(*tokens, verifier.api_key, issuer.organization_id, before.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, after.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, to_revoke.jwt()));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  v1::ListSigningKeysRequest list_keys;
  EXPECT_THAT(Call(*keys, &KS::ListSigningKeys, list_keys, revoked_key.api_key),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // Records, keys and the idempotency key are still there.
  v1::GetTokenRequest get;
  get.set_token_id(to_revoke.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token got,
                       Call(*tokens, &TS::GetToken, get, issuer.api_key));
  EXPECT_EQ(got.state(), v1::TOKEN_STATE_REVOKED);
  EXPECT_EQ(got.revocation_reason(), "gone");
  ASSERT_OK_AND_ASSIGN(
      v1::ListSigningKeysResponse key_list,
      Call(*keys, &KS::ListSigningKeys, list_keys, issuer.api_key));
  ASSERT_EQ(key_list.keys_size(), 2);
  EXPECT_EQ(key_list.keys(0).key_id(), rotated.key().key_id());
  EXPECT_EQ(key_list.keys(0).state(), v1::SIGNING_KEY_STATE_PRIMARY);
  ASSERT_OK_AND_ASSIGN(v1::GetJwksResponse jwks_after,
                       Call(*keys, &KS::GetJwks, jwks_req, issuer.api_key));
  EXPECT_EQ(jwks_after.jwks_json(), jwks_before.jwks_json());
  issue.set_request_id("before-rotation");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse retried,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  EXPECT_EQ(retried.token().id(), before.token().id());
  EXPECT_EQ(retried.token().key_id(), before.token().key_id());
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, verifier.api_key,
                                 issuer.organization_id, retried.jwt()));
  EXPECT_TRUE(v.allowed());

  // A watcher after the restart still gets the revocation from before it.
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier.api_key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  auto reader =
      tokens->WatchRevocations(&context, v1::WatchRevocationsRequest());
  v1::RevocationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.token_id(), to_revoke.token().id());
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  (void)reader->Finish();

  // New work after the restart uses the rotated key.
  issue.set_request_id("");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse fresh,
                       Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
  EXPECT_EQ(fresh.token().algorithm(), v1::ALGORITHM_EDDSA);
}

// The next event of `reader`, or nullopt if the stream ended.
std::optional<v1::RevocationEvent> Next(
    grpc::ClientReader<v1::RevocationEvent>& reader) {
  v1::RevocationEvent event;
  if (!reader.Read(&event)) return std::nullopt;
  return event;
}

TEST(RestartE2eTest, WatchRevocationsResumesAcrossARestart) {
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start());
  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(OrgCredentials verifier,
                       server->CreateApiKey("", ApiKeyRole::kVerifier));
  auto tokens = server->TokenStub();
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    v1::IssueTokenRequest issue;
    *issue.mutable_spec() = StreamsSpec({"cam1"});
    ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                         Call(*tokens, &TS::IssueToken, issue, issuer.api_key));
    ids.push_back(issued.token().id());
  }
  auto revoke = [&](int i) {
    v1::RevokeTokenRequest rev;
    rev.set_token_id(ids[i]);
    rev.set_reason(absl::StrCat("revocation ", i));
    return Call(*tokens, &TS::RevokeToken, rev, issuer.api_key).status();
  };
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(revoke(i));
  }

  // A client sees the first three revocations, up to sequence N, and goes.
  int64_t seen_up_to = 0;
  {
    grpc::ClientContext context;
    TestServer::Authorize(&context, verifier.api_key);
    context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
    auto reader =
        tokens->WatchRevocations(&context, v1::WatchRevocationsRequest());
    for (int i = 0; i < 3; ++i) {
      std::optional<v1::RevocationEvent> event = Next(*reader);
      ASSERT_TRUE(event.has_value())
          << "stream ended: " << reader->Finish().error_message();
      EXPECT_EQ(event->token_id(), ids[i]);
      EXPECT_GT(event->sequence(), seen_up_to);
      seen_up_to = event->sequence();
    }
    context.TryCancel();
    v1::RevocationEvent ignored;
    while (reader->Read(&ignored)) {
    }
    (void)reader->Finish();
  }
  // Two more before the restart, one after it, on the same data directory.
  ASSERT_OK(revoke(3));
  ASSERT_OK(revoke(4));
  ASSERT_OK(server->Restart());
  ASSERT_OK(revoke(5));

  // The client comes back (same channel) with since_sequence = N: exactly
  // the revocations after N, in order, then the live ones.
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier.api_key);
  context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
  v1::WatchRevocationsRequest resume;
  resume.set_since_sequence(seen_up_to);
  auto reader = tokens->WatchRevocations(&context, resume);
  int64_t last = seen_up_to;
  for (int i = 3; i < 7; ++i) {
    // The last one happens while the client watches: nothing else may come
    // before it.
    if (i == 6) {
      ASSERT_OK(revoke(6));
    }
    std::optional<v1::RevocationEvent> event = Next(*reader);
    ASSERT_TRUE(event.has_value())
        << "stream ended: " << reader->Finish().error_message();
    EXPECT_EQ(event->token_id(), ids[i]) << "event " << i;
    EXPECT_EQ(event->organization_id(), issuer.organization_id);
    EXPECT_GT(event->sequence(), last) << "event " << i;
    last = event->sequence();
  }
  context.TryCancel();
  v1::RevocationEvent rest;
  while (reader->Read(&rest)) {
    ADD_FAILURE() << "unexpected event for " << rest.token_id();
  }
  (void)reader->Finish();
}

// The real clock, except that while it is closed it holds the store's
// writer thread ("ta-writer", which reads the time of each write) until it
// is opened: an IssueToken whose row waits for the writer is in flight (it
// is answered once the row is durable), while gRPC's threads stay free.
class WriterGate : public Clock {
 public:
  absl::Time Now() const override {
    if (CurrentThreadName() == "ta-writer") {
      std::unique_lock<std::mutex> lock(mu_);
      if (closed_) {
        ++held_;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !closed_; });
        --held_;
      }
    }
    return Clock::Real().Now();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = false;
    cv_.notify_all();
  }
  // Whether the writer is held, within `timeout`.
  bool WaitUntilHeld(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return held_ > 0; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool closed_ = false;
  mutable int held_ = 0;
};

// The secure source, counting its callers: every IssueToken handler draws
// its token id here once it has started.
class CountingRandom : public RandomSource {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      cv_.notify_all();
    }
    return RandomSource::Secure().Fill(out);
  }
  int64_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // Whether `n` calls were made, within `timeout`.
  bool WaitForCalls(int64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t calls_ = 0;
};

// Whether a new connection to `address` is refused (the server stopped
// listening) within `timeout`: a call on a channel with a connection of its
// own fails with UNAVAILABLE instead of being answered.
bool NewConnectionsRefused(const std::string& address,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto stub = v1::KeyService::NewStub(grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(std::chrono::seconds(2)));
    v1::GetJwksResponse response;
    if (stub->GetJwks(&context, v1::GetJwksRequest(), &response).error_code() ==
        grpc::StatusCode::UNAVAILABLE) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(RestartE2eTest, ShutdownLetsCallsInFlightFinish) {
  WriterGate clock;  // both outlive the server
  CountingRandom random;
  TestServerOptions options;
  options.adjust_server_options = [&](server::AuthorityServerOptions& s) {
    s.clock = &clock;
    s.random = &random;
  };
  ASSERT_OK_AND_ASSIGN(auto server, TestServer::Start(options));
  ASSERT_OK_AND_ASSIGN(OrgCredentials issuer,
                       server->CreateOrganizationWithKey(ApiKeyRole::kIssuer));

  // kInFlight IssueToken calls whose handlers have started, their rows
  // held at the store's writer.
  constexpr int kInFlight = 8;
  clock.Close();
  const int64_t drawn_before = random.calls();
  std::vector<absl::StatusOr<v1::IssueTokenResponse>> results(
      kInFlight, absl::UnknownError("not answered"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kInFlight; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server->TokenStub();
      grpc::ClientContext context;
      TestServer::Authorize(&context, issuer.api_key);
      context.set_deadline(DeadlineIn(std::chrono::seconds(30)));
      v1::IssueTokenRequest issue;
      *issue.mutable_spec() = StreamsSpec({"cam1"});
      issue.set_request_id(absl::StrCat("in-flight-", i));
      v1::IssueTokenResponse response;
      grpc::Status status = stub->IssueToken(&context, issue, &response);
      results[i] =
          status.ok()
              ? absl::StatusOr<v1::IssueTokenResponse>(std::move(response))
              : convert::FromGrpcStatus(status);
    });
  }
  const bool started =
      random.WaitForCalls(drawn_before + kInFlight, Scaled(kSecond * 20)) &&
      clock.WaitUntilHeld(Scaled(kSecond * 20));

  // Stop (what SIGTERM does) while they are in flight; once the server has
  // stopped taking connections, let the writer go on.
  std::future<void> stopped = std::async(
      std::launch::async, [&] { server->Stop(Scaled(absl::Seconds(20))); });
  const bool refusing =
      started && NewConnectionsRefused(server->address(), Scaled(kSecond * 10));
  clock.Open();
  if (stopped.wait_for(Scaled(kSecond * 60)) != std::future_status::ready) {
    ADD_FAILURE() << "Stop did not return within 60 s";
    std::fflush(nullptr);
    std::abort();  // a hung shutdown cannot be undone in-process
  }
  for (std::thread& t : threads) t.join();  // each call has its deadline
  ASSERT_TRUE(started) << "the calls did not reach the server within 20 s";
  EXPECT_TRUE(refusing) << "the server still took connections while stopping";

  // Every call in flight at the stop succeeded, and its token is stored.
  for (int i = 0; i < kInFlight; ++i) {
    EXPECT_OK(results[i].status()) << "call " << i;
  }
  ASSERT_OK(server->Restart());
  auto stub = server->TokenStub();
  for (int i = 0; i < kInFlight; ++i) {
    if (!results[i].ok()) continue;
    v1::GetTokenRequest get;
    get.set_token_id(results[i]->token().id());
    ASSERT_OK_AND_ASSIGN(v1::Token token,
                         Call(*stub, &TS::GetToken, get, issuer.api_key));
    EXPECT_EQ(token.request_id(), absl::StrCat("in-flight-", i));
  }
}

}  // namespace
}  // namespace token_authority::testing

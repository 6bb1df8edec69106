// Faults at the server level, against the REAL token-authority binary as a
// child process (tests/faults/server_process.h):
//  - SIGKILL at a random moment during concurrent IssueToken/RevokeToken
//    load from many clients, 10 rounds on the same data directory. In every
//    round writes were acknowledged before the kill and calls were in flight
//    at it; no call failed before the kill, and every call the kill cut off
//    failed with UNAVAILABLE. After each restart every acknowledged token
//    and revocation is present (GetToken, state REVOKED), requests that got
//    no answer can be retried with their request_id and yield one token, and
//    PRAGMA integrity_check (read-only, while the server is down) is "ok";
//  - a client whose deadline expires during IssueToken retries with the same
//    request_id and ends with exactly one token.
// The refusals to start are in server_startup_refusal_test.cc.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/faults/server_client.h"
#include "tests/faults/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

constexpr int kRounds = 10;
constexpr int kClientThreads = 8;
constexpr char kDbFile[] = "token-authority.db";

// The spec a client thread always sends (a retry must send the same).
v1::IssueTokenRequest IssueRequest(int thread, const std::string& request_id) {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      absl::StrCat("cam-", thread));
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  req.mutable_spec()->set_tag("kill-test");
  req.set_request_id(request_id);
  return req;
}

// What the clients were told.
struct Ledger {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> tokens;  // id, request_id
  std::vector<std::string> revoked;
  // Issue requests without an answer: (thread, request_id).
  std::vector<std::pair<int, std::string>> pending;
  // Calls that failed while the server was still up: each one is a bug.
  std::vector<std::string> errors_before_kill;
  // Codes of the calls the kill cut off.
  std::map<grpc::StatusCode, int> errors_after_kill;

  size_t acknowledged_tokens() {
    std::lock_guard<std::mutex> lock(mu);
    return tokens.size();
  }
  // Records a failed call; the caller stops.
  void Failed(const char* what, const std::string& id, const grpc::Status& s,
              const std::atomic<bool>& killed) {
    std::lock_guard<std::mutex> lock(mu);
    if (killed.load()) {
      ++errors_after_kill[s.error_code()];
    } else {
      errors_before_kill.push_back(absl::StrCat(
          what, " ", id, ": code ", s.error_code(), " ", s.error_message()));
    }
  }
};

// Issues (and now and then revokes) until `stop`, or until a call fails: a
// failure after `killed` was set (just before the SIGKILL) is the kill's, a
// failure before it is a bug of the server.
void ClientLoop(const std::string& address, const std::string& key, int round,
                int thread, uint64_t seed, const std::atomic<bool>& stop,
                const std::atomic<bool>& killed, Ledger* ledger) {
  auto stub = v1::TokenService::NewStub(NewChannel(address, thread));
  std::mt19937_64 rng(seed);
  std::vector<std::string> mine;
  for (int n = 0; !stop.load(); ++n) {
    const std::string request_id =
        absl::StrCat("r", round, "-t", thread, "-", n);
    grpc::ClientContext ctx;
    Prepare(&ctx, key, std::chrono::seconds(5));
    v1::IssueTokenResponse resp;
    grpc::Status s =
        stub->IssueToken(&ctx, IssueRequest(thread, request_id), &resp);
    if (!s.ok()) {
      ledger->Failed("IssueToken", request_id, s, killed);
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->pending.emplace_back(thread, request_id);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->tokens.emplace_back(resp.token().id(), request_id);
    }
    mine.push_back(resp.token().id());
    if (rng() % 3 == 0) {
      const std::string victim = mine[rng() % mine.size()];
      grpc::ClientContext rctx;
      Prepare(&rctx, key, std::chrono::seconds(5));
      v1::RevokeTokenRequest rreq;
      rreq.set_token_id(victim);
      rreq.set_reason("kill test");
      v1::Token t;
      s = stub->RevokeToken(&rctx, rreq, &t);
      if (!s.ok()) {
        ledger->Failed("RevokeToken", victim, s, killed);
        return;
      }
      EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->revoked.push_back(victim);
    }
  }
}

// Waits (up to 30 s, scaled) until `ledger` holds `target` acknowledged
// tokens or no client runs any more; false on timeout.
bool WaitForAcknowledged(Ledger& ledger, size_t target,
                         const std::atomic<int>& running) {
  const auto deadline =
      std::chrono::steady_clock::now() + Scaled(std::chrono::seconds(30));
  while (ledger.acknowledged_tokens() < target && running.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class ServerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    data_ = tmp_.path() + "/data";
    log_ = tmp_.path() + "/server.log";
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra = {}) {
    return ServerProcess::Start(TA_SERVER_BINARY, data_, log_, extra);
  }

  TempDir tmp_;
  std::string data_, log_;
};

TEST_F(ServerFaultTest, AcknowledgedWritesSurviveSigkillDuringLoad) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Credentials creds;
  std::vector<std::pair<std::string, std::string>> all_tokens;
  std::set<std::string> all_revoked;
  std::vector<std::pair<int, std::string>> pending;
  int64_t checked_tokens = 0, checked_revocations = 0, retried = 0;

  // Checks the acknowledgements of the previous round against the restarted
  // server and retries the unanswered requests with their request_ids.
  auto verify = [&](const std::string& address, Ledger& previous) {
    auto stub = v1::TokenService::NewStub(NewChannel(address));
    for (const auto& [thread, request_id] : pending) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      grpc::Status s =
          stub->IssueToken(&ctx, IssueRequest(thread, request_id), &resp);
      ASSERT_TRUE(s.ok()) << request_id << ": " << s.error_message();
      EXPECT_EQ(resp.token().request_id(), request_id);
      all_tokens.emplace_back(resp.token().id(), request_id);
      ++retried;
    }
    pending.clear();
    const std::set<std::string> revoked(previous.revoked.begin(),
                                        previous.revoked.end());
    for (const auto& [id, request_id] : previous.tokens) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::GetTokenRequest req;
      req.set_token_id(id);
      v1::Token t;
      grpc::Status s = stub->GetToken(&ctx, req, &t);
      ASSERT_TRUE(s.ok()) << "acknowledged token " << id << " (" << request_id
                          << ") lost: " << s.error_message();
      EXPECT_EQ(t.request_id(), request_id);
      ++checked_tokens;
      if (revoked.count(id) > 0) {
        EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED)
            << "acknowledged revocation of " << id << " lost";
        ++checked_revocations;
      }
    }
  };

  Ledger previous;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string address = (*server)->address();
    if (round == 0) {
      creds = Bootstrap(address, data_ + "/admin.key");
      ASSERT_FALSE(creds.issuer_key.empty());
    } else {
      verify(address, previous);
      if (HasFatalFailure()) return;
    }

    Ledger ledger;
    std::atomic<bool> stop{false}, killed{false};
    std::atomic<int> running{kClientThreads};
    std::vector<std::thread> clients;
    for (int t = 0; t < kClientThreads; ++t) {
      clients.emplace_back([&, t, seed = rng()] {
        ClientLoop(address, creds.issuer_key, round, t, seed, stop, killed,
                   &ledger);
        running.fetch_sub(1);
      });
    }
    // SIGKILL at a random moment while the clients write: once a random
    // number of this round's writes were acknowledged (however slow the
    // machine), after a random delay.
    const size_t target = 1 + rng() % 100;
    const bool reached = WaitForAcknowledged(ledger, target, running);
    const int delay_ms = static_cast<int>(rng() % 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const int in_flight = running.load();
    killed = true;
    (*server)->Kill();
    stop = true;
    for (std::thread& t : clients) t.join();

    SCOPED_TRACE(absl::StrCat("round ", round));
    EXPECT_TRUE(reached) << "fewer than " << target
                         << " writes acknowledged in 30 s";
    EXPECT_TRUE(ledger.errors_before_kill.empty())
        << ledger.errors_before_kill.size()
        << " calls failed while the server was up, e.g. "
        << ledger.errors_before_kill.front();
    for (const auto& [code, n] : ledger.errors_after_kill) {
      EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE)
          << n << " calls cut off by the kill failed with code " << code;
    }
    // The kill hit a server under load: writes had been acknowledged, and
    // every client still had a call to make or in flight.
    ASSERT_GE(ledger.tokens.size(), 1u) << "no write acknowledged";
    EXPECT_EQ(in_flight, kClientThreads) << "clients stopped before the kill";
    EXPECT_GE(ledger.pending.size(), 1u) << "no IssueToken cut off";

    absl::StatusOr<std::string> integrity =
        IntegrityCheckReadOnly(data_ + "/" + kDbFile);
    ASSERT_TRUE(integrity.ok()) << integrity.status();
    EXPECT_EQ(*integrity, "ok");

    std::printf(
        "round %d: killed %d ms after acknowledgement no. %zu; %zu tokens "
        "and %zu revocations acknowledged, %zu requests unanswered\n",
        round, delay_ms, target, ledger.tokens.size(), ledger.revoked.size(),
        ledger.pending.size());
    all_tokens.insert(all_tokens.end(), ledger.tokens.begin(),
                      ledger.tokens.end());
    all_revoked.insert(ledger.revoked.begin(), ledger.revoked.end());
    pending = ledger.pending;
    previous.tokens = ledger.tokens;
    previous.revoked = ledger.revoked;
  }

  // The last restart: the last round's writes, then everything at once.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  verify((*server)->address(), previous);
  if (HasFatalFailure()) return;

  std::map<std::string, v1::Token> listed;
  std::map<std::string, int> per_request_id;
  auto stub = v1::TokenService::NewStub(NewChannel((*server)->address()));
  v1::ListTokensRequest list;
  list.set_tag("kill-test");
  list.set_page_size(1000);
  while (true) {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds.issuer_key);
    v1::ListTokensResponse page;
    grpc::Status s = stub->ListTokens(&ctx, list, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const v1::Token& t : page.tokens()) {
      EXPECT_TRUE(listed.emplace(t.id(), t).second)
          << "listed twice: " << t.id();
      ++per_request_id[t.request_id()];
    }
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  for (const auto& [id, request_id] : all_tokens) {
    auto it = listed.find(id);
    ASSERT_NE(it, listed.end()) << "acknowledged token " << id << " missing";
    EXPECT_EQ(it->second.request_id(), request_id);
    if (all_revoked.count(id) > 0) {
      EXPECT_EQ(it->second.state(), v1::TOKEN_STATE_REVOKED) << id;
    }
  }
  for (const auto& [request_id, n] : per_request_id) {
    EXPECT_EQ(n, 1) << "request_id " << request_id << " gave " << n
                    << " tokens";
  }
  EXPECT_EQ((*server)->Terminate(), 0);
  absl::StatusOr<std::string> integrity =
      IntegrityCheckReadOnly(data_ + "/" + kDbFile);
  ASSERT_TRUE(integrity.ok()) << integrity.status();
  EXPECT_EQ(*integrity, "ok");
  std::printf(
      "SIGKILL rounds: %d; acknowledged tokens checked after restart: %lld "
      "(%zu distinct), acknowledged revocations checked: %lld (%zu distinct), "
      "unanswered requests retried by request_id: %lld, tokens listed: %zu\n",
      kRounds, static_cast<long long>(checked_tokens), all_tokens.size(),
      static_cast<long long>(checked_revocations), all_revoked.size(),
      static_cast<long long>(retried), listed.size());
}

TEST_F(ServerFaultTest, DeadlineExpiredDuringIssueThenRetriedGivesOneToken) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  const Credentials creds = Bootstrap(address, data_ + "/admin.key");

  // Background writers keep the group commit busy, so that deadlines also
  // expire while the server works on the request.
  std::atomic<bool> stop{false};
  const std::atomic<bool> never_killed{false};
  Ledger background;
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back(ClientLoop, address, creds.issuer_key, 99, 100 + t,
                         uint64_t{7} + t, std::cref(stop),
                         std::cref(never_killed), &background);
  }

  auto stub = v1::TokenService::NewStub(NewChannel(address));
  auto count_tagged = [&](const std::string& tag,
                          std::vector<v1::Token>* out) -> int {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds.issuer_key);
    v1::ListTokensRequest list;
    list.set_tag(tag);
    v1::ListTokensResponse page;
    grpc::Status s = stub->ListTokens(&ctx, list, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out != nullptr) out->assign(page.tokens().begin(), page.tokens().end());
    return page.tokens_size();
  };

  int sequences_with_expiry = 0, expired_attempts = 0,
      committed_but_unanswered = 0;
  constexpr int kSequences = 20;
  for (int seq = 0; seq < kSequences; ++seq) {
    const std::string request_id = absl::StrCat("deadline-", seq);
    const std::string tag = absl::StrCat("dl-", seq);
    v1::IssueTokenRequest req = IssueRequest(0, request_id);
    req.mutable_spec()->set_tag(tag);
    std::string id;
    bool expired = false, seen_committed = false;
    for (int64_t us = 50 + seq * 37; id.empty(); us *= 2) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key,
              std::chrono::microseconds(std::min<int64_t>(us, 10'000'000)));
      v1::IssueTokenResponse resp;
      grpc::Status s = stub->IssueToken(&ctx, req, &resp);
      if (s.ok()) {
        id = resp.token().id();
        break;
      }
      ASSERT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << s.error_message();
      ++expired_attempts;
      expired = true;
      if (!seen_committed && count_tagged(tag, nullptr) == 1) {
        seen_committed = true;  // the server finished after the client left
      }
      ASSERT_LT(us, 20'000'000 * SanitizerTimeScale())
          << "IssueToken never completed";
    }
    sequences_with_expiry += expired ? 1 : 0;
    committed_but_unanswered += seen_committed ? 1 : 0;
    // One more retry after success: the same token.
    {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      ASSERT_TRUE(stub->IssueToken(&ctx, req, &resp).ok());
      EXPECT_EQ(resp.token().id(), id);
    }
    std::vector<v1::Token> tokens;
    ASSERT_EQ(count_tagged(tag, &tokens), 1) << request_id;
    EXPECT_EQ(tokens[0].id(), id);
    EXPECT_EQ(tokens[0].request_id(), request_id);
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  EXPECT_TRUE(background.errors_before_kill.empty())
      << background.errors_before_kill.front();
  EXPECT_EQ((*server)->Terminate(), 0);
  std::printf(
      "deadline retries: %d sequences, %d with an expired deadline (%d "
      "attempts expired; in %d the server had committed the token before the "
      "retry), each ended with exactly one token\n",
      kSequences, sequences_with_expiry, expired_attempts,
      committed_but_unanswered);
  // The first deadlines (50 us upward) cannot be met by a durable write.
  EXPECT_GT(sequences_with_expiry, 0);
}

}  // namespace
}  // namespace token_authority::testing

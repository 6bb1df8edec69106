// SIGKILL of one of two replicas of the REAL token-authority binary on one
// PostgreSQL database (tests/faults/replica_set.h), under mixed load on both:
// client threads issue tokens with request ids through either replica and
// revoke some (their own, and tokens of earlier rounds issued through either
// replica). 10 rounds, each killing one replica (in turn) at a random moment
// while writes are in flight and starting it again afterwards. In every
// round:
//  - no call failed before the kill, and the other replica never failed a
//    call (also after the kill, while it kept serving);
//  - every call the kill cut off failed with UNAVAILABLE; its outcome is
//    unknown, so it is retried on the other replica: an IssueToken with the
//    same request_id returns the token the killed replica had committed (if
//    the database holds one for that request_id) and a new one otherwise, a
//    RevokeToken revokes;
//  - every acknowledged token is there (GetToken on the surviving replica,
//    with its request_id), revoked exactly when a revocation was
//    acknowledged.
// At the end both replicas answer for every token of every round, and the
// database holds exactly one token per request_id that was ever sent.
//
// PostgreSQL runs with fsync off: the kill takes down a replica, never the
// database nor the operating system, so every commit PostgreSQL reported is
// in its WAL (written to the kernel before COMMIT returns) either way.

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
#include "gtest/gtest.h"
#include "tests/faults/replica_set.h"
#include "tests/faults/server_client.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

constexpr int kRounds = 10;
constexpr int kReplicas = 2;
constexpr int kThreadsPerReplica = 4;
constexpr char kTag[] = "replica-kill";

// The spec a client thread always sends (a retry must send the same).
v1::IssueTokenRequest IssueRequest(int thread, const std::string& request_id) {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      absl::StrCat("cam-", thread));
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  req.mutable_spec()->set_tag(kTag);
  req.set_request_id(request_id);
  return req;
}

struct Acknowledged {
  std::string id;
  std::string request_id;
};

// What the clients of one replica were told in one round.
struct Ledger {
  std::mutex mu;
  std::vector<Acknowledged> tokens;
  std::vector<std::string> revoked;
  // Calls the kill cut off: IssueToken (thread, request_id) and RevokeToken
  // (token id).
  std::vector<std::pair<int, std::string>> unknown_issues;
  std::vector<std::string> unknown_revocations;
  // Calls that failed while the replica was up: each one is a bug.
  std::vector<std::string> errors;
  // Codes of the calls the kill cut off.
  std::map<grpc::StatusCode, int> cut_off;

  size_t acknowledged() {
    std::lock_guard<std::mutex> lock(mu);
    return tokens.size() + revoked.size();
  }
};

// One client thread's settings.
struct Client {
  std::string address;
  std::string key;
  std::string request_prefix;  // unique per round, replica and thread
  int thread = 0;              // in the spec (stream name)
  uint64_t seed = 0;
  // Tokens of earlier rounds (any replica), not changed during the round.
  const std::vector<Acknowledged>* earlier = nullptr;
  // Set just before this client's replica is SIGKILLed; never for the
  // replica that survives.
  const std::atomic<bool>* killed = nullptr;
  std::atomic<int>* in_flight = nullptr;  // write calls under way
};

// A failed call: cut off by the kill (after `killed`), or a bug.
bool Failed(const Client& c, Ledger* ledger, const char* what,
            const std::string& id, const grpc::Status& s) {
  std::lock_guard<std::mutex> lock(ledger->mu);
  if (c.killed->load()) {
    ++ledger->cut_off[s.error_code()];
    return true;
  }
  ledger->errors.push_back(absl::StrCat(what, " ", id, " on ", c.address,
                                        ": code ", s.error_code(), " ",
                                        s.error_message()));
  return false;
}

// Issues and now and then revokes until `stop` or a failed call.
void ClientLoop(const Client& c, const std::atomic<bool>& stop,
                Ledger* ledger) {
  auto stub = v1::TokenService::NewStub(NewChannel(c.address, c.thread));
  std::mt19937_64 rng(c.seed);
  std::vector<std::string> mine;
  for (int n = 0; !stop.load(); ++n) {
    const std::string request_id = absl::StrCat(c.request_prefix, n);
    grpc::ClientContext ctx;
    Prepare(&ctx, c.key);
    v1::IssueTokenResponse resp;
    c.in_flight->fetch_add(1);
    grpc::Status s =
        stub->IssueToken(&ctx, IssueRequest(c.thread, request_id), &resp);
    c.in_flight->fetch_sub(1);
    if (!s.ok()) {
      if (Failed(c, ledger, "IssueToken", request_id, s)) {
        std::lock_guard<std::mutex> lock(ledger->mu);
        ledger->unknown_issues.emplace_back(c.thread, request_id);
      }
      return;
    }
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->tokens.push_back({resp.token().id(), request_id});
    }
    mine.push_back(resp.token().id());
    if (rng() % 3 != 0) continue;
    // A token of this thread, or one of an earlier round.
    const bool old = !c.earlier->empty() && rng() % 2 == 0;
    const std::string victim = old ? (*c.earlier)[rng() % c.earlier->size()].id
                                   : mine[rng() % mine.size()];
    grpc::ClientContext rctx;
    Prepare(&rctx, c.key);
    v1::RevokeTokenRequest rreq;
    rreq.set_token_id(victim);
    rreq.set_reason("replica kill test");
    v1::Token t;
    c.in_flight->fetch_add(1);
    s = stub->RevokeToken(&rctx, rreq, &t);
    c.in_flight->fetch_sub(1);
    if (!s.ok()) {
      if (Failed(c, ledger, "RevokeToken", victim, s)) {
        std::lock_guard<std::mutex> lock(ledger->mu);
        ledger->unknown_revocations.push_back(victim);
      }
      return;
    }
    EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED) << victim;
    std::lock_guard<std::mutex> lock(ledger->mu);
    ledger->revoked.push_back(victim);
  }
}

// Waits (up to 30 s, scaled) until `ledger` holds `target` acknowledged
// writes or no client of it runs any more; false on timeout.
bool WaitForAcknowledged(Ledger& ledger, size_t target,
                         const std::atomic<int>& running) {
  const auto deadline =
      std::chrono::steady_clock::now() + Scaled(std::chrono::seconds(30));
  while (ledger.acknowledged() < target && running.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return ledger.acknowledged() >= target;
}

class ReplicaKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ReplicaSet>> set =
        ReplicaSet::Create(TA_SERVER_BINARY, kReplicas, {});
    ASSERT_TRUE(set.ok()) << set.status();
    set_ = *std::move(set);
    for (int i = 0; i < kReplicas; ++i) {
      absl::Status st = set_->Start(i);
      ASSERT_TRUE(st.ok()) << "replica " << i << ": " << st;
      // The issuer key is made through the first replica before the second
      // starts (and loads it).
      if (i == 0) {
        creds_ = Bootstrap(set_->address(0), set_->admin_key_path());
        ASSERT_FALSE(creds_.issuer_key.empty());
      }
    }
  }

  // Retries the calls the kill cut off on replica `survivor`: an issue with
  // its request_id must give the token committed for it, if any.
  void RetryUnknown(int survivor, Ledger& ledger,
                    std::vector<Acknowledged>* tokens,
                    std::set<std::string>* revoked) {
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(survivor)));
    for (const auto& [thread, request_id] : ledger.unknown_issues) {
      absl::StatusOr<std::string> committed =
          set_->TokenIdForRequest(request_id);
      ASSERT_TRUE(committed.ok()) << committed.status();
      grpc::ClientContext ctx;
      Prepare(&ctx, creds_.issuer_key);
      v1::IssueTokenResponse resp;
      grpc::Status s =
          stub->IssueToken(&ctx, IssueRequest(thread, request_id), &resp);
      ASSERT_TRUE(s.ok()) << "retry of " << request_id << ": "
                          << s.error_message();
      EXPECT_EQ(resp.token().request_id(), request_id);
      if (!committed->empty()) {
        EXPECT_EQ(resp.token().id(), *committed)
            << request_id << " was committed by the killed replica";
        ++retried_committed_;
      }
      tokens->push_back({resp.token().id(), request_id});
      ++retried_issues_;
    }
    for (const std::string& id : ledger.unknown_revocations) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds_.issuer_key);
      v1::RevokeTokenRequest req;
      req.set_token_id(id);
      req.set_reason("replica kill test: retry");
      v1::Token t;
      grpc::Status s = stub->RevokeToken(&ctx, req, &t);
      ASSERT_TRUE(s.ok()) << "retry of revoking " << id << ": "
                          << s.error_message();
      EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
      revoked->insert(id);
      ++retried_revocations_;
    }
  }

  // Every token of `tokens` is on replica `i` with its request_id, revoked
  // exactly if it is in `revoked`.
  void CheckTokens(int i, const std::vector<Acknowledged>& tokens,
                   const std::set<std::string>& revoked) {
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(i)));
    for (const Acknowledged& a : tokens) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds_.issuer_key);
      v1::GetTokenRequest req;
      req.set_token_id(a.id);
      v1::Token t;
      grpc::Status s = stub->GetToken(&ctx, req, &t);
      ASSERT_TRUE(s.ok()) << "acknowledged token " << a.id << " ("
                          << a.request_id << ") lost: " << s.error_message();
      EXPECT_EQ(t.request_id(), a.request_id);
      if (revoked.count(a.id) > 0) {
        EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED)
            << "acknowledged revocation of " << a.id << " lost";
      } else {
        EXPECT_NE(t.state(), v1::TOKEN_STATE_REVOKED)
            << a.id << " revoked, but no revocation was sent";
      }
    }
  }

  std::unique_ptr<ReplicaSet> set_;
  Credentials creds_;
  int64_t retried_issues_ = 0, retried_committed_ = 0, retried_revocations_ = 0;
};

TEST_F(ReplicaKillTest, AcknowledgedWritesSurviveSigkillOfAReplica) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::vector<Acknowledged> all_tokens;  // every round, retries included
  std::set<std::string> all_revoked;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const int victim = round % kReplicas;
    const int survivor = 1 - victim;
    const std::vector<Acknowledged> earlier = all_tokens;
    Ledger ledgers[kReplicas];
    std::atomic<bool> stop_victim{false}, stop_survivor{false}, killed{false};
    const std::atomic<bool> never{false};
    std::atomic<int> in_flight[kReplicas] = {0, 0};
    std::atomic<int> running[kReplicas] = {kThreadsPerReplica,
                                           kThreadsPerReplica};
    std::vector<std::thread> threads;
    for (int r = 0; r < kReplicas; ++r) {
      for (int t = 0; t < kThreadsPerReplica; ++t) {
        Client c;
        c.address = set_->address(r);
        c.key = creds_.issuer_key;
        c.request_prefix = absl::StrCat("k", round, "-r", r, "-t", t, "-");
        c.thread = r * kThreadsPerReplica + t;
        c.seed = rng();
        c.earlier = &earlier;
        c.killed = r == victim ? &killed : &never;
        c.in_flight = &in_flight[r];
        threads.emplace_back([&, c, r] {
          ClientLoop(c, r == victim ? stop_victim : stop_survivor, &ledgers[r]);
          running[r].fetch_sub(1);
        });
      }
    }
    // SIGKILL at a random moment under load: after a random number of the
    // victim's writes were acknowledged, after a random delay.
    const size_t target = 1 + rng() % 60;
    const bool reached =
        WaitForAcknowledged(ledgers[victim], target, running[victim]);
    const int delay_ms = static_cast<int>(rng() % 150);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const int victim_clients = running[victim].load();
    const int writes_in_flight = in_flight[victim].load();
    killed = true;
    set_->Kill(victim);
    stop_victim = true;
    // The survivor keeps serving: more writes acknowledged after the kill.
    const size_t survivor_at_kill = ledgers[survivor].acknowledged();
    const bool survivor_served = WaitForAcknowledged(
        ledgers[survivor], survivor_at_kill + 20, running[survivor]);
    stop_survivor = true;
    for (std::thread& t : threads) t.join();

    EXPECT_TRUE(reached) << "fewer than " << target
                         << " writes acknowledged in 30 s";
    for (int r = 0; r < kReplicas; ++r) {
      EXPECT_TRUE(ledgers[r].errors.empty())
          << ledgers[r].errors.size() << " calls failed on replica " << r
          << (r == victim ? " before the kill" : " (the survivor)") << ", e.g. "
          << ledgers[r].errors.front();
    }
    EXPECT_TRUE(survivor_served)
        << "the surviving replica acknowledged fewer than 20 writes after "
           "the kill";
    for (const auto& [code, n] : ledgers[victim].cut_off) {
      EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE)
          << n << " calls cut off by the kill failed with code " << code;
    }
    // Writes were under way on the victim when it died.
    EXPECT_EQ(victim_clients, kThreadsPerReplica)
        << "clients of the victim stopped before the kill";
    EXPECT_GE(writes_in_flight, 1) << "no write in flight at the kill";
    const size_t unknown = ledgers[victim].unknown_issues.size() +
                           ledgers[victim].unknown_revocations.size();
    EXPECT_GE(unknown, 1u) << "no write cut off by the kill";
    if (HasFailure()) return;

    std::vector<Acknowledged> round_tokens;
    std::set<std::string> round_revoked;
    for (Ledger& l : ledgers) {
      round_tokens.insert(round_tokens.end(), l.tokens.begin(), l.tokens.end());
      round_revoked.insert(l.revoked.begin(), l.revoked.end());
    }
    const int64_t committed_before = retried_committed_;
    RetryUnknown(survivor, ledgers[victim], &round_tokens, &round_revoked);
    if (HasFatalFailure()) return;
    all_tokens.insert(all_tokens.end(), round_tokens.begin(),
                      round_tokens.end());
    all_revoked.insert(round_revoked.begin(), round_revoked.end());
    // This round's tokens (and every revocation so far: a round may revoke
    // a token of an earlier one) on the survivor.
    CheckTokens(survivor, round_tokens, all_revoked);
    if (HasFatalFailure()) return;
    std::printf(
        "round %d: replica %d killed %d ms after write no. %zu with %d writes "
        "in flight; %zu tokens and %zu revocations acknowledged; cut off: %zu "
        "issues (%lld of them committed before the kill) and %zu "
        "revocations, retried on replica %d\n",
        round, victim, delay_ms, target, writes_in_flight, round_tokens.size(),
        round_revoked.size(), ledgers[victim].unknown_issues.size(),
        static_cast<long long>(retried_committed_ - committed_before),
        ledgers[victim].unknown_revocations.size(), survivor);
    absl::Status st = set_->Start(victim);
    ASSERT_TRUE(st.ok()) << "restart of replica " << victim << ": " << st;
  }

  // Both replicas answer for everything; one token per request_id sent.
  for (int i = 0; i < kReplicas; ++i) {
    SCOPED_TRACE(absl::StrCat("replica ", i, " at the end"));
    CheckTokens(i, all_tokens, all_revoked);
    if (HasFatalFailure()) return;
  }
  std::set<std::string> request_ids;
  for (const Acknowledged& a : all_tokens) request_ids.insert(a.request_id);
  EXPECT_EQ(request_ids.size(), all_tokens.size())
      << "a request_id was acknowledged with two tokens";
  absl::StatusOr<int64_t> in_database = set_->CountTagged(kTag);
  ASSERT_TRUE(in_database.ok()) << in_database.status();
  EXPECT_EQ(*in_database, static_cast<int64_t>(request_ids.size()))
      << "the database holds another number of tokens than request_ids sent";
  for (int i = 0; i < kReplicas; ++i) EXPECT_EQ(set_->Terminate(i), 0);
  std::printf(
      "replica SIGKILL rounds: %d; acknowledged tokens: %zu, revocations: "
      "%zu; cut-off issues retried on the other replica: %lld (%lld had been "
      "committed and came back as the same token), cut-off revocations "
      "retried: %lld\n",
      kRounds, all_tokens.size(), all_revoked.size(),
      static_cast<long long>(retried_issues_),
      static_cast<long long>(retried_committed_),
      static_cast<long long>(retried_revocations_));
}

}  // namespace
}  // namespace token_authority::testing

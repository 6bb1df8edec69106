// PostgreSQL stopped with `pg_ctl stop -m immediate` (a crash: no
// checkpoint, clients cut off) under load and started again, 5 rounds, under
// two replicas of the REAL token-authority binary (tests/faults/replica_set.h)
// that stay up all along. Writer threads issue tokens with request ids and
// revoke some through both replicas, retrying a failed call with the same
// request (as a client told UNAVAILABLE does) until it succeeds; verifier
// threads verify a good token, a token issued just before the outage and a
// token revoked before it, on both replicas. Checked:
//  - no call fails outside an outage, and a write that fails in one answers
//    UNAVAILABLE (no other code); every replica saw writes fail in every
//    outage;
//  - VerifyToken never fails: while the database is down it keeps allowing
//    the good tokens and refusing the revoked one (from memory), and it
//    answered on both replicas during every outage;
//  - the replicas recover without a restart (the same processes on the same
//    ports): after the database is back a write succeeds on each within a
//    bounded (scaled) time, printed per round;
//  - afterwards every acknowledged token is there (GetToken on both
//    replicas, with its request_id), revoked exactly when a revocation was
//    acknowledged, and the database holds one token per request_id sent; each
//    replica logged the connection's loss and its return; both stop cleanly.
//
// PostgreSQL runs with fsync off: an immediate stop ends the server, not the
// operating system, so every commit PostgreSQL reported is in its WAL
// (written to the kernel before COMMIT returns) and crash recovery replays it.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
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

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr int kRounds = 5;
constexpr int kReplicas = 2;
constexpr int kWritersPerReplica = 3;
constexpr char kTag[] = "pg-outage";
// How long a write may take to succeed again after PostgreSQL is back (the
// replicas' reconnect backoff is at most 2 s).
constexpr auto kRecoveryBound = std::chrono::seconds(20);

v1::IssueTokenRequest IssueRequest(const std::string& request_id) {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      "cam1");
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  req.mutable_spec()->set_tag(kTag);
  req.set_request_id(request_id);
  return req;
}

struct Acknowledged {
  std::string id;
  std::string request_id;
  std::string jwt;
};

// What the clients of one replica saw, over all rounds.
struct Ledger {
  std::mutex mu;
  std::vector<Acknowledged> tokens;
  std::set<std::string> revoked;
  std::vector<std::string> errors;  // each one is a bug
  std::atomic<int64_t> writes{0};   // acknowledged
  std::atomic<int64_t> unavailable{0};
  std::atomic<int64_t> verified_while_down{0};

  void Error(std::string e) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(std::move(e));
  }
};

// The outage as the clients see it.
struct Outage {
  // From just before the stop until every replica wrote again: a write
  // that starts or ends then may answer UNAVAILABLE.
  std::atomic<bool> writes_may_fail{false};
  // While the database is stopped.
  std::atomic<bool> down{false};
};

// Runs `call` (a write) until it succeeds: a failure must be UNAVAILABLE
// during the outage. False (with the error recorded) otherwise, or after 60 s
// (scaled).
template <typename Call>
bool WriteUntilOk(const char* what, const std::string& id, const Outage& outage,
                  Ledger* ledger, Call call) {
  const auto deadline = Clock::now() + Scaled(std::chrono::seconds(60));
  while (true) {
    const bool may_fail_at_start = outage.writes_may_fail.load();
    grpc::Status s = call();
    if (s.ok()) return true;
    const bool may_fail = may_fail_at_start || outage.writes_may_fail.load();
    if (!may_fail || s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      ledger->Error(
          absl::StrCat(what, " ", id, may_fail ? " during the outage" : "",
                       ": code ", s.error_code(), " ", s.error_message()));
      return false;
    }
    ledger->unavailable.fetch_add(1);
    if (Clock::now() > deadline) {
      ledger->Error(
          absl::StrCat(what, " ", id, " still UNAVAILABLE after 60 s"));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void WriterLoop(const std::string& address, const std::string& key,
                const std::string& prefix, uint64_t seed,
                const std::atomic<bool>& stop, const Outage& outage,
                Ledger* ledger) {
  auto stub = v1::TokenService::NewStub(NewChannel(address));
  std::mt19937_64 rng(seed);
  std::vector<std::string> mine;
  for (int n = 0; !stop.load(); ++n) {
    const std::string request_id = absl::StrCat(prefix, n);
    v1::IssueTokenResponse resp;
    if (!WriteUntilOk("IssueToken", request_id, outage, ledger, [&] {
          grpc::ClientContext ctx;
          Prepare(&ctx, key);
          return stub->IssueToken(&ctx, IssueRequest(request_id), &resp);
        })) {
      return;
    }
    ledger->writes.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->tokens.push_back({resp.token().id(), request_id, resp.jwt()});
    }
    mine.push_back(resp.token().id());
    if (rng() % 3 != 0) continue;
    const std::string victim = mine[rng() % mine.size()];
    v1::Token t;
    if (!WriteUntilOk("RevokeToken", victim, outage, ledger, [&] {
          grpc::ClientContext ctx;
          Prepare(&ctx, key);
          v1::RevokeTokenRequest req;
          req.set_token_id(victim);
          req.set_reason("outage test");
          return stub->RevokeToken(&ctx, req, &t);
        })) {
      return;
    }
    EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
    ledger->writes.fetch_add(1);
    std::lock_guard<std::mutex> lock(ledger->mu);
    ledger->revoked.insert(victim);
  }
}

// The tokens the verifiers check: fixed ones, and one issued just before
// each outage.
struct VerifyTargets {
  std::string organization_id;
  std::string good_jwt;
  std::string revoked_jwt;
  std::mutex mu;
  std::string fresh_jwt;  // "" until the first outage
};

// Allowed (`want_allowed`) or refused as revoked; the problem, "" if none.
std::string CheckVerify(v1::TokenService::Stub& stub, const std::string& key,
                        const std::string& org, const std::string& jwt,
                        bool want_allowed) {
  grpc::ClientContext ctx;
  Prepare(&ctx, key);
  v1::VerifyTokenRequest req;
  req.set_jwt(jwt);
  req.set_organization_id(org);
  req.set_stream_name("cam1");
  v1::VerifyTokenResponse resp;
  grpc::Status s = stub.VerifyToken(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::StrCat("VerifyToken failed: code ", s.error_code(), " ",
                        s.error_message());
  }
  if (want_allowed && !resp.allowed()) {
    return "a good token was refused: " + resp.detail();
  }
  if (!want_allowed &&
      (resp.allowed() || resp.reason() != v1::DENY_REASON_REVOKED)) {
    return absl::StrCat("a revoked token was not refused as revoked (allowed ",
                        resp.allowed(), ", reason ", resp.reason(), ")");
  }
  return "";
}

void VerifierLoop(const std::string& address, const std::string& key,
                  VerifyTargets* targets, const std::atomic<bool>& stop,
                  const Outage& outage, Ledger* ledger) {
  auto stub = v1::TokenService::NewStub(NewChannel(address));
  while (!stop.load()) {
    const bool down_at_start = outage.down.load();
    std::string fresh;
    {
      std::lock_guard<std::mutex> lock(targets->mu);
      fresh = targets->fresh_jwt;
    }
    for (const auto& [jwt, allowed] :
         {std::make_pair(targets->good_jwt, true), std::make_pair(fresh, true),
          std::make_pair(targets->revoked_jwt, false)}) {
      if (jwt.empty()) continue;
      std::string problem =
          CheckVerify(*stub, key, targets->organization_id, jwt, allowed);
      if (!problem.empty()) {
        ledger->Error(
            absl::StrCat(down_at_start ? "while down: " : "", problem));
        return;
      }
    }
    if (down_at_start && outage.down.load()) {
      ledger->verified_while_down.fetch_add(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Waits until `done()` or `timeout` (scaled); the result of `done()`.
template <typename Done>
bool WaitFor(Done done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + Scaled(timeout);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class PostgresOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ReplicaSet>> set =
        ReplicaSet::Create(TA_SERVER_BINARY, kReplicas, {});
    ASSERT_TRUE(set.ok()) << set.status();
    set_ = *std::move(set);
    for (int i = 0; i < kReplicas; ++i) {
      absl::Status st = set_->Start(i);
      ASSERT_TRUE(st.ok()) << "replica " << i << ": " << st;
      if (i == 0) {
        creds_ = Bootstrap(set_->address(0), set_->admin_key_path(),
                           /*verifier=*/true);
        ASSERT_FALSE(creds_.verifier_key.empty());
      }
    }
  }

  // Issues a token on replica `i` (with `request_id`); its JWT.
  std::string Issue(int i, const std::string& request_id,
                    std::vector<Acknowledged>* tokens) {
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(i)));
    grpc::ClientContext ctx;
    Prepare(&ctx, creds_.issuer_key);
    v1::IssueTokenResponse resp;
    grpc::Status s = stub->IssueToken(&ctx, IssueRequest(request_id), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    tokens->push_back({resp.token().id(), request_id, resp.jwt()});
    return resp.jwt();
  }

  std::unique_ptr<ReplicaSet> set_;
  Credentials creds_;
};

TEST_F(PostgresOutageTest, WritesUnavailableVerifyAnswersReplicasRecover) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::vector<Acknowledged> setup_tokens;
  std::set<std::string> setup_revoked;

  // A good token and one revoked (issued on replica 0, revoked on replica
  // 1), refused on both replicas before the first outage.
  VerifyTargets targets;
  targets.organization_id = creds_.organization_id;
  targets.good_jwt = Issue(0, "setup-good", &setup_tokens);
  targets.revoked_jwt = Issue(0, "setup-revoked", &setup_tokens);
  ASSERT_FALSE(HasFailure());
  {
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(1)));
    grpc::ClientContext ctx;
    Prepare(&ctx, creds_.issuer_key);
    v1::RevokeTokenRequest req;
    req.set_token_id(setup_tokens.back().id);
    v1::Token t;
    grpc::Status s = stub->RevokeToken(&ctx, req, &t);
    ASSERT_TRUE(s.ok()) << s.error_message();
    setup_revoked.insert(t.id());
  }
  for (int i = 0; i < kReplicas; ++i) {
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(i)));
    std::string problem;
    EXPECT_TRUE(WaitFor(
        [&] {
          problem =
              CheckVerify(*stub, creds_.verifier_key, creds_.organization_id,
                          targets.revoked_jwt, false);
          return problem.empty();
        },
        std::chrono::seconds(10)))
        << "replica " << i << ": " << problem;
  }
  ASSERT_FALSE(HasFailure());

  Outage outage;
  Ledger ledgers[kReplicas];
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  // Stops and joins the clients, also when an assertion below returns early
  // (the writers then retry until the database answers or 60 s pass).
  auto join = [&] {
    stop = true;
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  struct Joiner {
    std::function<void()> join;
    ~Joiner() { join(); }
  } joiner{join};
  for (int r = 0; r < kReplicas; ++r) {
    for (int t = 0; t < kWritersPerReplica; ++t) {
      threads.emplace_back(WriterLoop, set_->address(r), creds_.issuer_key,
                           absl::StrCat("o-r", r, "-t", t, "-"), rng(),
                           std::cref(stop), std::cref(outage), &ledgers[r]);
    }
    threads.emplace_back(VerifierLoop, set_->address(r), creds_.verifier_key,
                         &targets, std::cref(stop), std::cref(outage),
                         &ledgers[r]);
  }
  auto errors = [&] {
    size_t n = 0;
    for (Ledger& l : ledgers) {
      std::lock_guard<std::mutex> lock(l.mu);
      n += l.errors.size();
    }
    return n;
  };
  // Until every replica acknowledged `more` writes (or a call failed).
  auto wait_for_writes = [&](int64_t more) {
    int64_t target[kReplicas];
    for (int r = 0; r < kReplicas; ++r) target[r] = ledgers[r].writes + more;
    return WaitFor(
        [&] {
          if (errors() > 0) return true;
          for (int r = 0; r < kReplicas; ++r) {
            if (ledgers[r].writes < target[r]) return false;
          }
          return true;
        },
        std::chrono::seconds(30));
  };

  std::vector<Acknowledged> probes;
  for (int round = 0; round < kRounds && errors() == 0; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    EXPECT_TRUE(wait_for_writes(10 + static_cast<int64_t>(rng() % 40)))
        << "the replicas did not write before the outage";
    {
      // Never revoked; verified only by its signature until the outage.
      std::string fresh = Issue(round % kReplicas,
                                absl::StrCat("fresh-", round), &setup_tokens);
      std::lock_guard<std::mutex> lock(targets.mu);
      targets.fresh_jwt = std::move(fresh);
    }
    int64_t unavailable_before[kReplicas], verified_before[kReplicas];
    for (int r = 0; r < kReplicas; ++r) {
      unavailable_before[r] = ledgers[r].unavailable;
      verified_before[r] = ledgers[r].verified_while_down;
    }
    outage.writes_may_fail = true;
    ASSERT_TRUE(set_->cluster().Stop("immediate").ok());
    outage.down = true;
    const auto down_since = Clock::now();
    // Down long enough for every replica to refuse writes and answer
    // verifications meanwhile.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(200 + static_cast<int>(rng() % 300)));
    const bool seen = WaitFor(
        [&] {
          for (int r = 0; r < kReplicas; ++r) {
            if (ledgers[r].unavailable == unavailable_before[r] ||
                ledgers[r].verified_while_down == verified_before[r]) {
              return false;
            }
          }
          return true;
        },
        std::chrono::seconds(10));
    const double down_s =
        std::chrono::duration<double>(Clock::now() - down_since).count();
    outage.down = false;
    absl::Status restarted = set_->cluster().Restart();
    ASSERT_TRUE(restarted.ok()) << restarted;
    const auto back_since = Clock::now();
    EXPECT_TRUE(seen) << "a replica refused no write or verified nothing "
                         "while the database was down";

    // Without a restart of the replicas (same processes, same addresses),
    // a write succeeds on each within the bound.
    double recovered_s[kReplicas];
    for (int r = 0; r < kReplicas; ++r) {
      auto stub = v1::TokenService::NewStub(NewChannel(set_->address(r)));
      const std::string request_id = absl::StrCat("probe-", round, "-", r);
      v1::IssueTokenResponse resp;
      grpc::Status s;
      const bool ok = WaitFor(
          [&] {
            grpc::ClientContext ctx;
            Prepare(&ctx, creds_.issuer_key);
            s = stub->IssueToken(&ctx, IssueRequest(request_id), &resp);
            if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE) {
              ADD_FAILURE() << "replica " << r << " answered code "
                            << s.error_code() << " " << s.error_message();
              return true;
            }
            return s.ok();
          },
          std::chrono::duration_cast<std::chrono::milliseconds>(
              kRecoveryBound));
      ASSERT_TRUE(ok && s.ok())
          << "replica " << r << " did not write within "
          << Scaled(kRecoveryBound).count()
          << " s of the database's return: " << s.error_message();
      recovered_s[r] =
          std::chrono::duration<double>(Clock::now() - back_since).count();
      probes.push_back({resp.token().id(), request_id, resp.jwt()});
    }
    outage.writes_may_fail = false;
    EXPECT_TRUE(wait_for_writes(10))
        << "the replicas' clients did not write after the outage";
    std::printf(
        "round %d: database down %.2f s (writes refused: %lld / %lld, "
        "verified while down: %lld / %lld on replica 0 / 1); a write "
        "succeeded again %.2f / %.2f s after its restart\n",
        round, down_s,
        static_cast<long long>(ledgers[0].unavailable - unavailable_before[0]),
        static_cast<long long>(ledgers[1].unavailable - unavailable_before[1]),
        static_cast<long long>(ledgers[0].verified_while_down -
                               verified_before[0]),
        static_cast<long long>(ledgers[1].verified_while_down -
                               verified_before[1]),
        recovered_s[0], recovered_s[1]);
  }
  join();
  for (int r = 0; r < kReplicas; ++r) {
    EXPECT_TRUE(ledgers[r].errors.empty())
        << ledgers[r].errors.size() << " calls on replica " << r
        << " failed as they must not, e.g. " << ledgers[r].errors.front();
  }
  if (HasFailure()) return;

  std::vector<Acknowledged> all = setup_tokens;
  all.insert(all.end(), probes.begin(), probes.end());
  std::set<std::string> revoked = setup_revoked;
  for (Ledger& l : ledgers) {
    all.insert(all.end(), l.tokens.begin(), l.tokens.end());
    revoked.insert(l.revoked.begin(), l.revoked.end());
  }
  for (int i = 0; i < kReplicas; ++i) {
    SCOPED_TRACE(absl::StrCat("replica ", i));
    auto stub = v1::TokenService::NewStub(NewChannel(set_->address(i)));
    for (const Acknowledged& a : all) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds_.issuer_key);
      v1::GetTokenRequest req;
      req.set_token_id(a.id);
      v1::Token t;
      grpc::Status s = stub->GetToken(&ctx, req, &t);
      ASSERT_TRUE(s.ok()) << "acknowledged token " << a.id << " ("
                          << a.request_id << ") lost: " << s.error_message();
      EXPECT_EQ(t.request_id(), a.request_id);
      EXPECT_EQ(t.state() == v1::TOKEN_STATE_REVOKED, revoked.count(a.id) > 0)
          << a.id << ": state " << t.state();
    }
  }
  std::set<std::string> request_ids;
  for (const Acknowledged& a : all) request_ids.insert(a.request_id);
  EXPECT_EQ(request_ids.size(), all.size());
  absl::StatusOr<int64_t> in_database = set_->CountTagged(kTag);
  ASSERT_TRUE(in_database.ok()) << in_database.status();
  EXPECT_EQ(*in_database, static_cast<int64_t>(request_ids.size()))
      << "the database holds another number of tokens than request_ids sent";
  for (int i = 0; i < kReplicas; ++i) {
    EXPECT_EQ(set_->Terminate(i), 0) << "replica " << i;
    const std::string log = set_->Log(i);
    EXPECT_THAT(log, HasSubstr("PostgreSQL connection lost")) << i;
    EXPECT_THAT(log, HasSubstr("PostgreSQL connection re-established")) << i;
  }
  std::printf(
      "PostgreSQL outages: %d; acknowledged tokens checked on both replicas: "
      "%zu, revocations: %zu; writes refused with UNAVAILABLE and retried: "
      "%lld\n",
      kRounds, all.size(), revoked.size(),
      static_cast<long long>(ledgers[0].unavailable + ledgers[1].unavailable));
}

}  // namespace
}  // namespace token_authority::testing

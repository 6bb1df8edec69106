// Three token-authority replicas (real binaries) on one PostgreSQL database
// (a throw-away cluster), sharing one key-encryption key: what is done
// through one replica takes effect on the other two within 1 s (scaled only
// under sanitizers): issue/verify, a revocation, a key rotation, an
// organisation disabled, an API key revoked; retries of one request_id sent
// to different replicas return one token; WatchRevocations on one replica
// delivers every revocation made through the others, in sequence order,
// without gap or duplicate, also across a reconnect to another replica.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_child.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using AS = v1::AdminService::Stub;
using KS = v1::KeyService::Stub;
using TS = v1::TokenService::Stub;

const bool kFastClientPolling = [] {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 1);
  return true;
}();

// The issue's bound for a change to reach every replica.
constexpr absl::Duration kPropagation = absl::Seconds(1);
constexpr int kReplicas = 3;

struct Replica {
  std::unique_ptr<ServerChild> child;
  std::unique_ptr<AS> admin;
  std::unique_ptr<KS> keys;
  std::unique_ptr<TS> tokens;
};

// Whether `done` holds within kPropagation (scaled) of now.
bool WithinPropagation(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + Scaled(kPropagation);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

class ReplicaE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(std::string db, cluster_->CreateDatabase());
    const std::string url = cluster_->Url(db);
    const std::string kek = tmp_.File("kek.key");
    {
      std::ofstream f(kek, std::ios::binary);
      f << std::string(32, '\x3c');
    }
    ASSERT_EQ(::chmod(kek.c_str(), 0600), 0);
    for (int i = 0; i < kReplicas; ++i) {
      const std::string data = tmp_.File(absl::StrCat("replica", i));
      Replica& r = replicas_[i];
      r.child = std::make_unique<ServerChild>(
          std::vector<std::string>{"--listen", "127.0.0.1:0", "--data-dir",
                                   data, "--database", url, "--kek-file", kek},
          std::map<std::string, std::string>{});
      const std::string address = r.child->Address();
      ASSERT_FALSE(address.empty()) << r.child->FirstLine() << r.child->err();
      if (i == 0) {  // the first replica makes the bootstrap admin key
        ASSERT_OK_AND_ASSIGN(admin_key_,
                             server::ReadSmallFile(data + "/admin.key"));
        admin_key_ = std::string(absl::StripAsciiWhitespace(admin_key_));
      }
      auto channel =
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      r.admin = v1::AdminService::NewStub(channel);
      r.keys = v1::KeyService::NewStub(channel);
      r.tokens = v1::TokenService::NewStub(channel);
    }
  }
  void TearDown() override {
    for (Replica& r : replicas_) {
      if (r.child == nullptr) continue;
      r.child->Signal(SIGTERM);
      EXPECT_EQ(r.child->Wait(), 0) << r.child->err();
    }
  }

  // An organisation made through replica `on`, and an issuer key of it.
  void MakeOrg(int on, std::string* org, std::string* issuer_key) {
    v1::CreateOrganizationRequest create;
    create.set_name("Acme");
    create.set_secure_enabled(true);
    ASSERT_OK_AND_ASSIGN(v1::Organization o,
                         Call(*replicas_[on].admin, &AS::CreateOrganization,
                              create, admin_key_));
    *org = o.id();
    v1::CreateApiKeyRequest key;
    key.set_organization_id(o.id());
    key.set_role(v1::API_KEY_ROLE_ISSUER);
    ASSERT_OK_AND_ASSIGN(
        v1::CreateApiKeyResponse k,
        Call(*replicas_[on].admin, &AS::CreateApiKey, key, admin_key_));
    *issuer_key = k.secret();
  }
  absl::StatusOr<v1::IssueTokenResponse> Issue(int on, const std::string& key,
                                               const std::string& org,
                                               const std::string& request_id) {
    v1::IssueTokenRequest issue;
    *issue.mutable_spec() = StreamsSpec({"cam1"});
    issue.set_request_id(request_id);
    return Call(*replicas_[on].tokens, &TS::IssueToken, issue, key, org);
  }
  // The verdict of replica `on` on `jwt` (DENY_REASON_UNSPECIFIED when
  // allowed; a call that fails counts as "not this reason").
  v1::DenyReason Verdict(int on, const std::string& org,
                         const std::string& jwt) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(org);
    req.set_stream_name("cam1");
    absl::StatusOr<v1::VerifyTokenResponse> v =
        Call(*replicas_[on].tokens, &TS::VerifyToken, req, admin_key_, org);
    if (!v.ok()) return static_cast<v1::DenyReason>(-1);
    return v->allowed() ? v1::DENY_REASON_UNSPECIFIED : v->reason();
  }
  // Checks that `done(replica)` holds within kPropagation on every replica
  // but `except`.
  void ExpectOnOthers(int except, const std::string& what,
                      const std::function<bool(int)>& done) {
    for (int i = 0; i < kReplicas; ++i) {
      if (i == except) continue;
      EXPECT_TRUE(WithinPropagation([&] { return done(i); }))
          << what << " (through replica " << except << ") not seen by replica "
          << i << " within " << Scaled(kPropagation);
    }
  }

  PostgresCluster* cluster_ = nullptr;
  TempDir tmp_;
  std::string admin_key_;
  Replica replicas_[kReplicas];
};

TEST_F(ReplicaE2eTest, ChangesThroughOneReplicaTakeEffectOnTheOthers) {
  std::string org, issuer;
  ASSERT_NO_FATAL_FAILURE(MakeOrg(0, &org, &issuer));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t1, Issue(0, issuer, org, ""));
  // The new organisation's tokens verify, and its new issuer key issues,
  // on the others.
  ExpectOnOthers(0, "a new organisation", [&](int i) {
    return Verdict(i, org, t1.jwt()) == v1::DENY_REASON_UNSPECIFIED;
  });
  ExpectOnOthers(0, "a new API key",
                 [&](int i) { return Issue(i, issuer, org, "").ok(); });

  // Retries of one request id, sent to every replica at once: one token.
  std::vector<absl::StatusOr<v1::IssueTokenResponse>> retries(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back(
        [&, i] { retries[i] = Issue(i, issuer, org, "the-same-request"); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kReplicas; ++i) {
    ASSERT_OK(retries[i].status());
    EXPECT_EQ(retries[i]->token().id(), retries[0]->token().id());
  }
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse again,
                       Issue(2, issuer, org, "the-same-request"));
  EXPECT_EQ(again.token().id(), retries[0]->token().id());

  // A revocation through replica 1.
  v1::RevokeTokenRequest rev;
  rev.set_token_id(t1.token().id());
  ASSERT_OK(
      Call(*replicas_[1].tokens, &TS::RevokeToken, rev, issuer, org).status());
  ExpectOnOthers(1, "a revocation", [&](int i) {
    return Verdict(i, org, t1.jwt()) == v1::DENY_REASON_REVOKED;
  });

  // A key rotation through replica 2: a token of the new key verifies on
  // the others.
  v1::RotateSigningKeyRequest rotate;
  rotate.set_algorithm(v1::ALGORITHM_ES256);
  ASSERT_OK_AND_ASSIGN(
      v1::RotateSigningKeyResponse rotated,
      Call(*replicas_[2].keys, &KS::RotateSigningKey, rotate, issuer, org));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t2, Issue(2, issuer, org, ""));
  EXPECT_EQ(t2.token().key_id(), rotated.key().key_id());
  EXPECT_NE(t2.token().key_id(), t1.token().key_id());
  ExpectOnOthers(2, "a key rotation", [&](int i) {
    return Verdict(i, org, t2.jwt()) == v1::DENY_REASON_UNSPECIFIED;
  });

  // Secure playback disabled through replica 0: the others refuse to issue
  // (upgrade needed).
  v1::UpdateOrganizationRequest update;
  update.set_organization_id(org);
  update.set_secure_enabled(false);
  ASSERT_OK(
      Call(*replicas_[0].admin, &AS::UpdateOrganization, update, admin_key_)
          .status());
  ExpectOnOthers(0, "an organisation disabled", [&](int i) {
    absl::Status st = Issue(i, issuer, org, "").status();
    return absl::IsFailedPrecondition(st) &&
           absl::StrContains(st.message(), "upgrade needed");
  });

  // The issuer key revoked through replica 1: refused by the others.
  v1::ListApiKeysRequest list;
  list.set_organization_id(org);
  ASSERT_OK_AND_ASSIGN(
      v1::ListApiKeysResponse keys,
      Call(*replicas_[1].admin, &AS::ListApiKeys, list, admin_key_));
  ASSERT_EQ(keys.api_keys_size(), 1);
  v1::RevokeApiKeyRequest revoke_key;
  revoke_key.set_api_key_id(keys.api_keys(0).id());
  ASSERT_OK(Call(*replicas_[1].admin, &AS::RevokeApiKey, revoke_key, admin_key_)
                .status());
  ExpectOnOthers(1, "an API key revoked", [&](int i) {
    return absl::IsUnauthenticated(Issue(i, issuer, org, "").status());
  });
}

// Reads revocation events from replica `on` after `since` until `want`
// events were read in all or `stop` says so; every event read is appended
// to `out` (under `mu`). Returns the last sequence read.
int64_t ReadRevocations(TS& stub, const std::string& admin_key, int64_t since,
                        size_t want, absl::Mutex* mu,
                        std::vector<v1::RevocationEvent>* out) {
  grpc::ClientContext context;
  TestServer::Authorize(&context, admin_key, "");
  context.set_deadline(std::chrono::system_clock::now() +
                       Scaled(std::chrono::seconds(60)));
  v1::WatchRevocationsRequest req;
  req.set_since_sequence(since);
  auto reader = stub.WatchRevocations(&context, req);
  int64_t last = since;
  v1::RevocationEvent e;
  while (reader->Read(&e)) {
    last = e.sequence();
    absl::MutexLock lock(mu);
    out->push_back(e);
    if (out->size() >= want) break;
  }
  context.TryCancel();
  (void)reader->Finish();
  return last;
}

TEST_F(ReplicaE2eTest, WatchRevocationsDeliversEveryRevocationInOrder) {
  constexpr int kTokens = 300;
  std::string org, issuer;
  ASSERT_NO_FATAL_FAILURE(MakeOrg(0, &org, &issuer));
  ASSERT_TRUE(
      WithinPropagation([&] { return Issue(1, issuer, org, "").ok(); }));
  // Tokens issued through replicas 0 and 1.
  std::vector<std::string> ids[2];
  for (int i = 0; i < kTokens; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t,
                         Issue(i % 2, issuer, org, ""));
    ids[i % 2].push_back(t.token().id());
  }
  constexpr int64_t before = 0;  // nothing revoked in this database yet

  // Watcher 1 on replica 2 throughout; watcher 2 on replica 2 until a third
  // of the events, then reconnecting to replica 0 with its last sequence.
  absl::Mutex mu1, mu2;
  std::vector<v1::RevocationEvent> seen1, seen2;
  std::thread watcher1([&] {
    ReadRevocations(*replicas_[2].tokens, admin_key_, before, kTokens, &mu1,
                    &seen1);
  });
  std::thread watcher2([&] {
    const int64_t last = ReadRevocations(*replicas_[2].tokens, admin_key_,
                                         before, kTokens / 3, &mu2, &seen2);
    ReadRevocations(*replicas_[0].tokens, admin_key_, last, kTokens, &mu2,
                    &seen2);
  });
  // Revocations through replicas 0 and 1 at once.
  std::vector<std::thread> revokers;
  for (int r = 0; r < 2; ++r) {
    revokers.emplace_back([&, r] {
      for (const std::string& id : ids[r]) {
        v1::RevokeTokenRequest rev;
        rev.set_token_id(id);
        EXPECT_OK(Call(*replicas_[r].tokens, &TS::RevokeToken, rev, issuer, org)
                      .status());
      }
    });
  }
  for (std::thread& t : revokers) t.join();
  watcher1.join();
  watcher2.join();

  std::set<std::string> revoked(ids[0].begin(), ids[0].end());
  revoked.insert(ids[1].begin(), ids[1].end());
  for (const auto* seen : {&seen1, &seen2}) {
    ASSERT_EQ(seen->size(), static_cast<size_t>(kTokens));
    std::set<std::string> got;
    for (size_t i = 0; i < seen->size(); ++i) {
      EXPECT_EQ((*seen)[i].sequence(), before + static_cast<int64_t>(i) + 1)
          << "gap or duplicate at event " << i;
      got.insert((*seen)[i].token_id());
    }
    EXPECT_EQ(got, revoked);
  }
}

}  // namespace
}  // namespace token_authority::testing

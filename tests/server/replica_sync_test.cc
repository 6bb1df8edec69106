// ReplicaSync with two TokenAuthority instances ("replicas" A and B) on two
// PostgresTokenStores over one database of a real cluster: what changes
// through A (organisations, keys, API keys, revocations) reaches B's memory
// by itself, re-applying is harmless, and changes made while B was not
// listening are caught up by sequence.
#include "server/replica_sync.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/pg_connection.h"
#include "storage/postgres_token_store.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::Scaled;
using ::token_authority::testing::SharedPostgresCluster;
using ::token_authority::testing::StatusIs;
using ::token_authority::testing::TempDir;

// Changes through one replica reach the other within this (the issue's
// bound; scaled under sanitizers).
constexpr absl::Duration kPropagation = absl::Seconds(1);

token::TokenSpec Streams(const std::string& name) {
  token::TokenSpec spec;
  spec.target = token::Target::Streams({name});
  return spec;
}

// Whether `done` becomes true within `timeout` (scaled).
bool Eventually(const std::function<bool()>& done,
                absl::Duration timeout = kPropagation) {
  const absl::Time deadline = absl::Now() + Scaled(timeout);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

struct Replica {
  std::unique_ptr<storage::PostgresTokenStore> store;
  std::unique_ptr<TokenAuthority> authority;
  std::unique_ptr<ReplicaSync> sync;
};

class ReplicaSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
    ASSERT_NO_FATAL_FAILURE(Open(&a_, random_a_, /*sync=*/true));
    ASSERT_OK_AND_ASSIGN(CreatedApiKey admin,
                         a_.authority->CreateBootstrapAdminKey());
    admin_ = Caller{admin.key.id, ApiKeyRole::kAdmin, ""};
    ASSERT_OK_AND_ASSIGN(
        CreatedApiKey v,
        a_.authority->CreateApiKey(admin_, "", ApiKeyRole::kVerifier));
    verifier_ = Caller{v.key.id, ApiKeyRole::kVerifier, ""};
  }
  void TearDown() override {
    for (Replica* r : {&b_, &a_}) {
      r->sync.reset();
      r->authority.reset();
      r->store.reset();
    }
  }

  // A store and an authority (as AuthorityServer makes them: the change
  // sequence read first), with a ReplicaSync when `sync`.
  void Open(Replica* r, RandomSource& random, bool sync) {
    storage::PostgresTokenStoreOptions o;
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key_path = dir_.File("kek.key");
    o.clock = &clock_;
    o.random = &random;
    o.sweep_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(r->store, storage::PostgresTokenStore::Open(o));
    ASSERT_OK_AND_ASSIGN(int64_t seq, r->store->MaxChangeSequence());
    TokenAuthorityOptions options;
    options.maintenance_interval = absl::ZeroDuration();
    options.feed.poll_interval = absl::ZeroDuration();  // ReplicaSync's job
    ASSERT_OK_AND_ASSIGN(
        r->authority,
        TokenAuthority::Create(options, r->store.get(), clock_, random));
    if (sync) {
      r->sync = ReplicaSync::Start(r->store.get(), r->authority.get(), seq);
    }
  }

  bool Allowed(Replica& r, const std::string& jwt, const std::string& org) {
    VerifyRequest req;
    req.jwt = jwt;
    req.playback.organization_id = org;
    req.playback.stream_name = "cam1";
    absl::StatusOr<token::VerifyResult> v =
        r.authority->VerifyToken(verifier_, req);
    return v.ok() && v->allowed;
  }

  PostgresCluster* cluster_ = nullptr;
  std::string db_;
  TempDir dir_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  FakeRandom random_a_{1};
  FakeRandom random_b_{2};
  Replica a_;
  Replica b_;
  Caller admin_;
  Caller verifier_;
};

TEST_F(ReplicaSyncTest, ChangesThroughOneReplicaReachTheOther) {
  ASSERT_NO_FATAL_FAILURE(Open(&b_, random_b_, /*sync=*/true));
  // A new organisation and its issuer key, made through A, work on B.
  ASSERT_OK_AND_ASSIGN(storage::Organization org,
                       a_.authority->CreateOrganization(admin_, "acme", true));
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey issuer_key,
      a_.authority->CreateApiKey(admin_, org.id, ApiKeyRole::kIssuer));
  EXPECT_TRUE(Eventually(
      [&] { return b_.authority->Authenticate(issuer_key.secret, "").ok(); }));
  ASSERT_OK_AND_ASSIGN(Caller issuer,
                       b_.authority->Authenticate(issuer_key.secret, ""));
  // Issued on A, verified on B; issued on B, verified on A.
  ASSERT_OK_AND_ASSIGN(IssuedToken t1,
                       a_.authority->IssueToken(issuer, Streams("cam1"), ""));
  EXPECT_TRUE(Allowed(b_, t1.jwt, org.id));
  ASSERT_OK_AND_ASSIGN(IssuedToken t2,
                       b_.authority->IssueToken(issuer, Streams("cam1"), ""));
  EXPECT_TRUE(Allowed(a_, t2.jwt, org.id));

  // Revoked on A: refused by B.
  ASSERT_OK(
      a_.authority->RevokeToken(issuer, t1.record.token.id, "test").status());
  EXPECT_TRUE(Eventually([&] { return !Allowed(b_, t1.jwt, org.id); }));

  // Rotated on A: B verifies the new key's tokens and publishes the new JWK
  // Set's digest.
  const std::string old_digest =
      b_.authority->organization_state_feed().Get(org.id)->jwks_sha256;
  ASSERT_OK(a_.authority->RotateSigningKey(issuer, token::Algorithm::kEs256)
                .status());
  ASSERT_OK_AND_ASSIGN(IssuedToken t3,
                       a_.authority->IssueToken(issuer, Streams("cam1"), ""));
  EXPECT_NE(t3.record.token.key_id, t1.record.token.key_id);
  EXPECT_TRUE(Eventually([&] { return Allowed(b_, t3.jwt, org.id); }));
  EXPECT_NE(b_.authority->organization_state_feed().Get(org.id)->jwks_sha256,
            old_digest);
  ASSERT_OK_AND_ASSIGN(IssuedToken t4,
                       b_.authority->IssueToken(issuer, Streams("cam1"), ""));
  EXPECT_EQ(t4.record.token.key_id, t3.record.token.key_id);

  // Secure playback disabled on A: B refuses to issue (upgrade needed).
  ASSERT_OK(
      a_.authority->UpdateOrganization(admin_, org.id, false, "").status());
  EXPECT_TRUE(Eventually([&] {
    return absl::IsFailedPrecondition(
        b_.authority->IssueToken(issuer, Streams("cam1"), "").status());
  }));
  EXPECT_FALSE(
      b_.authority->organization_state_feed().Get(org.id)->secure_enabled);

  // The issuer key revoked on A: B refuses it.
  ASSERT_OK(a_.authority->RevokeApiKey(admin_, issuer.api_key_id).status());
  EXPECT_TRUE(Eventually([&] {
    return absl::IsUnauthenticated(
        b_.authority->Authenticate(issuer_key.secret, "").status());
  }));
  EXPECT_FALSE(b_.authority->IsApiKeyActive(issuer.api_key_id));
}

// Re-applying every change from the start changes nothing: no state is
// published again, no key is replaced.
// Two replicas starting while an organisation has no primary key yet (its
// creator between creating it and adding its key): both give it one at
// start; the store lets one of them (they take turns on the organisation's
// row) and the other starts with that key instead of failing. A third
// session holds the change counter, which a key's insert takes, so that
// both inserts are in flight at once.
TEST_F(ReplicaSyncTest, ReplicasStartingTogetherShareOneNewPrimaryKey) {
  storage::Organization org;
  org.id = "acme";
  org.name = "Acme";
  org.secure_enabled = true;
  ASSERT_OK(a_.store->CreateOrganization(org, {}).status());
  ASSERT_OK_AND_ASSIGN(auto blocker,
                       storage::pg::Connection::Open(cluster_->ConnInfo(db_)));
  ASSERT_OK(blocker->Run("BEGIN"));
  ASSERT_OK(blocker->Run("SELECT last FROM change_counter FOR UPDATE"));
  Replica c;
  FakeRandom random_c{3};
  std::thread start_b([&] { Open(&b_, random_b_, /*sync=*/false); });
  std::thread start_c([&] { Open(&c, random_c, /*sync=*/false); });
  absl::SleepFor(Scaled(absl::Milliseconds(300)));
  ASSERT_OK(blocker->Run("COMMIT"));
  start_b.join();
  start_c.join();
  ASSERT_NE(b_.authority, nullptr);
  ASSERT_NE(c.authority, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<storage::SigningKey> keys,
                       a_.store->ListSigningKeys("acme"));
  ASSERT_EQ(keys.size(), 1u);
  // Both serve that key.
  ASSERT_OK_AND_ASSIGN(std::string b_jwks,
                       b_.authority->GetJwks(admin_, "acme"));
  ASSERT_OK_AND_ASSIGN(std::string c_jwks,
                       c.authority->GetJwks(admin_, "acme"));
  EXPECT_EQ(b_jwks, c_jwks);
  EXPECT_THAT(b_jwks, HasSubstr(keys[0].kid));
  c.authority.reset();
  c.store.reset();
}

TEST_F(ReplicaSyncTest, ReapplyingIsHarmless) {
  ASSERT_OK_AND_ASSIGN(storage::Organization org,
                       a_.authority->CreateOrganization(admin_, "acme", true));
  ASSERT_OK(a_.authority->UpdateOrganization(admin_, org.id, true, "renamed")
                .status());
  ASSERT_NO_FATAL_FAILURE(Open(&b_, random_b_, /*sync=*/false));
  const std::optional<OrganizationState> before =
      b_.authority->organization_state_feed().Get(org.id);
  ASSERT_TRUE(before.has_value());
  std::unique_ptr<ReplicaSync> sync =
      ReplicaSync::Start(b_.store.get(), b_.authority.get(), 0);
  ASSERT_OK(sync->SyncOnce());
  ASSERT_OK_AND_ASSIGN(int64_t max, b_.store->MaxChangeSequence());
  EXPECT_EQ(sync->last_sequence(), max);
  EXPECT_EQ(b_.authority->organization_state_feed().Get(org.id)->version,
            before->version);
}

// Changes committed while B did not listen (before its ReplicaSync
// started, after it read its start sequence) are caught up by sequence.
TEST_F(ReplicaSyncTest, ChangesMadeBeforeTheSyncStartedAreCaughtUp) {
  ASSERT_OK_AND_ASSIGN(storage::Organization org,
                       a_.authority->CreateOrganization(admin_, "acme", true));
  ASSERT_NO_FATAL_FAILURE(Open(&b_, random_b_, /*sync=*/false));
  ASSERT_OK_AND_ASSIGN(int64_t start, b_.store->MaxChangeSequence());
  ASSERT_OK(
      a_.authority->UpdateOrganization(admin_, org.id, false, "").status());
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey k,
      a_.authority->CreateApiKey(admin_, org.id, ApiKeyRole::kAuditor));
  EXPECT_TRUE(
      b_.authority->organization_state_feed().Get(org.id)->secure_enabled);
  EXPECT_FALSE(b_.authority->IsApiKeyActive(k.key.id));
  b_.sync = ReplicaSync::Start(b_.store.get(), b_.authority.get(), start);
  EXPECT_TRUE(Eventually([&] {
    return !b_.authority->organization_state_feed()
                .Get(org.id)
                ->secure_enabled &&
           b_.authority->IsApiKeyActive(k.key.id);
  }));
}

}  // namespace
}  // namespace token_authority::server

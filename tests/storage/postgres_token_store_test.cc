// What only PostgresTokenStore has: its options, a server that cannot be
// reached or goes away, a foreign database, and several replicas (stores)
// on one database at once. Everything every TokenStore must do is in the
// conformance suite (token_store_conformance_test.cc).
#include "storage/postgres_token_store.h"

#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/pg_connection.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/time_scale.h"

namespace token_authority::storage {
namespace {

using ::testing::HasSubstr;
using testing::MakeApiKey;
using testing::MakeKey;
using testing::MakeOrg;
using testing::MakeToken;
using ::testing::StartsWith;
using testing::StartTime;
using testing::TempDir;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::Scaled;
using ::token_authority::testing::SharedPostgresCluster;
using ::token_authority::testing::StatusIs;

class PostgresTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
  }
  PostgresTokenStoreOptions Options() {
    PostgresTokenStoreOptions o;
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key_path = dir_.File("kek.key");
    o.clock = &clock_;
    o.sweep_interval = absl::ZeroDuration();
    return o;
  }
  // A third session holding the change log's counter row, which every
  // change of an API key, signing key or organisation takes in its
  // transaction (a trigger): changes made while it is held wait, their
  // transactions open, until its COMMIT.
  std::unique_ptr<pg::Connection> HoldChangeCounter() {
    absl::StatusOr<std::unique_ptr<pg::Connection>> c =
        pg::Connection::Open(cluster_->ConnInfo(db_));
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    EXPECT_OK((*c)->Run("BEGIN"));
    EXPECT_OK((*c)->Run("SELECT last FROM change_counter FOR UPDATE"));
    return *std::move(c);
  }
  // Runs `first` and `second` on two threads while the change counter is
  // held, so that both transactions are open at once, then releases it.
  void RunTogether(const std::function<void()>& first,
                   const std::function<void()>& second) {
    std::unique_ptr<pg::Connection> blocker = HoldChangeCounter();
    ASSERT_NE(blocker, nullptr);
    std::thread a(first);
    std::thread b(second);
    absl::SleepFor(Scaled(absl::Milliseconds(300)));
    EXPECT_OK(blocker->Run("COMMIT"));
    a.join();
    b.join();
  }

  std::string Query(const std::string& sql) {
    absl::StatusOr<std::string> v = cluster_->QueryText(db_, sql);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or("");
  }

  PostgresCluster* cluster_ = nullptr;
  std::string db_;
  TempDir dir_;
  FakeClock clock_{StartTime()};
};

TEST_F(PostgresTokenStoreTest, OpenRejectsBadOptions) {
  PostgresTokenStoreOptions o = Options();
  o.conninfo = "";
  EXPECT_THAT(
      PostgresTokenStore::Open(o),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("conninfo:")));
  o = Options();
  o.read_pool_size = 0;
  EXPECT_THAT(PostgresTokenStore::Open(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("read_pool_size:")));
  o = Options();
  o.key_encryption_key_path = "";
  EXPECT_THAT(PostgresTokenStore::Open(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("key_encryption_key_path:")));
}

TEST_F(PostgresTokenStoreTest, UnreachableServerIsUnavailable) {
  PostgresTokenStoreOptions o = Options();
  o.conninfo = "host=127.0.0.1 port=1 dbname=x connect_timeout=5";
  EXPECT_THAT(PostgresTokenStore::Open(o),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot connect to PostgreSQL")));
}

TEST_F(PostgresTokenStoreTest, RefusesForeignDatabaseAndLeavesItAlone) {
  ASSERT_OK(cluster_->Exec(db_, "CREATE TABLE theirs(x int)"));
  EXPECT_THAT(PostgresTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a token-authority database")));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE schemaname = "
                  "'public'"),
            "1");
}

TEST_F(PostgresTokenStoreTest, NewerSchemaIsRefusedInOneLine) {
  { ASSERT_OK(PostgresTokenStore::Open(Options()).status()); }
  ASSERT_OK(cluster_->Exec(db_, "INSERT INTO ta_schema VALUES (7)"));
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> s =
      PostgresTokenStore::Open(Options());
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition,
                          absl::StrCat("database schema version 7 is newer "
                                       "than this build supports (",
                                       PostgresTokenStore::kSchemaVersion,
                                       "): upgrade token-authority")));
}

TEST_F(PostgresTokenStoreTest, ReplicasStartingTogetherMigrateOnce) {
  constexpr int kReplicas = 4;
  std::vector<absl::StatusOr<std::unique_ptr<PostgresTokenStore>>> stores(
      kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back(
        [&, i] { stores[i] = PostgresTokenStore::Open(Options()); });
  }
  for (auto& t : threads) t.join();
  for (auto& s : stores) ASSERT_OK(s.status());
  EXPECT_EQ(Query("SELECT count(*) FROM ta_schema"),
            absl::StrCat(PostgresTokenStore::kSchemaVersion));
  EXPECT_EQ(Query("SELECT count(*) FROM meta WHERE key = 'kek_check'"), "1");
  // Every replica writes, and sees the others' rows.
  ASSERT_OK((*stores[0])->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_OK(
      (*stores[1])->RotateSigningKey(MakeKey("acme", "acme-k1"), {}).status());
  ASSERT_OK_AND_ASSIGN(auto keys, (*stores[3])->ListSigningKeys("acme"));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].private_key, MakeKey("acme", "acme-k1").private_key);
}

TEST_F(PostgresTokenStoreTest, ReplicasRetryingOneRequestIdMakeOneToken) {
  ASSERT_OK_AND_ASSIGN(auto a, PostgresTokenStore::Open(Options()));
  ASSERT_OK_AND_ASSIGN(auto b, PostgresTokenStore::Open(Options()));
  ASSERT_OK(a->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_OK(a->RotateSigningKey(MakeKey("acme", "acme-k1"), {}).status());
  FakeRandom random(3);
  for (int round = 0; round < 10; ++round) {
    std::vector<Token> tokens;
    for (int i = 0; i < 8; ++i) {
      Token t = MakeToken(random, "acme", "acme-k1", StartTime());
      t.request_id = absl::StrCat("req-", round);
      tokens.push_back(t);
    }
    std::vector<absl::StatusOr<InsertTokenResult>> results(tokens.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < tokens.size(); ++i) {
      threads.emplace_back(
          [&, i] { results[i] = (i % 2 ? a : b)->InsertToken(tokens[i], {}); });
    }
    for (auto& t : threads) t.join();
    int created = 0;
    for (const auto& r : results) {
      ASSERT_OK(r.status());
      created += r->created ? 1 : 0;
      EXPECT_EQ(r->token.id, results[0]->token.id);
    }
    EXPECT_EQ(created, 1) << "round " << round;
  }
  EXPECT_EQ(Query("SELECT count(*) FROM tokens"), "10");
}

// Two replicas revoking the last two service-wide admin keys at once: the
// check runs in each one's transaction, in turns, so one of them is refused
// and one admin key stays (without the turns, each open transaction would
// count the other's key as still active).
TEST_F(PostgresTokenStoreTest, ReplicasNeverRevokeTheLastTwoAdminKeys) {
  ASSERT_OK_AND_ASSIGN(auto a, PostgresTokenStore::Open(Options()));
  ASSERT_OK_AND_ASSIGN(auto b, PostgresTokenStore::Open(Options()));
  auto create = [&](int n) -> std::string {
    const ApiKey k = MakeApiKey(absl::StrCat("admin-", n), "",
                                ApiKeyRole::kAdmin, static_cast<char>('a' + n));
    EXPECT_OK(a->CreateApiKey(k, {}).status());
    return k.id;
  };
  std::string survivor = create(0);
  for (int round = 1; round <= 3; ++round) {
    const std::string added = create(round);
    absl::Status results[2];
    RunTogether([&] { results[0] = b->RevokeApiKey(survivor, {}).status(); },
                [&] { results[1] = a->RevokeApiKey(added, {}).status(); });
    ASSERT_NE(results[0].ok(), results[1].ok())
        << "round " << round << ": " << results[0] << " / " << results[1];
    EXPECT_EQ(Query("SELECT count(*) FROM api_keys WHERE role = 1 AND "
                    "revoked_at IS NULL"),
              "1");
    if (results[0].ok()) survivor = added;
  }
}

// Two replicas giving an organisation without keys its first primary key
// at once (both started while its creator was between creating it and
// adding its key): they take turns on the organisation's row, so one
// succeeds and the other is told which key is primary.
TEST_F(PostgresTokenStoreTest, ReplicasAddingTheFirstPrimaryKeyMakeOne) {
  ASSERT_OK_AND_ASSIGN(auto a, PostgresTokenStore::Open(Options()));
  ASSERT_OK_AND_ASSIGN(auto b, PostgresTokenStore::Open(Options()));
  for (int round = 0; round < 3; ++round) {
    const std::string org = absl::StrCat("org-", round);
    ASSERT_OK(a->CreateOrganization(MakeOrg(org), {}).status());
    SigningKey ka = MakeKey(org, org + "-a");
    SigningKey kb = MakeKey(org, org + "-b");
    ka.state = kb.state = token::KeyState::kPrimary;
    absl::Status results[2];
    RunTogether([&] { results[0] = a->InsertSigningKey(ka, {}).status(); },
                [&] { results[1] = b->InsertSigningKey(kb, {}).status(); });
    ASSERT_NE(results[0].ok(), results[1].ok())
        << "round " << round << ": " << results[0] << " / " << results[1];
    EXPECT_THAT(results[0].ok() ? results[1] : results[0],
                StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_EQ(Query(absl::StrCat(
                  "SELECT count(*) FROM signing_keys k JOIN organizations o "
                  "ON o.no = k.org_no WHERE o.id = '",
                  org, "' AND k.state = 1")),
              "1");
  }
}

TEST_F(PostgresTokenStoreTest, RevocationSequencesAcrossReplicasHaveNoGaps) {
  ASSERT_OK_AND_ASSIGN(auto a, PostgresTokenStore::Open(Options()));
  ASSERT_OK_AND_ASSIGN(auto b, PostgresTokenStore::Open(Options()));
  ASSERT_OK(a->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_OK(a->RotateSigningKey(MakeKey("acme", "acme-k1"), {}).status());
  FakeRandom random(5);
  constexpr int kTokens = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < kTokens; ++i) {
    Token t = MakeToken(random, "acme", "acme-k1", StartTime());
    ASSERT_OK(a->InsertToken(t, {}).status());
    ids.push_back(t.id);
  }
  // A watcher polls the log while both replicas revoke: what it has seen
  // never gains a lower sequence later (commit order).
  std::atomic<bool> stop{false};
  std::vector<int64_t> watched;
  std::thread watcher([&] {
    int64_t after = 0;
    while (!stop.load() || after < kTokens) {
      auto events = b->ListRevocationsSince(after, 1000);
      ASSERT_OK(events.status());
      for (const auto& e : *events) {
        watched.push_back(e.sequence);
        after = e.sequence;
      }
      if (stop.load() && events->empty() && after >= kTokens) break;
    }
  });
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = w; i < kTokens; i += 4) {
        EXPECT_OK(
            (w % 2 ? a : b)->RevokeToken("acme", ids[i], "", {}).status());
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  watcher.join();
  ASSERT_EQ(watched.size(), static_cast<size_t>(kTokens));
  for (int i = 0; i < kTokens; ++i) EXPECT_EQ(watched[i], i + 1);
  EXPECT_THAT(a->MaxRevocationSequence(),
              ::token_authority::testing::IsOkAndHolds(kTokens));
}

// The server goes away and comes back: writes fail with Unavailable
// meanwhile, and the store recovers without being reopened.
TEST_F(PostgresTokenStoreTest, RecoversAfterTheServerRestarts) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> own,
                       PostgresCluster::Start());
  ASSERT_OK_AND_ASSIGN(std::string db, own->CreateDatabase());
  PostgresTokenStoreOptions o = Options();
  o.conninfo = own->ConnInfo(db);
  ASSERT_OK_AND_ASSIGN(auto store, PostgresTokenStore::Open(o));
  ASSERT_OK(store->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_OK(store->RotateSigningKey(MakeKey("acme", "acme-k1"), {}).status());
  FakeRandom random(9);
  const Token before = MakeToken(random, "acme", "acme-k1", StartTime());
  ASSERT_OK(store->InsertToken(before, {}).status());
  ASSERT_OK(own->Stop("immediate"));
  EXPECT_THAT(
      store->InsertToken(MakeToken(random, "acme", "acme-k1", StartTime()), {}),
      StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(store->GetToken("acme", before.id),
              StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK(own->Restart());
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
  absl::Status st;
  const Token after = MakeToken(random, "acme", "acme-k1", StartTime());
  while (true) {
    st = store->InsertToken(after, {}).status();
    if (st.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_OK(st);
  absl::StatusOr<Token> got;
  while (true) {
    got = store->GetToken("acme", before.id);
    if (got.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_OK(got.status());
  EXPECT_OK(store->GetToken("acme", after.id).status());
}

}  // namespace
}  // namespace token_authority::storage

// PgChangeListener (through PostgresTokenStore::ListenForChanges) against a
// real cluster: it calls back once connected, on every committed change or
// revocation of any replica, and after the server restarted.
#include "storage/pg_change_listener.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"
#include "storage/postgres_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/time_scale.h"

namespace token_authority::storage {
namespace {

using testing::MakeKey;
using testing::MakeOrg;
using testing::MakeToken;
using testing::StartTime;
using testing::TempDir;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::Scaled;
using ::token_authority::testing::SharedPostgresCluster;

class ChangeListenerTest : public ::testing::Test {
 protected:
  PostgresTokenStoreOptions Options(const PostgresCluster& cluster,
                                    const std::string& db) {
    PostgresTokenStoreOptions o;
    o.conninfo = cluster.ConnInfo(db);
    o.key_encryption_key_path = dir_.File("kek.key");
    o.clock = &clock_;
    o.sweep_interval = absl::ZeroDuration();
    return o;
  }
  // Waits (with a deadline) until the listener called back more than
  // `count` times; returns whether it did.
  bool WaitForCallsAbove(int count, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + Scaled(timeout);
    while (calls_.load() <= count) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }
  std::unique_ptr<ChangeListener> Listen(PostgresTokenStore& store) {
    return store.ListenForChanges([this] { calls_.fetch_add(1); });
  }

  TempDir dir_;
  FakeClock clock_{StartTime()};
  std::atomic<int> calls_{0};
};

TEST_F(ChangeListenerTest, CallsBackWhenConnectedAndOnEveryCommit) {
  ASSERT_OK_AND_ASSIGN(PostgresCluster * cluster, SharedPostgresCluster());
  ASSERT_OK_AND_ASSIGN(std::string db, cluster->CreateDatabase());
  ASSERT_OK_AND_ASSIGN(auto a, PostgresTokenStore::Open(Options(*cluster, db)));
  ASSERT_OK_AND_ASSIGN(auto b, PostgresTokenStore::Open(Options(*cluster, db)));
  std::unique_ptr<ChangeListener> listener = Listen(*b);
  ASSERT_TRUE(WaitForCallsAbove(0, absl::Seconds(10)));  // connected
  // Changes committed through the other replica (store) wake it.
  int seen = calls_.load();
  ASSERT_OK(a->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_TRUE(WaitForCallsAbove(seen, absl::Seconds(5)));
  seen = calls_.load();
  SigningKey k = MakeKey("acme", "k1");
  k.state = token::KeyState::kPrimary;
  ASSERT_OK(a->InsertSigningKey(k, {}).status());
  ASSERT_TRUE(WaitForCallsAbove(seen, absl::Seconds(5)));
  // So do revocations.
  FakeRandom random(3);
  const Token t = MakeToken(random, "acme", "k1", StartTime());
  ASSERT_OK(a->InsertToken(t, {}).status());
  seen = calls_.load();
  ASSERT_OK(a->RevokeToken("acme", t.id, "test", {}).status());
  ASSERT_TRUE(WaitForCallsAbove(seen, absl::Seconds(5)));
  // And an operator's SQL.
  seen = calls_.load();
  ASSERT_OK(cluster->Exec(
      db, "UPDATE organizations SET secure_enabled = 0 WHERE id = 'acme'"));
  ASSERT_TRUE(WaitForCallsAbove(seen, absl::Seconds(5)));
  listener.reset();  // stops promptly
  seen = calls_.load();
  ASSERT_OK(a->CreateOrganization(MakeOrg("beta"), {}).status());
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(calls_.load(), seen);  // stopped: no call after destruction
}

// The server restarts (immediate stop: the listener's session dies): the
// listener reconnects by itself, calls back after reconnecting, and is
// woken by the next commit again.
TEST_F(ChangeListenerTest, ReconnectsAfterTheServerRestarts) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> own,
                       PostgresCluster::Start());
  ASSERT_OK_AND_ASSIGN(std::string db, own->CreateDatabase());
  ASSERT_OK_AND_ASSIGN(auto store, PostgresTokenStore::Open(Options(*own, db)));
  std::unique_ptr<ChangeListener> listener = Listen(*store);
  ASSERT_TRUE(WaitForCallsAbove(0, absl::Seconds(10)));
  ASSERT_OK(own->Stop("immediate"));
  absl::SleepFor(absl::Milliseconds(300));  // the listener notices
  const int before_restart = calls_.load();
  ASSERT_OK(own->Restart());
  // Called back once reconnected, without any change.
  ASSERT_TRUE(WaitForCallsAbove(before_restart, absl::Seconds(30)));
  // A commit wakes it (the store's writer reconnects by itself too).
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
  absl::Status st;
  int seen = 0;
  do {
    seen = calls_.load();
    st = store->CreateOrganization(MakeOrg("acme"), {}).status();
    if (!st.ok()) absl::SleepFor(absl::Milliseconds(20));
  } while (!st.ok() && absl::Now() < deadline);
  ASSERT_OK(st);
  EXPECT_TRUE(WaitForCallsAbove(seen, absl::Seconds(5)));
}

}  // namespace
}  // namespace token_authority::storage

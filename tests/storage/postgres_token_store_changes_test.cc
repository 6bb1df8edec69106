// The change log of PostgresTokenStore (pg_schema.cc v2, written by
// triggers): every kind of mutation of what replicas cache is logged, in
// commit order, whichever path made it (this store, another replica, an
// operator's SQL); API key touches are not; older databases migrate.
#include <atomic>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using testing::MakeKey;
using testing::MakeOrg;
using testing::Sha;
using testing::StartTime;
using testing::TempDir;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::SharedPostgresCluster;
using ::token_authority::testing::StatusIs;

struct Seen {
  ChangeKind kind;
  std::string organization_id;
  std::string entity_id;
  bool operator==(const Seen& o) const {
    return kind == o.kind && organization_id == o.organization_id &&
           entity_id == o.entity_id;
  }
};

void PrintTo(const Seen& s, std::ostream* os) {
  *os << static_cast<int>(s.kind) << "/" << s.organization_id << "/"
      << s.entity_id;
}

ApiKey MakeApiKey(const std::string& id, const std::string& org, char fill) {
  ApiKey k;
  k.id = id;
  k.organization_id = org;
  k.role = org.empty() ? ApiKeyRole::kAdmin : ApiKeyRole::kIssuer;
  k.secret_hash = Sha(fill);
  return k;
}

class ChangeLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
    ASSERT_OK_AND_ASSIGN(store_, PostgresTokenStore::Open(Options()));
  }
  PostgresTokenStoreOptions Options() {
    PostgresTokenStoreOptions o;
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key_path = dir_.File("kek.key");
    o.clock = &clock_;
    o.sweep_interval = absl::ZeroDuration();
    return o;
  }
  // Every change after `after`, checking that sequences follow each other.
  std::vector<Seen> ChangesAfter(int64_t after) {
    absl::StatusOr<std::vector<ChangeEvent>> events =
        store_->ListChangesSince(after, 10000);
    EXPECT_OK(events.status());
    std::vector<Seen> out;
    int64_t expected = after + 1;
    for (const ChangeEvent& e : events.value_or(std::vector<ChangeEvent>{})) {
      EXPECT_EQ(e.seq, expected++);
      out.push_back(Seen{e.kind, e.organization_id, e.entity_id});
    }
    return out;
  }
  int64_t MaxSeq() {
    absl::StatusOr<int64_t> v = store_->MaxChangeSequence();
    EXPECT_OK(v.status());
    return v.value_or(-1);
  }

  PostgresCluster* cluster_ = nullptr;
  std::string db_;
  TempDir dir_;
  FakeClock clock_{StartTime()};
  std::unique_ptr<PostgresTokenStore> store_;
};

TEST_F(ChangeLogTest, EveryMutationOfCachedStateIsLoggedInOrder) {
  EXPECT_EQ(MaxSeq(), 0);
  EXPECT_TRUE(ChangesAfter(0).empty());
  ASSERT_OK(store_->CreateOrganization(MakeOrg("acme"), {}).status());
  SigningKey k1 = MakeKey("acme", "k1");
  k1.state = token::KeyState::kPrimary;
  ASSERT_OK(store_->InsertSigningKey(k1, {}).status());
  // Rotation: the old primary becomes a verifying key, then the new one.
  ASSERT_OK(store_->RotateSigningKey(MakeKey("acme", "k2"), {}).status());
  OrganizationUpdate update;
  update.secure_enabled = false;
  ASSERT_OK(store_->UpdateOrganization("acme", update, {}).status());
  ASSERT_OK(store_->CreateApiKey(MakeApiKey("adm", "", 'a'), {}).status());
  ASSERT_OK(store_->CreateApiKey(MakeApiKey("iss", "acme", 'b'), {}).status());
  ASSERT_OK(store_->RevokeApiKey("iss", {}).status());
  ASSERT_OK(store_->RetireSigningKey("acme", "k1", {}).status());
  const std::vector<Seen> want = {
      {ChangeKind::kOrganization, "acme", "acme"},
      {ChangeKind::kSigningKey, "acme", "k1"},
      {ChangeKind::kSigningKey, "acme", "k1"},
      {ChangeKind::kSigningKey, "acme", "k2"},
      {ChangeKind::kOrganization, "acme", "acme"},
      {ChangeKind::kApiKey, "", "adm"},
      {ChangeKind::kApiKey, "acme", "iss"},
      {ChangeKind::kApiKey, "acme", "iss"},
      {ChangeKind::kSigningKey, "acme", "k1"},
  };
  EXPECT_EQ(ChangesAfter(0), want);
  EXPECT_EQ(MaxSeq(), static_cast<int64_t>(want.size()));
  EXPECT_EQ(ChangesAfter(5), std::vector<Seen>(want.begin() + 5, want.end()));
  ASSERT_OK_AND_ASSIGN(std::vector<ChangeEvent> two,
                       store_->ListChangesSince(0, 2));
  EXPECT_EQ(two.size(), 2u);
  EXPECT_THAT(store_->ListChangesSince(0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ChangeLogTest, TouchesAndIdempotentRevocationsAreNotLogged) {
  ASSERT_OK(store_->CreateApiKey(MakeApiKey("adm", "", 'a'), {}).status());
  // Not the last admin key, which cannot be revoked.
  ASSERT_OK(store_->CreateApiKey(MakeApiKey("adm2", "", 'b'), {}).status());
  ASSERT_OK(store_->RevokeApiKey("adm", {}).status());
  const int64_t before = MaxSeq();
  ASSERT_OK(store_->TouchApiKey("adm", StartTime() + absl::Seconds(5)));
  ASSERT_OK(store_->FlushTouches());
  ASSERT_OK(store_->RevokeApiKey("adm", {}).status());  // already revoked
  ASSERT_OK_AND_ASSIGN(ApiKey k, store_->GetApiKey("adm"));
  ASSERT_TRUE(k.last_used_at.has_value());  // the touch was written
  EXPECT_EQ(MaxSeq(), before);
}

TEST_F(ChangeLogTest, AnOperatorsSqlIsLogged) {
  ASSERT_OK(store_->CreateOrganization(MakeOrg("acme"), {}).status());
  const int64_t before = MaxSeq();
  ASSERT_OK(cluster_->Exec(
      db_, "UPDATE organizations SET secure_enabled = 0 WHERE id = 'acme'"));
  EXPECT_EQ(ChangesAfter(before),
            (std::vector<Seen>{{ChangeKind::kOrganization, "acme", "acme"}}));
  // An update that changes nothing is not a change.
  ASSERT_OK(cluster_->Exec(
      db_, "UPDATE organizations SET secure_enabled = 0 WHERE id = 'acme'"));
  EXPECT_EQ(MaxSeq(), before + 1);
}

// Two replicas change things at once: every change is logged once, and the
// sequences are gap-free (commit order), whatever the interleaving.
TEST_F(ChangeLogTest, ConcurrentReplicasGetGapFreeSequences) {
  ASSERT_OK_AND_ASSIGN(auto other, PostgresTokenStore::Open(Options()));
  ASSERT_OK(store_->CreateOrganization(MakeOrg("acme"), {}).status());
  constexpr int kPerReplica = 40;
  auto work = [](PostgresTokenStore* s, const std::string& prefix, char fill) {
    for (int i = 0; i < kPerReplica; ++i) {
      ApiKey k = MakeApiKey(absl::StrCat(prefix, i), "acme", fill);
      k.secret_hash[0] = static_cast<char>(i);
      EXPECT_OK(s->CreateApiKey(k, {}).status());
    }
  };
  std::thread a(work, store_.get(), "a", 'a');
  std::thread b(work, other.get(), "b", 'b');
  a.join();
  b.join();
  std::vector<Seen> all = ChangesAfter(1);
  ASSERT_EQ(all.size(), 2u * kPerReplica);
  std::set<std::string> ids;
  for (const Seen& s : all) ids.insert(s.entity_id);
  EXPECT_EQ(ids.size(), 2u * kPerReplica);
}

// A database made by a build without the change log (schema v1) migrates,
// keeps its rows, and logs from then on.
TEST_F(ChangeLogTest, AVersionOneDatabaseMigrates) {
  ASSERT_OK(store_->CreateOrganization(MakeOrg("acme"), {}).status());
  ASSERT_OK(store_->Shutdown());
  store_.reset();
  ASSERT_OK(cluster_->Exec(
      db_,
      "DROP FUNCTION ta_log_change, ta_organization_changed, "
      "ta_signing_key_changed, ta_api_key_changed, ta_notify_changes "
      "CASCADE; DROP TABLE change_log, change_counter; "
      "DELETE FROM ta_schema WHERE version > 1"));
  ASSERT_OK_AND_ASSIGN(store_, PostgresTokenStore::Open(Options()));
  ASSERT_OK_AND_ASSIGN(
      std::string v,
      cluster_->QueryText(db_, "SELECT max(version) FROM ta_schema"));
  EXPECT_EQ(v, absl::StrCat(PostgresTokenStore::kSchemaVersion));
  EXPECT_OK(store_->GetOrganization("acme").status());
  EXPECT_EQ(MaxSeq(), 0);
  ASSERT_OK(store_->InsertSigningKey(MakeKey("acme", "k1"), {}).status());
  EXPECT_EQ(ChangesAfter(0),
            (std::vector<Seen>{{ChangeKind::kSigningKey, "acme", "k1"}}));
}

}  // namespace
}  // namespace token_authority::storage

// What only SqliteTokenStore has: its file (WAL, user_version, a foreign
// file left alone), its options, its size cap, and the stored form of the
// enumerations. Everything every TokenStore must do is in the conformance
// suite (token_store_conformance_test.cc), which also runs on SQLite.
#include "storage/sqlite_token_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/record_validation.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/file_access.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeKey;
using testing::MakeOrg;
using testing::MakeToken;
using testing::Sha;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testing::StartTime;
using testing::TempDir;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

// Reads one integer with a separate raw connection (to look under the hood).
int64_t RawInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

std::string RawText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK);
  std::string v;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const void* p = sqlite3_column_blob(s, 0);
    v.assign(static_cast<const char*>(p), sqlite3_column_bytes(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

class SqliteTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  SqliteTokenStoreOptions Options() {
    SqliteTokenStoreOptions o;
    o.path = db_path_;
    o.key_encryption_key_path = dir_.File("kek.key");
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();  // sweeps run when tests say
    o.revoke_batch_size = revoke_batch_size_;
    return o;
  }

  void Reopen() {
    store_.reset();
    auto s = SqliteTokenStore::Open(Options());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }

  // Creates organisation `org` with primary key `org`-k1.
  void SetUpOrg(const std::string& org) {
    ASSERT_OK(store_->CreateOrganization(MakeOrg(org), {}).status());
    ASSERT_OK(store_->RotateSigningKey(MakeKey(org, org + "-k1"), {}).status());
  }

  Token Insert(Token t) {
    auto r = store_->InsertToken(t, {});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return t;
    EXPECT_TRUE(r->created);
    return r->token;
  }

  Token NewToken(const std::string& org,
                 absl::Duration age = absl::ZeroDuration(),
                 absl::Duration lifetime = absl::Hours(1)) {
    return MakeToken(random_, org, org + "-k1", clock_.Now() - age, lifetime);
  }

  int64_t AuditCount() {
    return RawInt(db_path_, "SELECT count(*) FROM audit_events");
  }
  int64_t TokenRows() {
    return RawInt(db_path_, "SELECT count(*) FROM tokens");
  }

  std::vector<std::string> ListAllIds(const std::string& org,
                                      const TokenFilter& f, int page_size) {
    std::vector<std::string> ids;
    PageRequest page{page_size, ""};
    for (int i = 0; i < 10000; ++i) {
      auto p = store_->ListTokens(org, f, page);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      for (const Token& t : p->items) ids.push_back(t.id);
      if (p->next_page_token.empty()) break;
      page.page_token = p->next_page_token;
    }
    return ids;
  }

  TempDir dir_;
  std::string db_path_ = dir_.File("ta.db");
  FakeClock clock_{StartTime()};
  FakeRandom random_{42};
  int revoke_batch_size_ = 1000;
  std::unique_ptr<SqliteTokenStore> store_;
};

// --- Open ---

TEST_F(SqliteTokenStoreTest, OpenCreatesWalDatabaseAtLatestSchema) {
  EXPECT_EQ(RawInt(db_path_, "PRAGMA user_version"),
            SqliteTokenStore::kSchemaVersion);
  EXPECT_EQ(RawText(db_path_, "PRAGMA journal_mode"), "wal");
  struct stat st;
  ASSERT_EQ(::stat(dir_.File("kek.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_OK(store_->CheckIntegrity());
}

TEST_F(SqliteTokenStoreTest, OpenRejectsBadOptions) {
  SqliteTokenStoreOptions o = Options();
  o.path = "";
  EXPECT_THAT(
      SqliteTokenStore::Open(o),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("path:")));
  o = Options();
  o.read_pool_size = 0;
  EXPECT_THAT(SqliteTokenStore::Open(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("read_pool_size:")));
  o = Options();
  o.key_encryption_key_path = "";
  EXPECT_THAT(SqliteTokenStore::Open(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("key_encryption_key_path:")));
}

TEST_F(SqliteTokenStoreTest, OpenHonoursSynchronousMode) {
  store_.reset();
  SqliteTokenStoreOptions o = Options();
  o.synchronous = SyncMode::kNormal;
  ASSERT_OK_AND_ASSIGN(auto s, SqliteTokenStore::Open(o));
  ASSERT_OK(s->CreateOrganization(MakeOrg("a"), {}).status());
}

TEST_F(SqliteTokenStoreTest, OpenRefusesForeignFileAndLeavesItAlone) {
  store_.reset();
  const std::string path = dir_.File("foreign.db");
  const std::string junk(8192, 'x');
  std::ofstream(path) << junk;
  SqliteTokenStoreOptions o = Options();
  o.path = path;
  EXPECT_THAT(SqliteTokenStore::Open(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a token-authority database")));
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  EXPECT_EQ(content, junk);
  struct stat st;
  EXPECT_NE(::stat((path + "-wal").c_str(), &st), 0);
}

// The enumerations are stored as they always were (column_codes.h): a
// database written before the store used the token core's enums reads the
// same.
TEST_F(SqliteTokenStoreTest, EnumerationsAreStoredAsBefore) {
  SetUpOrg("acme");
  clock_.Advance(absl::Hours(1));
  ASSERT_OK(store_
                ->RotateSigningKey(
                    MakeKey("acme", "acme-k2", token::Algorithm::kEdDsa), {})
                .status());
  ASSERT_OK(store_->RetireSigningKey("acme", "acme-k1", {}).status());
  EXPECT_EQ(RawText(db_path_,
                    "SELECT group_concat(algorithm || ':' || state) FROM "
                    "(SELECT algorithm, state FROM signing_keys ORDER BY no)"),
            "ES256:3,EdDSA:1");
  SigningKey hs = MakeKey("acme", "acme-k3", token::Algorithm::kHs256);
  hs.state = token::KeyState::kActive;
  ASSERT_OK(store_->InsertSigningKey(hs, {}).status());
  EXPECT_EQ(RawText(db_path_,
                    "SELECT algorithm || ':' || state FROM signing_keys "
                    "WHERE kid = 'acme-k3'"),
            "HS256:2");

  Token streams = NewToken("acme");
  streams.key_id = "acme-k2";
  streams.algorithm = token::Algorithm::kEdDsa;
  Token group = streams;
  group.id = testing::NewTokenId(random_);
  group.target_kind = token::Target::Kind::kStreamGroup;
  group.streams.clear();
  group.stream_group_id = "g1";
  Token org = streams;
  org.id = testing::NewTokenId(random_);
  org.target_kind = token::Target::Kind::kOrganization;
  org.streams.clear();
  for (const Token& t : {streams, group, org}) Insert(t);
  EXPECT_EQ(RawText(db_path_,
                    "SELECT group_concat(kind) FROM (SELECT kind FROM tokens "
                    "ORDER BY no)"),
            "2,1,3");
  ASSERT_OK_AND_ASSIGN(Token got, store_->GetToken("acme", group.id));
  EXPECT_EQ(got.target_kind, token::Target::Kind::kStreamGroup);
  EXPECT_EQ(got.algorithm, token::Algorithm::kEdDsa);
}

// --- Full database ---

TEST_F(SqliteTokenStoreTest, FullDatabaseFailsWritesCleanlyAndRecovers) {
  SetUpOrg("acme");
  store_.reset();
  SqliteTokenStoreOptions o = Options();
  o.max_database_bytes = 400 * 1024;
  ASSERT_OK_AND_ASSIGN(store_, SqliteTokenStore::Open(o));
  std::vector<std::string> acknowledged;
  absl::Status failure;
  for (int i = 0; i < 20000 && failure.ok(); ++i) {
    // Short-lived tokens, so the sweep can make room later.
    Token t = NewToken("acme", absl::ZeroDuration(), absl::Minutes(1));
    t.tag = std::string(100, 'x');
    auto r = store_->InsertToken(t, {});
    if (r.ok()) {
      acknowledged.push_back(t.id);
    } else {
      failure = r.status();
    }
  }
  ASSERT_THAT(failure, StatusIs(absl::StatusCode::kResourceExhausted,
                                HasSubstr("full")));
  ASSERT_GT(acknowledged.size(), 100u);
  // Reads keep working and nothing acknowledged is missing.
  for (const std::string& id : acknowledged) {
    ASSERT_OK(store_->GetToken("acme", id).status());
  }
  EXPECT_OK(store_->CheckIntegrity());
  // Space returns (expired tokens swept): writes succeed again without a
  // restart.
  clock_.Advance(absl::Hours(24 * 91));
  ASSERT_OK_AND_ASSIGN(int64_t swept, store_->RunRetentionSweep());
  EXPECT_EQ(swept, static_cast<int64_t>(acknowledged.size()));
  Token after = NewToken("acme");
  EXPECT_OK(store_->InsertToken(after, {}).status());
  EXPECT_OK(store_->GetToken("acme", after.id).status());
}

}  // namespace
}  // namespace token_authority::storage

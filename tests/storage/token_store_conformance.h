// The fixture of the TokenStore conformance suite: the same tests run
// unchanged against every backend (a typed test suite over SqliteBackend and
// PostgresBackend). A behaviour that differs between the backends is a bug
// in one of them.
//
// A backend opens its store on a fresh database (SQLite: a file in the
// test's TempDir; PostgreSQL: a new database on the test program's shared
// throw-away cluster, tests/testing/postgres_cluster.h), with the fixture's
// clock, randomness and key-encryption key file, and reads or changes the
// database behind the store's back with plain SQL that both dialects accept.
#ifndef TESTS_STORAGE_TOKEN_STORE_CONFORMANCE_H_
#define TESTS_STORAGE_TOKEN_STORE_CONFORMANCE_H_

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/random.h"
#include "gtest/gtest.h"
#include "storage/postgres_token_store.h"
#include "storage/sqlite_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::testing {

// What a test may change about how its store is opened.
struct StoreKnobs {
  std::string kek_path;                 // the key-encryption key file
  std::optional<KeyEncryptionKey> kek;  // instead of the file, if set
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  int revoke_batch_size = 1000;
  absl::Duration sweep_interval = absl::ZeroDuration();  // tests sweep
  absl::Duration touch_flush_interval = absl::Seconds(1);
  int sweep_batch_size = 500;
};

class SqliteBackend {
 public:
  // Statements that set a schema version newer than any build knows.
  static constexpr char kNewerSchemaSql[] = "PRAGMA user_version = 99";

  explicit SqliteBackend(const TempDir& dir) : path_(dir.File("ta.db")) {}
  absl::Status Init() { return absl::OkStatus(); }

  absl::StatusOr<std::unique_ptr<TokenStore>> Open(const StoreKnobs& k) {
    SqliteTokenStoreOptions o;
    o.path = path_;
    o.key_encryption_key_path = k.kek.has_value() ? "" : k.kek_path;
    o.key_encryption_key = k.kek;
    o.clock = k.clock;
    o.random = k.random;
    o.revoke_batch_size = k.revoke_batch_size;
    o.sweep_interval = k.sweep_interval;
    o.touch_flush_interval = k.touch_flush_interval;
    o.sweep_batch_size = k.sweep_batch_size;
    absl::StatusOr<std::unique_ptr<SqliteTokenStore>> s =
        SqliteTokenStore::Open(std::move(o));
    if (!s.ok()) return s.status();
    return std::unique_ptr<TokenStore>(*std::move(s));
  }
  static absl::Status FlushTouches(TokenStore* s) {
    return static_cast<SqliteTokenStore*>(s)->FlushTouches();
  }
  static absl::StatusOr<int64_t> RunRetentionSweep(TokenStore* s) {
    return static_cast<SqliteTokenStore*>(s)->RunRetentionSweep();
  }

  // The first column of the first row (bytes as stored), "" if none.
  std::string RawText(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(
        sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
        SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string v;
    if (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(s, 0);
      v.assign(static_cast<const char*>(p), sqlite3_column_bytes(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
  }
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

 private:
  std::string path_;
};

class PostgresBackend {
 public:
  static constexpr char kNewerSchemaSql[] =
      "INSERT INTO ta_schema(version) VALUES (99)";

  explicit PostgresBackend(const TempDir&) {}
  // A new database on the shared cluster; fails (never skips) when
  // PostgreSQL is not installed.
  absl::Status Init() {
    absl::StatusOr<::token_authority::testing::PostgresCluster*> cluster =
        ::token_authority::testing::SharedPostgresCluster();
    if (!cluster.ok()) return cluster.status();
    cluster_ = *cluster;
    absl::StatusOr<std::string> db = cluster_->CreateDatabase();
    if (!db.ok()) return db.status();
    db_ = *db;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<TokenStore>> Open(const StoreKnobs& k) {
    PostgresTokenStoreOptions o;
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key_path = k.kek.has_value() ? "" : k.kek_path;
    o.key_encryption_key = k.kek;
    o.clock = k.clock;
    o.random = k.random;
    o.revoke_batch_size = k.revoke_batch_size;
    o.sweep_interval = k.sweep_interval;
    o.touch_flush_interval = k.touch_flush_interval;
    o.sweep_batch_size = k.sweep_batch_size;
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> s =
        PostgresTokenStore::Open(std::move(o));
    if (!s.ok()) return s.status();
    return std::unique_ptr<TokenStore>(*std::move(s));
  }
  static absl::Status FlushTouches(TokenStore* s) {
    return static_cast<PostgresTokenStore*>(s)->FlushTouches();
  }
  static absl::StatusOr<int64_t> RunRetentionSweep(TokenStore* s) {
    return static_cast<PostgresTokenStore*>(s)->RunRetentionSweep();
  }

  // The first column of the first row; a bytea as its bytes.
  std::string RawText(const std::string& sql) {
    absl::StatusOr<std::string> v = cluster_->QueryText(
        db_, absl::StrCat("SELECT CASE WHEN pg_typeof(v)::text = 'bytea' "
                          "THEN encode(v::text::bytea, 'escape') ELSE v::text "
                          "END FROM (",
                          sql, ") AS q(v)"));
    EXPECT_TRUE(v.ok()) << v.status();
    if (!v.ok()) return "";
    return Unescape(*v);
  }
  void RawExec(const std::string& sql) { ASSERT_OK(cluster_->Exec(db_, sql)); }

 private:
  // encode(..., 'escape'): bytes as themselves, except \ as \\ and
  // non-printable ones as \ooo.
  static std::string Unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
        out.push_back('\\');
        ++i;
      } else if (s[i] == '\\' && i + 3 < s.size()) {
        out.push_back(static_cast<char>(
            (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  }

  ::token_authority::testing::PostgresCluster* cluster_ = nullptr;
  std::string db_;
};

template <typename Backend>
class TokenStoreConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(backend_.Init());
    Reopen();
  }

  StoreKnobs Knobs() {
    StoreKnobs k;
    k.kek_path = dir_.File("kek.key");
    k.clock = &clock_;
    k.random = &random_;
    k.revoke_batch_size = revoke_batch_size_;
    return k;
  }
  absl::StatusOr<std::unique_ptr<TokenStore>> TryOpen(
      std::optional<StoreKnobs> knobs = std::nullopt) {
    return backend_.Open(knobs.has_value() ? *knobs : Knobs());
  }
  void Reopen(std::optional<StoreKnobs> knobs = std::nullopt) {
    store_.reset();
    auto s = TryOpen(knobs);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  absl::Status FlushTouches() { return Backend::FlushTouches(store_.get()); }
  absl::StatusOr<int64_t> RunRetentionSweep() {
    return Backend::RunRetentionSweep(store_.get());
  }
  std::string RawText(const std::string& sql) { return backend_.RawText(sql); }
  int64_t RawInt(const std::string& sql) {
    int64_t v = -1;
    const std::string text = RawText(sql);
    EXPECT_TRUE(absl::SimpleAtoi(text, &v)) << sql << ": " << text;
    return v;
  }
  void RawExec(const std::string& sql) { backend_.RawExec(sql); }

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
  int64_t AuditCount() { return RawInt("SELECT count(*) FROM audit_events"); }
  int64_t TokenRows() { return RawInt("SELECT count(*) FROM tokens"); }

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
  Backend backend_{dir_};
  FakeClock clock_{StartTime()};
  FakeRandom random_{42};
  int revoke_batch_size_ = 1000;
  std::unique_ptr<TokenStore> store_;
};

// Names the instantiations "Sqlite" and "Postgres".
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, SqliteBackend>) return "Sqlite";
    return "Postgres";
  }
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;

}  // namespace token_authority::storage::testing

#endif  // TESTS_STORAGE_TOKEN_STORE_CONFORMANCE_H_

// CopySqliteToPostgres: a SqliteTokenStore filled through its API (every
// record kind, revocations, a swept revocation, rotated and retired keys, a
// revoked API key, audit) is copied into a throw-away PostgreSQL database,
// then PostgresTokenStore must answer every read exactly as the SQLite store
// did, and go on from where it stopped (sequences, row numbers). Refusals:
// a non-empty or foreign target (left untouched), a wrong or missing KEK, a
// missing source.
#include "storage/sqlite_to_postgres.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres_token_store.h"
#include "storage/sqlite_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeKey;
using testing::MakeOrg;
using testing::MakeToken;
using testing::Sha;
using testing::StartTime;
using testing::TempDir;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::SharedPostgresCluster;
using ::token_authority::testing::StatusIs;

// Every field of a record, as text: equal texts, equal records.
std::string T(std::optional<absl::Time> t) {
  return t.has_value() ? absl::StrCat(absl::ToUnixMicros(*t)) : "-";
}
std::string Show(const Organization& o) {
  return absl::StrCat(o.id, "|", o.name, "|", o.secure_enabled, "|",
                      T(o.created_at), "|", T(o.updated_at));
}
std::string Show(const ApiKey& k) {
  return absl::StrCat(
      k.id, "|", k.organization_id, "|", static_cast<int>(k.role), "|", k.name,
      "|", absl::BytesToHexString(k.secret_hash), "|", T(k.created_at), "|",
      T(k.revoked_at), "|", T(k.last_used_at));
}
std::string Show(const Token& t) {
  return absl::StrCat(
      t.id, "|", t.organization_id, "|", static_cast<int>(t.target_kind), "|",
      t.stream_group_id, "|", absl::StrJoin(t.streams, ","), "|",
      T(t.issued_at), "|", T(t.not_before), "|", T(t.expires_at), "|",
      t.client_ip, "|", t.domain, "|", t.user_id, "|", t.tag, "|", t.key_id,
      "|", static_cast<int>(t.algorithm), "|",
      absl::BytesToHexString(t.jwt_sha256), "|", T(t.revoked_at), "|",
      t.revocation_reason, "|", t.revocation_sequence, "|", t.issued_by, "|",
      t.request_id, "|", absl::BytesToHexString(t.spec_fingerprint));
}
std::string Show(const SigningKey& k) {
  return absl::StrCat(k.organization_id, "|", k.kid, "|",
                      static_cast<int>(k.algorithm), "|",
                      static_cast<int>(k.state), "|", T(k.created_at), "|",
                      T(k.retired_at), "|", k.private_key);
}
std::string Show(const AuditEvent& e) {
  return absl::StrCat(e.id, "|", T(e.time), "|", static_cast<int>(e.action),
                      "|", e.actor, "|", e.organization_id, "|", e.token_id,
                      "|", e.tag, "|", e.user_id, "|", e.request_id, "|",
                      e.detail);
}
std::string Show(const RevocationEvent& r) {
  return absl::StrCat(r.sequence, "|", r.token_id, "|", r.organization_id, "|",
                      T(r.revoked_at), "|", T(r.expires_at));
}
template <typename R>
std::vector<std::string> ShowAll(const absl::StatusOr<std::vector<R>>& rs) {
  EXPECT_TRUE(rs.ok()) << rs.status();
  std::vector<std::string> out;
  if (rs.ok()) {
    for (const R& r : *rs) out.push_back(Show(r));
  }
  return out;
}

// Every page of a list (page tokens included), as text.
template <typename List>
std::vector<std::string> AllPages(List list, int page_size) {
  std::vector<std::string> out;
  PageRequest page{page_size, ""};
  for (int i = 0; i < 1000; ++i) {
    auto p = list(page);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) break;
    for (const auto& item : p->items) out.push_back(Show(item));
    out.push_back("next=" + p->next_page_token);
    if (p->next_page_token.empty()) break;
    page.page_token = p->next_page_token;
  }
  return out;
}

ApiKey Key(const std::string& id, const std::string& org, ApiKeyRole role,
           const std::string& name, char fill) {
  ApiKey k;
  k.id = id;
  k.organization_id = org;
  k.role = role;
  k.name = name;
  k.secret_hash = Sha(fill);
  return k;
}

AuditContext By(const std::string& actor, const std::string& request_id = "",
                const std::string& detail = "") {
  AuditContext a;
  a.actor = actor;
  a.request_id = request_id;
  a.detail = detail;
  return a;
}

class SqliteToPostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
    ASSERT_OK_AND_ASSIGN(kek_,
                         KeyEncryptionKey::FromBytes(std::string(32, 'k')));
  }
  std::unique_ptr<SqliteTokenStore> OpenSqlite() {
    SqliteTokenStoreOptions o;
    o.path = dir_.File("token-authority.db");
    o.key_encryption_key = kek_;
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();
    o.retention = absl::Hours(1);
    absl::StatusOr<std::unique_ptr<SqliteTokenStore>> s =
        SqliteTokenStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  std::unique_ptr<PostgresTokenStore> OpenPostgres() {
    PostgresTokenStoreOptions o;
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key = kek_;
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();
    o.retention = absl::Hours(1);
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> s =
        PostgresTokenStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  SqliteToPostgresOptions CopyOptions() {
    SqliteToPostgresOptions o;
    o.sqlite_path = dir_.File("token-authority.db");
    o.conninfo = cluster_->ConnInfo(db_);
    o.key_encryption_key = kek_;
    o.batch_rows = 3;  // several batches per table, and a partial one
    return o;
  }
  std::string Query(const std::string& sql) {
    absl::StatusOr<std::string> v = cluster_->QueryText(db_, sql);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or("");
  }
  void Tick() { clock_.Advance(absl::Seconds(7)); }
  Token NewToken(const std::string& org, const std::string& kid,
                 absl::Duration lifetime = absl::Hours(48)) {
    return MakeToken(random_, org, kid,
                     absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now())),
                     lifetime);
  }
  void Fill(TokenStore& s);

  PostgresCluster* cluster_ = nullptr;
  std::string db_;
  TempDir dir_;
  FakeClock clock_{StartTime()};
  FakeRandom random_{7};
  std::optional<KeyEncryptionKey> kek_;
};

// Every kind of record through the store's API, the clock moving between
// the calls.
void SqliteToPostgresTest::Fill(TokenStore& s) {
  const AuditContext none;
  for (const char* id : {"acme", "beta", "gamma"}) {
    ASSERT_OK(s.CreateOrganization(MakeOrg(id), none).status());
    Tick();
  }
  OrganizationUpdate rename;
  rename.name = "Gamma renamed";
  rename.secure_enabled = false;
  ASSERT_OK(s.UpdateOrganization("gamma", rename, none).status());
  const ApiKey admin = Key("admin-1", "", ApiKeyRole::kAdmin, "bootstrap", 'a');
  const ApiKey issuer = Key("issuer-1", "acme", ApiKeyRole::kIssuer, "", 'b');
  const ApiKey old = Key("issuer-old", "acme", ApiKeyRole::kIssuer, "old", 'c');
  const ApiKey auditor =
      Key("auditor-1", "beta", ApiKeyRole::kAuditor, "audit", 'd');
  for (const ApiKey& k : {admin, issuer, old, auditor}) {
    ASSERT_OK(s.CreateApiKey(k, By("", "req-key")).status());
    Tick();
  }
  ASSERT_OK(s.RevokeApiKey("issuer-old", By("admin-1")).status());
  ASSERT_OK(s.TouchApiKey("issuer-1", clock_.Now()));
  const AuditContext by_admin = By("admin-1");
  ASSERT_OK(s.InsertSigningKey(MakeKey("acme", "a1"), by_admin).status());
  Tick();
  ASSERT_OK(s.RotateSigningKey(MakeKey("acme", "a2"), by_admin).status());
  Tick();
  ASSERT_OK(s.RetireSigningKey("acme", "a1", by_admin).status());
  ASSERT_OK(s.InsertSigningKey(MakeKey("beta", "b1", token::Algorithm::kRs256),
                               by_admin)
                .status());
  ASSERT_OK(s.InsertSigningKey(MakeKey("", "s1"), by_admin).status());
  // Tokens of every target kind, with and without the optional fields.
  std::vector<Token> tokens;
  for (int i = 0; i < 7; ++i) {
    Token t = NewToken("acme", "a2");
    t.tag = i % 2 == 0 ? "event-1" : "";
    t.user_id = i % 3 == 0 ? absl::StrCat("user-", i) : "";
    t.issued_by = i % 2 == 0 ? "issuer-1" : "";
    t.request_id = i % 4 == 0 ? absl::StrCat("req-", i) : "";
    t.spec_fingerprint = t.request_id.empty() ? "" : "fp";
    t.client_ip = i == 1 ? "203.0.113.9" : "";
    t.domain = i == 2 ? "example.com" : "";
    if (i == 3) t.not_before = t.issued_at + absl::Seconds(30);
    if (i == 4 || i == 5) {
      t.target_kind = token::Target::Kind::kStreamGroup;
      t.streams.clear();
      t.stream_group_id = "group-a";
    }
    if (i == 6) {
      t.target_kind = token::Target::Kind::kOrganization;
      t.streams.clear();
    }
    ASSERT_OK(s.InsertToken(t, By("", "", i == 6 ? "wide" : "")).status());
    tokens.push_back(t);
    if (i % 2 == 1) Tick();
  }
  Token shared = NewToken("beta", "s1");
  ASSERT_OK(s.InsertToken(shared, none).status());
  Token b = NewToken("beta", "b1");
  b.algorithm = token::Algorithm::kRs256;
  ASSERT_OK(s.InsertToken(b, none).status());
  // A short-lived token, revoked, then swept: its revocation's sequence
  // stays used (sqlite_sequence) though its rows are gone.
  Token brief = NewToken("beta", "b1", absl::Minutes(1));
  brief.algorithm = token::Algorithm::kRs256;
  ASSERT_OK(s.InsertToken(brief, none).status());
  Tick();
  ASSERT_OK(s.RevokeToken("acme", tokens[1].id, "leaked", by_admin).status());
  Tick();
  RevokeFilter by_tag;
  by_tag.tag = "event-1";
  ASSERT_OK(s.RevokeTokens("acme", by_tag, "event over", false,
                           By("admin-1", "bulk-1"))
                .status());
  ASSERT_OK(s.RevokeToken("beta", brief.id, "", none).status());
}

TEST_F(SqliteToPostgresTest, CopiesEverythingAndPostgresGoesOnFromThere) {
  std::unique_ptr<SqliteTokenStore> lite = OpenSqlite();
  ASSERT_NE(lite, nullptr);
  ASSERT_NO_FATAL_FAILURE(Fill(*lite));
  clock_.Advance(absl::Hours(2));  // `brief` expired longer than retention
  ASSERT_THAT(lite->RunRetentionSweep(), IsOkAndHolds(1));
  ASSERT_OK(lite->Shutdown());  // reads keep working
  ASSERT_OK_AND_ASSIGN(const int64_t last_seq, lite->MaxRevocationSequence());
  ASSERT_OK_AND_ASSIGN(auto lite_revs, lite->ListRevocationsSince(0, 1000));
  ASSERT_GT(last_seq, lite_revs.back().sequence) << "the swept one was last";

  ASSERT_OK_AND_ASSIGN(SqliteToPostgresReport report,
                       CopySqliteToPostgres(CopyOptions()));
  std::vector<std::string> counts;
  for (const TableCopy& t : report.tables) {
    counts.push_back(absl::StrCat(t.table, "=", t.rows));
  }
  // From Fill: 3 organisations, 4 API keys, 4 signing keys, 9 tokens (the
  // swept one gone), 2 stream rows for each of the 6 streams tokens, 5
  // revocations left, the KEK's 2 meta rows.
  ASSERT_EQ(counts.size(), 8u);
  EXPECT_THAT(std::vector<std::string>(counts.begin(), counts.begin() + 6),
              ElementsAre("organizations=3", "api_keys=4", "signing_keys=4",
                          "tokens=9", "token_streams=12", "revocations=5"));
  EXPECT_EQ(counts[7], "meta=2");
  EXPECT_EQ(report.last_revocation_sequence, last_seq);

  std::unique_ptr<PostgresTokenStore> pg = OpenPostgres();
  ASSERT_NE(pg, nullptr);
  TokenStore* stores[] = {lite.get(), pg.get()};
  auto both = [&](auto read) {
    EXPECT_EQ(read(*stores[0]), read(*stores[1]));
    EXPECT_FALSE(read(*stores[0]).empty());
  };
  both([](TokenStore& s) { return ShowAll(s.ListAllOrganizations()); });
  both([](TokenStore& s) { return ShowAll(s.ListAllSigningKeys()); });
  both([](TokenStore& s) {
    return AllPages(
        [&](const PageRequest& p) { return s.ListOrganizations(p); }, 2);
  });
  for (const char* org : {"", "acme", "beta"}) {
    both([&](TokenStore& s) { return ShowAll(s.ListApiKeys(org, true)); });
    both([&](TokenStore& s) {
      return AllPages(
          [&](const PageRequest& p) {
            return s.ListAuditEvents(org, AuditFilter{}, p);
          },
          3);
    });
  }
  both([](TokenStore& s) { return ShowAll(s.ListSigningKeys("acme")); });
  both([](TokenStore& s) {
    return std::vector<std::string>{Show(*s.FindApiKeyBySecretHash(Sha('b')))};
  });
  // Token lists with each filter, every page, and their counts.
  std::vector<TokenFilter> filters(6);
  filters[1].tag = "event-1";
  filters[2].user_id = "user-0";
  filters[3].stream_name = "cam2";
  filters[4].stream_group_id = "group-a";
  filters[5].state = TokenState::kRevoked;
  for (const char* org : {"acme", "beta"}) {
    for (TokenFilter f : filters) {
      f.now = clock_.Now();
      both([&](TokenStore& s) {
        std::vector<std::string> pages = AllPages(
            [&](const PageRequest& p) { return s.ListTokens(org, f, p); }, 2);
        pages.push_back(absl::StrCat("count=", *s.CountTokens(org, f)));
        return pages;
      });
    }
  }
  ASSERT_OK_AND_ASSIGN(Page<Token> acme,
                       lite->ListTokens("acme", TokenFilter{}, PageRequest{}));
  for (const Token& t : acme.items) {
    EXPECT_THAT(pg->GetToken("acme", t.id),
                IsOkAndHolds(::testing::Truly(
                    [&](const Token& got) { return Show(got) == Show(t); })));
    EXPECT_OK(pg->FindTokenById(t.id).status());
  }
  both([](TokenStore& s) { return ShowAll(s.ListRevocationsSince(0, 1000)); });
  both([&](TokenStore& s) {
    return ShowAll(s.ListActiveRevocations(clock_.Now()));
  });
  EXPECT_THAT(pg->MaxRevocationSequence(), IsOkAndHolds(last_seq));
  int64_t last_audit_id = 0;
  for (const char* org : {"", "acme", "beta", "gamma"}) {
    ASSERT_OK_AND_ASSIGN(
        Page<AuditEvent> audit,
        lite->ListAuditEvents(org, AuditFilter{}, PageRequest{}));
    last_audit_id = std::max(last_audit_id, audit.items.front().id);
  }

  // PostgreSQL goes on: the next sequence, new row numbers past the copied.
  std::string unrevoked;
  for (const Token& t : acme.items) {
    if (!t.revoked_at.has_value()) unrevoked = t.id;
  }
  ASSERT_FALSE(unrevoked.empty());
  Tick();
  ASSERT_OK_AND_ASSIGN(Token revoked, pg->RevokeToken("acme", unrevoked,
                                                      "after", By("admin-1")));
  EXPECT_EQ(revoked.revocation_sequence, last_seq + 1);
  ASSERT_OK(pg->CreateOrganization(MakeOrg("delta"), AuditContext{}).status());
  ASSERT_OK(
      pg->CreateApiKey(Key("issuer-2", "delta", ApiKeyRole::kIssuer, "", 'e'),
                       AuditContext{})
          .status());
  ASSERT_OK(
      pg->InsertSigningKey(MakeKey("delta", "d1"), AuditContext{}).status());
  ASSERT_OK(pg->InsertToken(NewToken("delta", "d1"), AuditContext{}).status());
  ASSERT_OK_AND_ASSIGN(
      Page<AuditEvent> audit,
      pg->ListAuditEvents("delta", AuditFilter{}, PageRequest{}));
  EXPECT_GT(audit.items.front().id, last_audit_id);
  // A retried request id still finds the copied token.
  Token retry = NewToken("acme", "a2");
  retry.request_id = "req-0";
  ASSERT_OK_AND_ASSIGN(InsertTokenResult again,
                       pg->InsertToken(retry, AuditContext{}));
  EXPECT_FALSE(again.created);
  ASSERT_OK(pg->Shutdown());
  EXPECT_EQ(Query("SELECT count(*) FROM meta WHERE key LIKE 'kek_%'"), "2");
}

TEST_F(SqliteToPostgresTest, ReportsCountsPerTableAndAnEmptyStoreCopies) {
  std::unique_ptr<SqliteTokenStore> lite = OpenSqlite();
  ASSERT_NE(lite, nullptr);
  ASSERT_OK(lite->CreateOrganization(MakeOrg("acme"), AuditContext{}).status());
  ASSERT_OK(lite->Shutdown());
  lite.reset();
  ASSERT_OK_AND_ASSIGN(SqliteToPostgresReport report,
                       CopySqliteToPostgres(CopyOptions()));
  std::vector<std::string> counts;
  for (const TableCopy& t : report.tables) {
    counts.push_back(absl::StrCat(t.table, "=", t.rows));
  }
  EXPECT_THAT(counts,
              ElementsAre("organizations=1", "api_keys=0", "signing_keys=0",
                          "tokens=0", "token_streams=0", "revocations=0",
                          "audit_events=1", "meta=2"));
  EXPECT_EQ(report.last_revocation_sequence, 0);
  std::unique_ptr<PostgresTokenStore> pg = OpenPostgres();
  ASSERT_NE(pg, nullptr);
  ASSERT_OK_AND_ASSIGN(Organization beta,
                       pg->CreateOrganization(MakeOrg("beta"), AuditContext{}));
  EXPECT_EQ(Query("SELECT no FROM organizations WHERE id = 'beta'"), "2");
}

TEST_F(SqliteToPostgresTest, NonEmptyTargetIsRefusedAndLeftUntouched) {
  std::unique_ptr<SqliteTokenStore> lite = OpenSqlite();
  ASSERT_NE(lite, nullptr);
  ASSERT_OK(lite->CreateOrganization(MakeOrg("acme"), AuditContext{}).status());
  ASSERT_OK(lite->Shutdown());
  {
    std::unique_ptr<PostgresTokenStore> pg = OpenPostgres();
    ASSERT_NE(pg, nullptr);
    ASSERT_OK(
        pg->CreateOrganization(MakeOrg("theirs"), AuditContext{}).status());
    ASSERT_OK(pg->Shutdown());
  }
  const std::string before =
      Query("SELECT string_agg(id, ',' ORDER BY no) FROM organizations");
  EXPECT_THAT(CopySqliteToPostgres(CopyOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("the PostgreSQL database is not empty "
                                 "(organizations holds 1 row)")));
  EXPECT_EQ(Query("SELECT string_agg(id, ',' ORDER BY no) FROM organizations"),
            before);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events"), "1");

  // A database of something else: refused, not changed.
  ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
  ASSERT_OK(cluster_->Exec(db_, "CREATE TABLE foreign_rows(x int)"));
  EXPECT_THAT(CopySqliteToPostgres(CopyOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a token-authority database")));
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE schemaname = "
                  "'public'"),
            "1");
}

TEST_F(SqliteToPostgresTest, WrongOrMissingKekAndMissingSourceAreRefused) {
  std::unique_ptr<SqliteTokenStore> lite = OpenSqlite();
  ASSERT_NE(lite, nullptr);
  ASSERT_OK(lite->InsertSigningKey(MakeKey("", "s1"), AuditContext{}).status());
  ASSERT_OK(lite->Shutdown());
  lite.reset();
  SqliteToPostgresOptions o = CopyOptions();
  ASSERT_OK_AND_ASSIGN(o.key_encryption_key,
                       KeyEncryptionKey::FromBytes(std::string(32, 'w')));
  EXPECT_THAT(CopySqliteToPostgres(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not the key this database's signing "
                                 "keys are encrypted with")));
  o.key_encryption_key.reset();
  o.key_encryption_key_path = dir_.File("no-such-kek.key");
  EXPECT_THAT(CopySqliteToPostgres(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no-such-kek.key is missing")));
  o = CopyOptions();
  o.sqlite_path = dir_.File("nothing.db");
  EXPECT_THAT(CopySqliteToPostgres(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no SQLite database at")));
  o = CopyOptions();
  o.conninfo = "host=127.0.0.1 port=1 dbname=x connect_timeout=5";
  EXPECT_THAT(CopySqliteToPostgres(o),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot connect to PostgreSQL")));
  // Nothing reached the database: no schema either.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE schemaname = "
                  "'public'"),
            "0");
  // The right key copies.
  EXPECT_OK(CopySqliteToPostgres(CopyOptions()).status());
}

}  // namespace
}  // namespace token_authority::storage

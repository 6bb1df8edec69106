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

TEST_F(SqliteTokenStoreTest, OpenRefusesNewerSchema) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(SqliteTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("newer than this build supports")));
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

// --- Key-encryption key ---

TEST_F(SqliteTokenStoreTest, SigningKeysAreEncryptedAtRestAndRoundTrip) {
  SetUpOrg("acme");
  const std::string sealed =
      RawText(db_path_, "SELECT sealed_key FROM signing_keys");
  EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
  Reopen();
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListSigningKeys("acme"));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].private_key, MakeKey("acme", "acme-k1").private_key);
}

TEST_F(SqliteTokenStoreTest, WrongKekIsRefusedAtOpen) {
  SetUpOrg("acme");
  store_.reset();
  // Replace the key file with another key.
  ASSERT_EQ(::remove(dir_.File("kek.key").c_str()), 0);
  std::ofstream(dir_.File("kek.key")) << std::string(32, 'z');
  EXPECT_THAT(SqliteTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not the key this database")));
}

TEST_F(SqliteTokenStoreTest, WrongKekIsRefusedEvenBeforeAnySigningKey) {
  store_.reset();
  SqliteTokenStoreOptions o = Options();
  o.key_encryption_key_path = "";
  o.key_encryption_key = *KeyEncryptionKey::FromBytes(std::string(32, 'q'));
  EXPECT_THAT(SqliteTokenStore::Open(o),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SqliteTokenStoreTest, MissingKekFileIsRefusedAndNotRecreated) {
  SetUpOrg("acme");
  store_.reset();
  ASSERT_EQ(::remove(dir_.File("kek.key").c_str()), 0);
  EXPECT_THAT(
      SqliteTokenStore::Open(Options()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is missing")));
  struct stat st;
  EXPECT_NE(::stat(dir_.File("kek.key").c_str(), &st), 0);
}

TEST_F(SqliteTokenStoreTest, ShortKekFileIsRefused) {
  store_.reset();
  ASSERT_EQ(::remove(dir_.File("kek.key").c_str()), 0);
  std::ofstream(dir_.File("kek.key")) << "short";
  EXPECT_THAT(SqliteTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("expected exactly 32")));
}

TEST_F(SqliteTokenStoreTest, KekPathThatCannotBeReadIsRefused) {
  store_.reset();
  ASSERT_EQ(::remove(dir_.File("kek.key").c_str()), 0);
  ASSERT_EQ(::mkdir(dir_.File("kek.key").c_str(), 0700), 0);
  EXPECT_THAT(SqliteTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot read")));
}

TEST_F(SqliteTokenStoreTest, UnreadableKekFileIsRefused) {
  store_.reset();
  ASSERT_EQ(::chmod(dir_.File("kek.key").c_str(), 0), 0);
  // Root, too, is held to the file's mode (tests/testing/file_access.h).
  ::token_authority::testing::NoFileAccessOverride no_override;
  ASSERT_OK(no_override.status());
  EXPECT_THAT(SqliteTokenStore::Open(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot open")));
}

// --- Organisations ---

TEST_F(SqliteTokenStoreTest, OrganizationLifecycle) {
  ASSERT_OK_AND_ASSIGN(Organization a,
                       store_->CreateOrganization(MakeOrg("acme"), {}));
  EXPECT_EQ(a.created_at, StartTime());
  EXPECT_THAT(store_->CreateOrganization(MakeOrg("acme"), {}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  clock_.Advance(absl::Seconds(5));
  OrganizationUpdate u;
  u.secure_enabled = false;
  ASSERT_OK_AND_ASSIGN(Organization b,
                       store_->UpdateOrganization("acme", u, {}));
  EXPECT_FALSE(b.secure_enabled);
  EXPECT_EQ(b.name, "Organisation acme");
  EXPECT_EQ(b.updated_at, StartTime() + absl::Seconds(5));
  EXPECT_EQ(b.created_at, StartTime());
  EXPECT_THAT(store_->UpdateOrganization("nope", u, {}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      store_->UpdateOrganization("acme", {}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("update:")));
  ASSERT_OK_AND_ASSIGN(Organization got, store_->GetOrganization("acme"));
  EXPECT_EQ(got.updated_at, b.updated_at);
  EXPECT_THAT(store_->GetOrganization("nope"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->GetOrganization(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("organization_id:")));

  ASSERT_OK(store_->CreateOrganization(MakeOrg("beta"), {}).status());
  ASSERT_OK(store_->CreateOrganization(MakeOrg("gamma"), {}).status());
  ASSERT_OK_AND_ASSIGN(auto p1, store_->ListOrganizations({2, ""}));
  ASSERT_THAT(p1.items, SizeIs(2));
  EXPECT_EQ(p1.items[0].id, "acme");
  EXPECT_EQ(p1.items[1].id, "beta");
  ASSERT_FALSE(p1.next_page_token.empty());
  ASSERT_OK_AND_ASSIGN(auto p2,
                       store_->ListOrganizations({2, p1.next_page_token}));
  ASSERT_THAT(p2.items, SizeIs(1));
  EXPECT_EQ(p2.items[0].id, "gamma");
  EXPECT_TRUE(p2.next_page_token.empty());
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListAllOrganizations());
  EXPECT_THAT(all, SizeIs(3));

  ASSERT_OK_AND_ASSIGN(auto events, store_->ListAuditEvents("acme", {}, {}));
  ASSERT_THAT(events.items, SizeIs(2));
  EXPECT_EQ(events.items[0].action, AuditAction::kOrganizationUpdated);
  EXPECT_EQ(events.items[0].detail, "secure_enabled=false");
  EXPECT_EQ(events.items[1].action, AuditAction::kOrganizationCreated);
}

// --- API keys ---

TEST_F(SqliteTokenStoreTest, ApiKeyLifecycle) {
  SetUpOrg("acme");
  ApiKey admin;
  admin.id = "admin";
  admin.role = ApiKeyRole::kAdmin;
  admin.secret_hash = Sha('a');
  ASSERT_OK(store_->CreateApiKey(admin, {}).status());  // service-wide
  ApiKey k;
  k.id = "issuer-1";
  k.organization_id = "acme";
  k.role = ApiKeyRole::kIssuer;
  k.name = "ci";
  k.secret_hash = Sha('b');
  ASSERT_OK_AND_ASSIGN(ApiKey created,
                       store_->CreateApiKey(k, {"admin", "req-1", ""}));
  EXPECT_EQ(created.created_at, StartTime());
  EXPECT_THAT(store_->CreateApiKey(k, {}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  k.id = "issuer-2";
  EXPECT_THAT(
      store_->CreateApiKey(k, {}),
      StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("secret_hash:")));
  k.organization_id = "nope";
  k.secret_hash = Sha('c');
  EXPECT_THAT(store_->CreateApiKey(k, {}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->CreateApiKey(created, {"ghost", "", ""}),
              StatusIs(absl::StatusCode::kAlreadyExists));

  ASSERT_OK_AND_ASSIGN(ApiKey got, store_->GetApiKey("issuer-1"));
  EXPECT_EQ(got.organization_id, "acme");
  EXPECT_EQ(got.role, ApiKeyRole::kIssuer);
  EXPECT_EQ(got.name, "ci");
  ASSERT_OK_AND_ASSIGN(ApiKey by_hash,
                       store_->FindApiKeyBySecretHash(Sha('b')));
  EXPECT_EQ(by_hash.id, "issuer-1");
  EXPECT_THAT(store_->FindApiKeyBySecretHash(Sha('z')),
              StatusIs(absl::StatusCode::kNotFound));

  // Touch is lazy, keeps the latest time, and is written by a flush.
  ASSERT_OK(store_->TouchApiKey("issuer-1", StartTime() + absl::Seconds(9)));
  ASSERT_OK(store_->TouchApiKey("issuer-1", StartTime() + absl::Seconds(3)));
  ASSERT_OK(store_->FlushTouches());
  ASSERT_OK_AND_ASSIGN(got, store_->GetApiKey("issuer-1"));
  EXPECT_EQ(got.last_used_at, StartTime() + absl::Seconds(9));

  clock_.Advance(absl::Minutes(1));
  ASSERT_OK_AND_ASSIGN(ApiKey revoked,
                       store_->RevokeApiKey("issuer-1", {"admin", "", ""}));
  EXPECT_EQ(revoked.revoked_at, StartTime() + absl::Minutes(1));
  const int64_t audits = AuditCount();
  clock_.Advance(absl::Minutes(1));
  ASSERT_OK_AND_ASSIGN(ApiKey again, store_->RevokeApiKey("issuer-1", {}));
  EXPECT_EQ(again.revoked_at, revoked.revoked_at);
  EXPECT_EQ(AuditCount(), audits);
  EXPECT_THAT(store_->RevokeApiKey("nope", {}),
              StatusIs(absl::StatusCode::kNotFound));

  ASSERT_OK_AND_ASSIGN(auto live, store_->ListApiKeys("acme", false));
  EXPECT_THAT(live, SizeIs(0));
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListApiKeys("acme", true));
  ASSERT_THAT(all, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(auto global, store_->ListApiKeys("", true));
  ASSERT_THAT(global, SizeIs(1));
  EXPECT_EQ(global[0].id, "admin");

  AuditFilter f;
  f.action = AuditAction::kApiKeyCreated;
  ASSERT_OK_AND_ASSIGN(auto events, store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(events.items, SizeIs(1));
  EXPECT_EQ(events.items[0].actor, "admin");
  EXPECT_EQ(events.items[0].request_id, "req-1");
}

// --- Signing keys ---

TEST_F(SqliteTokenStoreTest, RotateDemotesPrimaryAndRetireRules) {
  SetUpOrg("acme");
  clock_.Advance(absl::Hours(1));
  ASSERT_OK_AND_ASSIGN(
      SigningKey k2, store_->RotateSigningKey(MakeKey("acme", "acme-k2"), {}));
  EXPECT_EQ(k2.state, token::KeyState::kPrimary);
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListSigningKeys("acme"));
  ASSERT_THAT(keys, SizeIs(2));
  EXPECT_EQ(keys[0].kid, "acme-k1");
  EXPECT_EQ(keys[0].state, token::KeyState::kActive);
  EXPECT_EQ(keys[1].state, token::KeyState::kPrimary);

  EXPECT_THAT(store_->RetireSigningKey("acme", "acme-k2", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(SigningKey retired,
                       store_->RetireSigningKey("acme", "acme-k1", {}));
  EXPECT_EQ(retired.state, token::KeyState::kRetired);
  EXPECT_EQ(retired.retired_at, clock_.Now());
  EXPECT_OK(store_->RetireSigningKey("acme", "acme-k1", {}).status());
  EXPECT_THAT(store_->RetireSigningKey("acme", "nope", {}),
              StatusIs(absl::StatusCode::kNotFound));

  SigningKey p = MakeKey("acme", "acme-k3");
  p.state = token::KeyState::kPrimary;
  EXPECT_THAT(store_->InsertSigningKey(p, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  p.state = token::KeyState::kActive;
  ASSERT_OK(store_->InsertSigningKey(p, {}).status());
  EXPECT_THAT(store_->InsertSigningKey(p, {}),
              StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("kid:")));
  EXPECT_THAT(store_->RotateSigningKey(MakeKey("nope", "x"), {}),
              StatusIs(absl::StatusCode::kNotFound));

  // Service-wide keys and the start-up listing.
  ASSERT_OK(store_->RotateSigningKey(MakeKey("", "global-1"), {}).status());
  ASSERT_OK_AND_ASSIGN(auto all, store_->ListAllSigningKeys());
  EXPECT_THAT(all, SizeIs(4));
  ASSERT_OK_AND_ASSIGN(auto global, store_->ListSigningKeys(""));
  ASSERT_THAT(global, SizeIs(1));
  EXPECT_EQ(global[0].private_key, MakeKey("", "global-1").private_key);

  AuditFilter f;
  f.action = AuditAction::kKeyRotated;
  ASSERT_OK_AND_ASSIGN(auto events, store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(events.items, SizeIs(2));
  EXPECT_EQ(events.items[0].detail,
            "kid=acme-k2 algorithm=ES256 previous=acme-k1");
}

TEST_F(SqliteTokenStoreTest, TamperedSealedKeyIsDataLoss) {
  SetUpOrg("acme");
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  // Move acme's sealed key to another kid: the associated data no longer
  // matches.
  ASSERT_EQ(sqlite3_exec(db, "UPDATE signing_keys SET kid = 'other'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Reopen();
  EXPECT_THAT(store_->ListSigningKeys("acme"),
              StatusIs(absl::StatusCode::kDataLoss));
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

// A stored value no writer makes is refused by name, never cast.
TEST_F(SqliteTokenStoreTest, UnknownStoredEnumerationsAreDataLoss) {
  SetUpOrg("acme");
  const Token t = Insert(NewToken("acme"));
  store_.reset();
  auto raw_exec = [&](const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  };
  raw_exec("UPDATE tokens SET kind = 7");
  Reopen();
  EXPECT_THAT(store_->GetToken("acme", t.id),
              StatusIs(absl::StatusCode::kDataLoss,
                       "tokens.kind: unknown stored value 7"));
  EXPECT_THAT(store_->ListTokens("acme", {}, {}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("tokens.kind")));
  store_.reset();
  raw_exec("UPDATE tokens SET kind = 2; UPDATE signing_keys SET state = 0");
  Reopen();
  EXPECT_OK(store_->GetToken("acme", t.id).status());
  EXPECT_THAT(store_->ListSigningKeys("acme"),
              StatusIs(absl::StatusCode::kDataLoss,
                       "signing_keys.state: unknown stored value 0"));
  store_.reset();
  raw_exec(
      "UPDATE signing_keys SET state = 1; "
      "UPDATE signing_keys SET algorithm = 'es256'");
  Reopen();
  EXPECT_THAT(store_->ListAllSigningKeys(),
              StatusIs(absl::StatusCode::kDataLoss,
                       "signing_keys.algorithm: unknown stored value "
                       "\"es256\""));
  EXPECT_THAT(store_->FindTokenById(t.id),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("signing_keys.algorithm")));
  EXPECT_THAT(store_->InsertToken(NewToken("acme"), {}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("signing_keys.algorithm")));
}

// --- Tokens ---

TEST_F(SqliteTokenStoreTest, InsertAndGetRoundTripEveryField) {
  SetUpOrg("acme");
  ApiKey k;
  k.id = "issuer";
  k.organization_id = "acme";
  k.role = ApiKeyRole::kIssuer;
  k.secret_hash = Sha('i');
  ASSERT_OK(store_->CreateApiKey(k, {}).status());
  Token t = NewToken("acme");
  t.not_before = t.issued_at + absl::Seconds(30);
  t.client_ip = "203.0.113.0/24";
  t.domain = "*.example.com";
  t.user_id = "user-7";
  t.tag = "match-42 ü";
  t.issued_by = "issuer";
  t.request_id = "req-abc";
  t.spec_fingerprint = std::string("\x00\x01\x02", 3);
  ASSERT_OK_AND_ASSIGN(InsertTokenResult r, store_->InsertToken(t, {}));
  EXPECT_TRUE(r.created);
  ASSERT_OK_AND_ASSIGN(Token got, store_->GetToken("acme", t.id));
  EXPECT_EQ(got.id, t.id);
  EXPECT_EQ(got.organization_id, "acme");
  EXPECT_EQ(got.target_kind, token::Target::Kind::kStreams);
  EXPECT_THAT(got.streams, ElementsAre("cam1", "cam2"));
  EXPECT_EQ(got.issued_at, t.issued_at);
  EXPECT_EQ(got.not_before, t.not_before);
  EXPECT_EQ(got.expires_at, t.expires_at);
  EXPECT_EQ(got.client_ip, t.client_ip);
  EXPECT_EQ(got.domain, t.domain);
  EXPECT_EQ(got.user_id, t.user_id);
  EXPECT_EQ(got.tag, t.tag);
  EXPECT_EQ(got.key_id, "acme-k1");
  EXPECT_EQ(got.algorithm, token::Algorithm::kEs256);
  EXPECT_EQ(got.jwt_sha256, t.jwt_sha256);
  EXPECT_EQ(got.issued_by, "issuer");
  EXPECT_EQ(got.request_id, "req-abc");
  EXPECT_EQ(got.spec_fingerprint, t.spec_fingerprint);
  EXPECT_FALSE(got.revoked_at.has_value());
  EXPECT_EQ(got.revocation_sequence, 0);
  EXPECT_EQ(TokenStateAt(got, clock_.Now()), TokenState::kNotYetValid);

  Token g = NewToken("acme");
  g.target_kind = token::Target::Kind::kStreamGroup;
  g.streams.clear();
  g.stream_group_id = "group-1";
  Insert(g);
  ASSERT_OK_AND_ASSIGN(got, store_->GetToken("acme", g.id));
  EXPECT_EQ(got.stream_group_id, "group-1");
  EXPECT_TRUE(got.streams.empty());
  Token o = NewToken("acme");
  o.target_kind = token::Target::Kind::kOrganization;
  o.streams.clear();
  Insert(o);
  ASSERT_OK_AND_ASSIGN(got, store_->FindTokenById(o.id));
  EXPECT_EQ(got.target_kind, token::Target::Kind::kOrganization);

  ASSERT_OK_AND_ASSIGN(auto events, store_->ListAuditEvents("acme", {}, {}));
  ASSERT_GE(events.items.size(), 3u);
  const AuditEvent& issued = events.items[2];
  EXPECT_EQ(issued.action, AuditAction::kTokenIssued);
  EXPECT_EQ(issued.token_id, t.id);
  EXPECT_EQ(issued.actor, "issuer");
  EXPECT_EQ(issued.tag, t.tag);
  EXPECT_EQ(issued.user_id, "user-7");
  EXPECT_EQ(issued.request_id, "req-abc");
}

TEST_F(SqliteTokenStoreTest,
       SameRequestIdReturnsExistingTokenAndWritesNothing) {
  SetUpOrg("acme");
  Token t = NewToken("acme");
  t.request_id = "req-1";
  t.spec_fingerprint = "spec-A";
  Insert(t);
  const int64_t audits = AuditCount();
  Token retry = NewToken("acme");
  retry.request_id = "req-1";
  retry.spec_fingerprint = "spec-B";
  ASSERT_OK_AND_ASSIGN(InsertTokenResult r, store_->InsertToken(retry, {}));
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.token.id, t.id);
  EXPECT_EQ(r.token.spec_fingerprint, "spec-A");
  EXPECT_EQ(AuditCount(), audits);
  EXPECT_EQ(TokenRows(), 1);
  EXPECT_THAT(store_->GetToken("acme", retry.id),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SqliteTokenStoreTest, ConcurrentRetriesWithOneRequestIdMakeOneToken) {
  SetUpOrg("acme");
  std::vector<std::thread> threads;
  std::vector<InsertTokenResult> results(16);
  std::vector<Token> tokens;
  for (int i = 0; i < 16; ++i) {
    Token t = NewToken("acme");
    t.request_id = "same";
    tokens.push_back(t);
  }
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto r = store_->InsertToken(tokens[i], {});
      ASSERT_TRUE(r.ok()) << r.status();
      results[i] = *r;
    });
  }
  for (auto& th : threads) th.join();
  int created = 0;
  for (const auto& r : results) {
    created += r.created ? 1 : 0;
    EXPECT_EQ(r.token.id, results[0].token.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(TokenRows(), 1);
}

// Collects what InsertTokenAsync hands its callbacks. std::mutex, not
// absl::Mutex: this test runs under ThreadSanitizer, which does not see
// Debian's (uninstrumented) abseil.
class AsyncResults {
 public:
  explicit AsyncResults(int expected) : remaining_(expected) {}
  TokenStore::InsertTokenDone Callback(int i) {
    return [this, i](absl::StatusOr<InsertTokenResult> r) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_EQ(results_.count(i), 0u) << "callback " << i << " ran twice";
      results_.emplace(i, std::move(r));
      threads_.insert(std::this_thread::get_id());
      if (--remaining_ == 0) all_.notify_all();
    };
  }
  // Waits for every callback.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    all_.wait(lock, [this] { return remaining_ == 0; });
  }
  const absl::StatusOr<InsertTokenResult>& at(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(i);
  }
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable all_;
  int remaining_;
  std::map<int, absl::StatusOr<InsertTokenResult>> results_;
  std::set<std::thread::id> threads_;
};

TEST_F(SqliteTokenStoreTest, InsertTokenAsyncCallsBackOnceDurable) {
  SetUpOrg("acme");
  constexpr int kTokens = 200;
  AsyncResults results(kTokens);
  std::vector<Token> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(NewToken("acme"));
  for (int i = 0; i < kTokens; ++i) {
    store_->InsertTokenAsync(tokens[i], {}, results.Callback(i));
  }
  results.Wait();
  for (int i = 0; i < kTokens; ++i) {
    ASSERT_OK(results.at(i).status()) << i;
    EXPECT_TRUE(results.at(i)->created);
    EXPECT_EQ(results.at(i)->token.id, tokens[i].id);
  }
  // Completed on the store's completion thread, not on this thread.
  EXPECT_EQ(results.threads().count(std::this_thread::get_id()), 0u);
  // Committed: another connection sees every row and its audit event.
  EXPECT_EQ(TokenRows(), kTokens);
  EXPECT_EQ(RawInt(db_path_,
                   "SELECT count(*) FROM audit_events WHERE "
                   "token_id IS NOT NULL"),
            kTokens);
}

TEST_F(SqliteTokenStoreTest, InsertTokenAsyncMixesWithWaitingWriters) {
  SetUpOrg("acme");
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  AsyncResults results(kThreads * kEach);
  std::vector<std::thread> threads;
  std::atomic<int> sync_ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Tokens are made on this thread: MakeToken draws from random_.
        Token a, b;
        {
          static std::mutex random_mu;
          std::lock_guard<std::mutex> lock(random_mu);
          a = NewToken("acme");
          b = NewToken("acme");
        }
        store_->InsertTokenAsync(a, {}, results.Callback(t * kEach + i));
        if (store_->InsertToken(b, {}).ok()) ++sync_ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  results.Wait();
  for (int i = 0; i < kThreads * kEach; ++i) {
    EXPECT_OK(results.at(i).status()) << i;
  }
  EXPECT_EQ(sync_ok.load(), kThreads * kEach);
  EXPECT_EQ(TokenRows(), 2 * kThreads * kEach);
}

TEST_F(SqliteTokenStoreTest, ShutdownCompletesEveryQueuedAsyncInsert) {
  SetUpOrg("acme");
  constexpr int kTokens = 500;
  AsyncResults results(kTokens);
  std::vector<Token> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(NewToken("acme"));
  for (int i = 0; i < kTokens; ++i) {
    store_->InsertTokenAsync(tokens[i], {}, results.Callback(i));
  }
  // At once: most are still queued. Shutdown drains the writer and runs
  // every completion before it returns.
  ASSERT_OK(store_->Shutdown());
  results.Wait();
  int ok = 0;
  for (int i = 0; i < kTokens; ++i) {
    if (results.at(i).ok()) {
      ++ok;
    } else {
      EXPECT_THAT(results.at(i), StatusIs(absl::StatusCode::kUnavailable));
    }
  }
  EXPECT_EQ(ok, kTokens);  // queued before the shutdown: all written
  Reopen();
  EXPECT_EQ(TokenRows(), ok);
}

TEST_F(SqliteTokenStoreTest, InsertTokenAsyncReportsErrorsAndWritesNothing) {
  SetUpOrg("acme");
  const int64_t audits = AuditCount();
  // Found before queueing: the callback runs on this thread, at once.
  Token bad = NewToken("acme");
  bad.jwt_sha256 = "short";
  AsyncResults early(1);
  store_->InsertTokenAsync(bad, {}, early.Callback(0));
  EXPECT_TRUE(early.threads().count(std::this_thread::get_id()));
  EXPECT_THAT(early.at(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("jwt_sha256:")));
  // Found by the writer.
  Token unknown_key = NewToken("acme");
  unknown_key.key_id = "nope";
  AsyncResults late(1);
  store_->InsertTokenAsync(unknown_key, {}, late.Callback(0));
  late.Wait();
  EXPECT_THAT(late.at(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                   StartsWith("key_id:")));
  EXPECT_EQ(TokenRows(), 0);
  EXPECT_EQ(AuditCount(), audits);
  // Same request id: the stored token, created = false.
  Token first = NewToken("acme");
  first.request_id = "req-9";
  Insert(first);
  Token retry = NewToken("acme");
  retry.request_id = "req-9";
  AsyncResults again(1);
  store_->InsertTokenAsync(retry, {}, again.Callback(0));
  again.Wait();
  ASSERT_OK(again.at(0).status());
  EXPECT_FALSE(again.at(0)->created);
  EXPECT_EQ(again.at(0)->token.id, first.id);
  // Shut down: Unavailable, on this thread.
  ASSERT_OK(store_->Shutdown());
  AsyncResults closed(1);
  store_->InsertTokenAsync(NewToken("acme"), {}, closed.Callback(0));
  EXPECT_THAT(closed.at(0), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(TokenRows(), 1);
}

TEST_F(SqliteTokenStoreTest, InsertRejectsUnknownReferences) {
  SetUpOrg("acme");
  Token t = NewToken("acme");
  t.key_id = "nope";
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("key_id:")));
  t = NewToken("acme");
  t.algorithm = token::Algorithm::kRs256;
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("algorithm:")));
  t = NewToken("acme");
  t.issued_by = "ghost";
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("issued_by:")));
  t = NewToken("acme");
  t.organization_id = "nope";
  EXPECT_THAT(store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kNotFound));
  t = NewToken("acme");
  Insert(t);
  Token dup = NewToken("acme");
  dup.id = t.id;
  EXPECT_THAT(store_->InsertToken(dup, {}),
              StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("id:")));
  EXPECT_EQ(TokenRows(), 1);
}

TEST_F(SqliteTokenStoreTest, BadInputIsInvalidArgumentAndWritesNothing) {
  SetUpOrg("acme");
  const int64_t audits = AuditCount();
  Token t = NewToken("acme");
  t.tag = std::string(129, 't');
  EXPECT_THAT(store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("tag:")));
  t = NewToken("acme");
  t.user_id = "a\nb";
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("user_id:")));
  t = NewToken("acme");
  t.streams = {"ok", "not ok"};
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("streams:")));
  t = NewToken("acme");
  t.id = "short";
  EXPECT_THAT(store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("id:")));
  t = NewToken("acme");
  t.expires_at = t.not_before;
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("expires_at:")));
  t = NewToken("acme");
  t.issued_at += absl::Milliseconds(1);
  EXPECT_THAT(
      store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("issued_at:")));
  t = NewToken("acme");
  EXPECT_THAT(
      store_->InsertToken(t, {"", "", std::string(5000, 'd')}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("detail:")));
  Insert(NewToken("acme"));
  EXPECT_EQ(TokenRows(), 1);
  EXPECT_EQ(AuditCount(), audits + 1);

  TokenFilter f;
  f.tag = std::string(200, 'x');
  EXPECT_THAT(store_->ListTokens("acme", f, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("tag:")));
  f = {};
  f.state = static_cast<TokenState>(99);
  EXPECT_THAT(
      store_->ListTokens("acme", f, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      store_->CountTokens("acme", f),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      ParseTokenState("bogus"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      store_->ListTokens("acme", {}, {0, "garbage!!"}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      store_->ListTokens("acme", {}, {1001, ""}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_size:")));
  EXPECT_THAT(
      store_->ListTokens("acme", {}, {-1, ""}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_size:")));
  EXPECT_THAT(
      store_->GetToken("acme", "not-a-token-id"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("token_id:")));
  EXPECT_THAT(
      store_->RevokeToken("acme", NewToken("acme").id, std::string(600, 'r'),
                          {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("reason:")));
  EXPECT_THAT(
      store_->RevokeTokens("acme", {}, "", false, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("filter:")));
  AuditFilter af;
  af.token_id = "zzz";
  EXPECT_THAT(
      store_->ListAuditEvents("acme", af, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("token_id:")));
  EXPECT_EQ(AuditCount(), audits + 1);
  EXPECT_EQ(RawInt(db_path_, "SELECT count(*) FROM revocations"), 0);
}

// --- Revocation ---

TEST_F(SqliteTokenStoreTest, RevokeTokenIsIdempotentAndSequenced) {
  SetUpOrg("acme");
  Token a = Insert(NewToken("acme"));
  Token b = Insert(NewToken("acme"));
  EXPECT_EQ(*store_->MaxRevocationSequence(), 0);
  clock_.Advance(absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(Token ra,
                       store_->RevokeToken("acme", a.id, "leaked", {}));
  EXPECT_EQ(ra.revoked_at, clock_.Now());
  EXPECT_EQ(ra.revocation_reason, "leaked");
  EXPECT_EQ(ra.revocation_sequence, 1);
  EXPECT_EQ(TokenStateAt(ra, clock_.Now()), TokenState::kRevoked);
  const int64_t audits = AuditCount();
  clock_.Advance(absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(Token again,
                       store_->RevokeToken("acme", a.id, "other", {}));
  EXPECT_EQ(again.revocation_sequence, 1);
  EXPECT_EQ(again.revoked_at, ra.revoked_at);
  EXPECT_EQ(again.revocation_reason, "leaked");
  EXPECT_EQ(AuditCount(), audits);
  ASSERT_OK_AND_ASSIGN(Token rb, store_->RevokeToken("acme", b.id, "", {}));
  EXPECT_EQ(rb.revocation_sequence, 2);
  EXPECT_EQ(*store_->MaxRevocationSequence(), 2);

  ASSERT_OK_AND_ASSIGN(auto since, store_->ListRevocationsSince(1, 100));
  ASSERT_THAT(since, SizeIs(1));
  EXPECT_EQ(since[0].token_id, b.id);
  EXPECT_EQ(since[0].organization_id, "acme");
  EXPECT_EQ(since[0].expires_at, b.expires_at);
  ASSERT_OK_AND_ASSIGN(auto active,
                       store_->ListActiveRevocations(clock_.Now()));
  EXPECT_THAT(active, SizeIs(2));
  ASSERT_OK_AND_ASSIGN(auto later, store_->ListActiveRevocations(
                                       a.expires_at + absl::Seconds(1)));
  EXPECT_THAT(later, SizeIs(0));
  EXPECT_THAT(
      store_->ListRevocationsSince(0, 0),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("limit:")));
  EXPECT_THAT(store_->RevokeToken("acme", NewToken("acme").id, "", {}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SqliteTokenStoreTest, RevokeTokensInBatchesOnlyLiveMatchingTokens) {
  revoke_batch_size_ = 3;
  Reopen();
  SetUpOrg("acme");
  std::set<std::string> live;
  for (int i = 0; i < 10; ++i) {
    Token t = NewToken("acme");
    t.tag = "game-1";
    t.user_id = i % 2 ? "odd" : "even";
    live.insert(Insert(t).id);
  }
  Token expired = NewToken("acme", absl::Hours(3));
  expired.tag = "game-1";
  Insert(expired);
  Token revoked = NewToken("acme");
  revoked.tag = "game-1";
  Insert(revoked);
  ASSERT_OK(store_->RevokeToken("acme", revoked.id, "", {}).status());
  Token other = NewToken("acme");
  other.tag = "game-2";
  Insert(other);

  RevokeFilter f;
  f.tag = "game-1";
  ASSERT_OK_AND_ASSIGN(auto dry, store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 10);
  EXPECT_EQ(*store_->MaxRevocationSequence(), 1);

  const int64_t audits = AuditCount();
  ASSERT_OK_AND_ASSIGN(
      auto r, store_->RevokeTokens("acme", f, "match over", false, {}));
  EXPECT_EQ(r.count, 10);
  EXPECT_EQ(r.last_sequence, 11);
  EXPECT_EQ(AuditCount(), audits + 11);
  ASSERT_OK_AND_ASSIGN(auto events, store_->ListRevocationsSince(1, 100));
  ASSERT_THAT(events, SizeIs(10));
  for (const auto& e : events) EXPECT_EQ(live.count(e.token_id), 1u);
  ASSERT_OK_AND_ASSIGN(Token e, store_->GetToken("acme", expired.id));
  EXPECT_FALSE(e.revoked_at.has_value());
  ASSERT_OK_AND_ASSIGN(Token o, store_->GetToken("acme", other.id));
  EXPECT_FALSE(o.revoked_at.has_value());

  AuditFilter af;
  af.action = AuditAction::kTokensRevoked;
  ASSERT_OK_AND_ASSIGN(auto bulk, store_->ListAuditEvents("acme", af, {}));
  ASSERT_THAT(bulk.items, SizeIs(1));
  EXPECT_THAT(bulk.items[0].detail, HasSubstr("count=10"));
  EXPECT_EQ(bulk.items[0].tag, "game-1");
  af.action = AuditAction::kTokenRevoked;
  af.tag = "game-1";
  ASSERT_OK_AND_ASSIGN(auto singles, store_->ListAuditEvents("acme", af, {}));
  EXPECT_THAT(singles.items, SizeIs(11));

  // Nothing left: a second call revokes none and still records the attempt.
  ASSERT_OK_AND_ASSIGN(auto none,
                       store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(none.count, 0);
}

TEST_F(SqliteTokenStoreTest, RevokeTokensByStreamAndGroup) {
  SetUpOrg("acme");
  Token s1 = NewToken("acme");
  s1.streams = {"a", "b"};
  Insert(s1);
  Token s2 = NewToken("acme");
  s2.streams = {"b", "c"};
  Insert(s2);
  Token g = NewToken("acme");
  g.target_kind = token::Target::Kind::kStreamGroup;
  g.streams.clear();
  g.stream_group_id = "b";  // a group named like a stream is not a stream
  Insert(g);
  RevokeFilter f;
  f.stream_name = "b";
  ASSERT_OK_AND_ASSIGN(auto r, store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 2);
  f = {};
  f.stream_group_id = "b";
  ASSERT_OK_AND_ASSIGN(r, store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 1);
}

TEST_F(SqliteTokenStoreTest, RevokeTokensByState) {
  SetUpOrg("acme");
  std::vector<std::string> active, pending;
  for (int i = 0; i < 3; ++i) {
    Token t = NewToken("acme");
    t.tag = "launch";
    active.push_back(Insert(t).id);
  }
  for (int i = 0; i < 2; ++i) {
    Token t = NewToken("acme");
    t.tag = "launch";
    t.not_before = clock_.Now() + absl::Minutes(30);
    pending.push_back(Insert(t).id);
  }
  Token expired = NewToken("acme", absl::Hours(3));
  expired.tag = "launch";
  Insert(expired);

  RevokeFilter f;
  f.tag = "launch";
  f.state = TokenState::kExpired;
  const int64_t audits = AuditCount();
  EXPECT_THAT(store_->RevokeTokens("acme", f, "", /*dry_run=*/false, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "state: only active or not yet valid tokens can be "
                       "revoked"));
  f.state = TokenState::kRevoked;
  EXPECT_THAT(
      store_->RevokeTokens("acme", f, "", /*dry_run=*/true, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_EQ(AuditCount(), audits);
  EXPECT_EQ(*store_->MaxRevocationSequence(), 0);

  f.state = TokenState::kNotYetValid;
  ASSERT_OK_AND_ASSIGN(auto dry, store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 2);
  f.state = TokenState::kActive;
  ASSERT_OK_AND_ASSIGN(dry, store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 3);
  EXPECT_EQ(AuditCount(), audits);

  ASSERT_OK_AND_ASSIGN(
      auto r, store_->RevokeTokens("acme", f, "launch over", false, {}));
  EXPECT_EQ(r.count, 3);
  ASSERT_OK_AND_ASSIGN(auto events, store_->ListRevocationsSince(0, 100));
  std::set<std::string> revoked;
  for (const auto& e : events) revoked.insert(e.token_id);
  EXPECT_EQ(revoked, std::set<std::string>(active.begin(), active.end()));
  for (const std::string& id : pending) {
    ASSERT_OK_AND_ASSIGN(Token t, store_->GetToken("acme", id));
    EXPECT_FALSE(t.revoked_at.has_value());
  }
  AuditFilter af;
  af.action = AuditAction::kTokensRevoked;
  ASSERT_OK_AND_ASSIGN(auto bulk, store_->ListAuditEvents("acme", af, {}));
  ASSERT_THAT(bulk.items, SizeIs(1));
  EXPECT_THAT(bulk.items[0].detail, HasSubstr("state=active"));

  // Once their not-before has passed the pending tokens are active.
  clock_.Advance(absl::Minutes(31));
  f.state = TokenState::kNotYetValid;
  ASSERT_OK_AND_ASSIGN(dry, store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 0);
  f.state = TokenState::kActive;
  ASSERT_OK_AND_ASSIGN(r, store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 2);
}

// --- Lists and filters ---

TEST_F(SqliteTokenStoreTest, ListTokensFiltersAndStates) {
  SetUpOrg("acme");
  // Issued one minute apart, oldest first.
  std::vector<Token> t;
  for (int i = 0; i < 8; ++i) {
    Token x = NewToken("acme", absl::Minutes(10 - i));
    x.tag = i < 4 ? "red" : "blue";
    x.user_id = i % 2 ? "u1" : "u2";
    if (i == 5) {
      x.target_kind = token::Target::Kind::kStreamGroup;
      x.streams.clear();
      x.stream_group_id = "grp";
    }
    if (i == 6) x.streams = {"solo"};
    if (i == 2) x.expires_at = clock_.Now() - absl::Seconds(1);  // expired
    if (i == 7) x.not_before = clock_.Now() + absl::Hours(1);    // not yet
    if (i == 7) x.expires_at = clock_.Now() + absl::Hours(2);
    t.push_back(Insert(x));
  }
  ASSERT_OK(store_->RevokeToken("acme", t[3].id, "", {}).status());

  auto ids = [&](const TokenFilter& f) { return ListAllIds("acme", f, 3); };
  TokenFilter f;
  EXPECT_THAT(ids(f), ElementsAre(t[7].id, t[6].id, t[5].id, t[4].id, t[3].id,
                                  t[2].id, t[1].id, t[0].id));
  f.tag = "red";
  EXPECT_THAT(ids(f), ElementsAre(t[3].id, t[2].id, t[1].id, t[0].id));
  f.user_id = "u1";
  EXPECT_THAT(ids(f), ElementsAre(t[3].id, t[1].id));
  f = {};
  f.stream_name = "solo";
  EXPECT_THAT(ids(f), ElementsAre(t[6].id));
  f.stream_name = "cam1";
  EXPECT_THAT(ids(f), ElementsAre(t[7].id, t[4].id, t[3].id, t[2].id, t[1].id,
                                  t[0].id));
  f = {};
  f.stream_group_id = "grp";
  EXPECT_THAT(ids(f), ElementsAre(t[5].id));
  f = {};
  f.state = TokenState::kRevoked;
  EXPECT_THAT(ids(f), ElementsAre(t[3].id));
  f.state = TokenState::kExpired;
  EXPECT_THAT(ids(f), ElementsAre(t[2].id));
  f.state = TokenState::kNotYetValid;
  EXPECT_THAT(ids(f), ElementsAre(t[7].id));
  f.state = TokenState::kActive;
  EXPECT_THAT(ids(f), ElementsAre(t[6].id, t[5].id, t[4].id, t[1].id, t[0].id));
  // State at another instant.
  f.now = clock_.Now() + absl::Hours(1) + absl::Seconds(30);
  EXPECT_THAT(ids(f), ElementsAre(t[7].id));
  f = {};
  f.issued_after = t[2].issued_at;
  f.issued_before = t[5].issued_at;
  EXPECT_THAT(ids(f), ElementsAre(t[4].id, t[3].id, t[2].id));
  f.issued_after = t[2].issued_at + absl::Milliseconds(1);
  EXPECT_THAT(ids(f), ElementsAre(t[4].id, t[3].id));
  f = {};
  f.tag = "blue";
  f.state = TokenState::kActive;
  f.stream_name = "cam2";
  EXPECT_THAT(ids(f), ElementsAre(t[4].id));
  EXPECT_THAT(store_->CountTokens("acme", f), IsOkAndHolds(1));
}

TEST_F(SqliteTokenStoreTest, CountTokensMatchesLists) {
  SetUpOrg("acme");
  for (int i = 0; i < 25; ++i) {
    Token x = NewToken("acme", absl::Seconds(i));
    x.tag = i % 3 ? "a" : "b";
    Insert(x);
  }
  TokenFilter f;
  EXPECT_THAT(store_->CountTokens("acme", f), IsOkAndHolds(25));
  f.tag = "b";
  EXPECT_THAT(store_->CountTokens("acme", f), IsOkAndHolds(9));
  EXPECT_EQ(ListAllIds("acme", f, 4).size(), 9u);
}

TEST_F(SqliteTokenStoreTest, PageTokenIsBoundToOrganizationAndFilter) {
  SetUpOrg("acme");
  SetUpOrg("beta");
  for (int i = 0; i < 3; ++i) {
    Token x = NewToken("acme", absl::Seconds(i));
    x.tag = "t";
    Insert(x);
  }
  TokenFilter f;
  f.tag = "t";
  ASSERT_OK_AND_ASSIGN(auto p, store_->ListTokens("acme", f, {1, ""}));
  ASSERT_FALSE(p.next_page_token.empty());
  TokenFilter other;
  other.tag = "u";
  EXPECT_THAT(
      store_->ListTokens("acme", other, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      store_->ListTokens("beta", f, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      store_->ListAuditEvents("acme", {}, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  // `now` may move between pages.
  f.now = clock_.Now() + absl::Minutes(1);
  EXPECT_OK(store_->ListTokens("acme", f, {1, p.next_page_token}).status());
  // A truncated or bit-flipped token is refused.
  std::string bad = p.next_page_token;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_THAT(
      store_->ListTokens("acme", f, {1, bad}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
}

TEST_F(SqliteTokenStoreTest,
       PaginationUnderConcurrentInsertsSkipsAndRepeatsNothing) {
  SetUpOrg("acme");
  std::set<std::string> before;
  // Many tokens share an issued_at second, so the tie-break matters.
  for (int i = 0; i < 300; ++i) {
    Token x = NewToken("acme", absl::Seconds(i / 7));
    x.tag = "live";
    before.insert(Insert(x).id);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0};
  std::thread writer([&] {
    FakeRandom rnd(7);
    int i = 0;
    while (!stop.load()) {
      // Concurrent rows land everywhere in the order: newer, older and in
      // the seconds being paged.
      Token x = MakeToken(rnd, "acme", "acme-k1",
                          StartTime() - absl::Seconds((i * 13) % 60) +
                              absl::Seconds(i % 2 ? 30 : 0));
      x.tag = "live";
      if (store_->InsertToken(x, {}).ok()) inserted.fetch_add(1);
      ++i;
    }
  });
  std::vector<std::string> seen;
  TokenFilter f;
  f.tag = "live";
  PageRequest page{7, ""};
  while (true) {
    auto p = store_->ListTokens("acme", f, page);
    ASSERT_TRUE(p.ok()) << p.status();
    for (const Token& t : p->items) seen.push_back(t.id);
    if (p->next_page_token.empty()) break;
    page.page_token = p->next_page_token;
    // Let the writer land rows between every two pages.
    const int mark = inserted.load();
    for (int i = 0; i < 1000 && inserted.load() < mark + 2; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(inserted.load(), 0);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a row was repeated";
  for (const std::string& id : before) {
    EXPECT_EQ(unique.count(id), 1u) << "row skipped: " << id;
  }
}

// --- Tenant isolation ---

TEST_F(SqliteTokenStoreTest, OrganizationsNeverSeeEachOthersRows) {
  SetUpOrg("a");
  SetUpOrg("b");
  Token ta = NewToken("a");
  ta.tag = "shared";
  ta.user_id = "shared";
  ta.streams = {"shared"};
  Insert(ta);
  Token tg = NewToken("a");
  tg.target_kind = token::Target::Kind::kStreamGroup;
  tg.streams.clear();
  tg.stream_group_id = "shared";
  Insert(tg);

  EXPECT_THAT(store_->GetToken("b", ta.id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->RevokeToken("b", ta.id, "", {}),
              StatusIs(absl::StatusCode::kNotFound));
  TokenFilter f;
  EXPECT_THAT(store_->CountTokens("b", f), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(auto page, store_->ListTokens("b", f, {}));
  EXPECT_TRUE(page.items.empty());
  for (int i = 0; i < 4; ++i) {
    TokenFilter g;
    RevokeFilter r;
    if (i == 0) g.tag = r.tag = "shared";
    if (i == 1) g.user_id = r.user_id = "shared";
    if (i == 2) g.stream_name = r.stream_name = "shared";
    if (i == 3) g.stream_group_id = r.stream_group_id = "shared";
    EXPECT_THAT(store_->CountTokens("b", g), IsOkAndHolds(0)) << i;
    EXPECT_THAT(store_->CountTokens("a", g), IsOkAndHolds(1)) << i;
    ASSERT_OK_AND_ASSIGN(auto p, store_->ListTokens("b", g, {}));
    EXPECT_TRUE(p.items.empty()) << i;
    ASSERT_OK_AND_ASSIGN(auto rr, store_->RevokeTokens("b", r, "", false, {}));
    EXPECT_EQ(rr.count, 0) << i;
  }
  ASSERT_OK_AND_ASSIGN(Token still, store_->GetToken("a", ta.id));
  EXPECT_FALSE(still.revoked_at.has_value());
  AuditFilter af;
  af.token_id = ta.id;
  ASSERT_OK_AND_ASSIGN(auto ev, store_->ListAuditEvents("b", af, {}));
  EXPECT_TRUE(ev.items.empty());
  af = {};
  af.tag = "shared";
  af.action = AuditAction::kTokenIssued;
  ASSERT_OK_AND_ASSIGN(ev, store_->ListAuditEvents("b", af, {}));
  EXPECT_TRUE(ev.items.empty());
  ASSERT_OK_AND_ASSIGN(ev, store_->ListAuditEvents("a", af, {}));
  EXPECT_THAT(ev.items, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(auto keys, store_->ListSigningKeys("b"));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].kid, "b-k1");
  // A token of b cannot be signed with a's key.
  Token cross = NewToken("b");
  cross.key_id = "a-k1";
  EXPECT_THAT(
      store_->InsertToken(cross, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("key_id:")));
}

// --- Audit log ---

TEST_F(SqliteTokenStoreTest, AuditFiltersTimeRangeAndPages) {
  SetUpOrg("acme");
  std::vector<Token> t;
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(absl::Minutes(1));
    Token x = NewToken("acme");
    x.tag = i < 3 ? "x" : "y";
    x.user_id = "u" + std::to_string(i % 2);
    t.push_back(Insert(x));
  }
  clock_.Advance(absl::Minutes(1));
  ASSERT_OK(store_->RevokeToken("acme", t[0].id, "r", {}).status());

  AuditFilter f;
  f.token_id = t[0].id;
  ASSERT_OK_AND_ASSIGN(auto p, store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(p.items, SizeIs(2));
  EXPECT_EQ(p.items[0].action, AuditAction::kTokenRevoked);
  EXPECT_EQ(p.items[0].detail, "r");
  EXPECT_EQ(p.items[1].action, AuditAction::kTokenIssued);
  f = {};
  f.tag = "y";
  ASSERT_OK_AND_ASSIGN(p, store_->ListAuditEvents("acme", f, {}));
  EXPECT_THAT(p.items, SizeIs(3));
  f.user_id = "u1";
  ASSERT_OK_AND_ASSIGN(p, store_->ListAuditEvents("acme", f, {}));
  EXPECT_THAT(p.items, SizeIs(2));
  f = {};
  f.action = AuditAction::kTokenIssued;
  f.since = StartTime() + absl::Minutes(2);
  f.until = StartTime() + absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(p, store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(p.items, SizeIs(3));
  EXPECT_EQ(p.items[0].token_id, t[3].id);
  EXPECT_EQ(p.items[2].token_id, t[1].id);
  f.since = StartTime() + absl::Hours(9);
  f.until.reset();
  ASSERT_OK_AND_ASSIGN(p, store_->ListAuditEvents("acme", f, {}));
  EXPECT_TRUE(p.items.empty());

  // Paging over everything: newest first, no repeats.
  std::vector<int64_t> ids;
  PageRequest page{2, ""};
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto q, store_->ListAuditEvents("acme", {}, page));
    for (const auto& e : q.items) ids.push_back(e.id);
    if (q.next_page_token.empty()) break;
    page.page_token = q.next_page_token;
  }
  ASSERT_EQ(ids.size(), 9u);  // org created, key rotated, 6 issued, 1 revoked
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i - 1], ids[i]);
}

TEST_F(SqliteTokenStoreTest, AuditTimeNeverGoesBackwards) {
  SetUpOrg("acme");
  clock_.Advance(-absl::Hours(1));
  Insert(NewToken("acme"));
  ASSERT_OK_AND_ASSIGN(auto p, store_->ListAuditEvents("acme", {}, {}));
  ASSERT_THAT(p.items, SizeIs(3));
  EXPECT_EQ(p.items[0].time, StartTime());
}

// --- Group commit ---

TEST_F(SqliteTokenStoreTest, FailingWriteInABatchFailsOnlyItsCaller) {
  SetUpOrg("acme");
  constexpr int kThreads = 32;
  std::vector<Token> tokens;
  for (int i = 0; i < kThreads; ++i) {
    Token x = NewToken("acme");
    if (i % 4 == 0) x.key_id = "missing";  // fails inside the writer
    tokens.push_back(x);
  }
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = store_->InsertToken(tokens[i], {}).status(); });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads; ++i) {
    if (i % 4 == 0) {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_THAT(store_->GetToken("acme", tokens[i].id),
                  StatusIs(absl::StatusCode::kNotFound));
    } else {
      EXPECT_OK(results[i]);
      EXPECT_OK(store_->GetToken("acme", tokens[i].id).status());
    }
  }
  EXPECT_EQ(TokenRows(), kThreads - kThreads / 4);
}

TEST_F(SqliteTokenStoreTest, WritesSurviveReopen) {
  SetUpOrg("acme");
  Token t = Insert(NewToken("acme"));
  ASSERT_OK(store_->RevokeToken("acme", t.id, "x", {}).status());
  Reopen();
  ASSERT_OK_AND_ASSIGN(Token got, store_->GetToken("acme", t.id));
  EXPECT_EQ(got.revocation_sequence, 1);
  EXPECT_EQ(*store_->MaxRevocationSequence(), 1);
}

TEST_F(SqliteTokenStoreTest, ShutdownRefusesWritesButKeepsReads) {
  SetUpOrg("acme");
  Token t = Insert(NewToken("acme"));
  ASSERT_OK(store_->TouchApiKey("nobody", clock_.Now()));
  ASSERT_OK(store_->Shutdown());
  EXPECT_THAT(store_->InsertToken(NewToken("acme"), {}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_OK(store_->GetToken("acme", t.id).status());
  EXPECT_OK(store_->Shutdown());
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

// --- Retention ---

TEST_F(SqliteTokenStoreTest, SweepRemovesLongExpiredTokensButKeepsAudit) {
  SetUpOrg("acme");
  Token old = NewToken("acme");
  old.streams = {"s1"};
  Insert(old);
  ASSERT_OK(store_->RevokeToken("acme", old.id, "", {}).status());
  Token fresh = NewToken("acme", absl::ZeroDuration(), absl::Hours(24 * 200));
  fresh.streams = {"s1"};
  Insert(fresh);
  const int64_t audits = AuditCount();
  clock_.Advance(absl::Hours(24 * 90));  // old expired 90d - 1h ago
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->RunRetentionSweep());
  EXPECT_EQ(n, 0);
  clock_.Advance(absl::Hours(2));
  ASSERT_OK_AND_ASSIGN(n, store_->RunRetentionSweep());
  EXPECT_EQ(n, 1);
  EXPECT_THAT(store_->GetToken("acme", old.id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(store_->GetToken("acme", fresh.id).status());
  TokenFilter f;
  f.stream_name = "s1";
  EXPECT_THAT(store_->CountTokens("acme", f), IsOkAndHolds(1));
  EXPECT_EQ(RawInt(db_path_, "SELECT count(*) FROM token_streams"), 1);
  EXPECT_EQ(RawInt(db_path_, "SELECT count(*) FROM revocations"), 0);
  EXPECT_EQ(*store_->MaxRevocationSequence(), 1);  // never reused
  EXPECT_EQ(AuditCount(), audits);
  AuditFilter af;
  af.token_id = old.id;
  ASSERT_OK_AND_ASSIGN(auto ev, store_->ListAuditEvents("acme", af, {}));
  EXPECT_THAT(ev.items, SizeIs(2));
  Token next = Insert(NewToken("acme"));
  ASSERT_OK_AND_ASSIGN(Token r, store_->RevokeToken("acme", next.id, "", {}));
  EXPECT_EQ(r.revocation_sequence, 2);
}

TEST_F(SqliteTokenStoreTest, BackgroundSweepRuns) {
  store_.reset();
  SqliteTokenStoreOptions o = Options();
  o.sweep_interval = absl::Milliseconds(20);
  o.touch_flush_interval = absl::Milliseconds(20);
  o.sweep_batch_size = 2;
  ASSERT_OK_AND_ASSIGN(store_, SqliteTokenStore::Open(o));
  SetUpOrg("acme");
  for (int i = 0; i < 5; ++i) Insert(NewToken("acme"));
  clock_.Advance(absl::Hours(24 * 91));
  for (int i = 0; i < 500 && TokenRows() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(TokenRows(), 0);
}

}  // namespace
}  // namespace token_authority::storage

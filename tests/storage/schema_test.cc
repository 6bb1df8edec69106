#include "storage/schema.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::sqlite {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Connection::Open(path_, {});
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *std::move(c);
  }

  int64_t Int(const std::string& sql) {
    auto v = conn_->QueryInt64(sql);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : -1;
  }

  bool HasIndex(const std::string& name) {
    return Int("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
               "name = '" +
               name + "'") == 1;
  }

  // Rows a v1 database might hold.
  void FillV1() {
    ASSERT_OK(conn_->Exec(
        "INSERT INTO organizations(no, id, name, secure_enabled, created_at, "
        "updated_at) VALUES (1, 'acme', 'Acme', 1, 1, 1);"
        "INSERT INTO signing_keys(no, org_no, kid, algorithm, state, "
        "created_at, sealed_key) VALUES (1, 1, 'k1', 'ES256', 1, 1, x'00');"
        "INSERT INTO tokens(no, id, org_no, kind, target, issued_at, "
        "not_before, expires_at, key_no, jwt_sha256, revoked_at) VALUES "
        "(1, x'00112233445566778899aabbccddeeff', 1, 2, 'a,b', 10, 10, 20, 1, "
        "x'00', NULL), (2, x'ffeeddccbbaa99887766554433221100', 1, 3, NULL, "
        "11, 11, 21, 1, x'00', 15);"));
  }

  testing::TempDir dir_;
  std::string path_ = dir_.File("schema.db");
  std::unique_ptr<Connection> conn_;
};

TEST_F(SchemaTest, FreshDatabaseMigratesToLatest) {
  ASSERT_THAT(SchemaVersion(*conn_),
              ::token_authority::testing::IsOkAndHolds(0));
  ASSERT_OK(Migrate(*conn_));
  EXPECT_EQ(Int("PRAGMA user_version"), kLatestSchemaVersion);
  EXPECT_TRUE(HasIndex("tokens_tag"));
  EXPECT_TRUE(HasIndex("tokens_revoked"));
  // The service-wide pseudo organisation exists.
  EXPECT_EQ(Int("SELECT count(*) FROM organizations WHERE no = 0"), 1);
  // Running it again changes nothing.
  ASSERT_OK(Migrate(*conn_));
  EXPECT_EQ(Int("PRAGMA user_version"), kLatestSchemaVersion);
}

TEST_F(SchemaTest, StepOneThenStepTwoKeepsData) {
  ASSERT_OK(Migrate(*conn_, 1));
  EXPECT_EQ(Int("PRAGMA user_version"), 1);
  EXPECT_FALSE(HasIndex("tokens_revoked"));
  FillV1();
  ASSERT_OK(Migrate(*conn_, 2));
  EXPECT_EQ(Int("PRAGMA user_version"), 2);
  EXPECT_TRUE(HasIndex("tokens_revoked"));
  EXPECT_EQ(Int("SELECT count(*) FROM tokens"), 2);
  EXPECT_EQ(Int("SELECT count(*) FROM tokens INDEXED BY tokens_revoked WHERE "
                "org_no = 1 AND revoked_at IS NOT NULL"),
            1);
  EXPECT_THAT(conn_->QueryString("PRAGMA integrity_check"),
              ::token_authority::testing::IsOkAndHolds("ok"));
}

TEST_F(SchemaTest, FailedStepLeavesThePreviousVersionIntact) {
  ASSERT_OK(Migrate(*conn_, 1));
  FillV1();
  // Something in the way of step 2.
  ASSERT_OK(conn_->Exec("CREATE TABLE tokens_revoked(x)"));
  EXPECT_THAT(Migrate(*conn_), StatusIs(absl::StatusCode::kInternal,
                                        HasSubstr("migration to version 2")));
  EXPECT_EQ(Int("PRAGMA user_version"), 1);
  EXPECT_EQ(Int("SELECT count(*) FROM tokens"), 2);
  EXPECT_FALSE(conn_->InTransaction());
}

TEST_F(SchemaTest, NewerDatabaseIsRefused) {
  ASSERT_OK(conn_->Exec("PRAGMA user_version = 3"));
  EXPECT_THAT(Migrate(*conn_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("newer than this build supports")));
  EXPECT_EQ(Int("SELECT count(*) FROM sqlite_master"), 0);
}

TEST_F(SchemaTest, StoreOpensAndUpgradesEveryEarlierVersion) {
  for (int from = 0; from < kLatestSchemaVersion; ++from) {
    SCOPED_TRACE(from);
    testing::TempDir dir;
    const std::string path = dir.File("old.db");
    {
      ASSERT_OK_AND_ASSIGN(auto c, Connection::Open(path, {}));
      ASSERT_OK(Migrate(*c, from));
    }
    SqliteTokenStoreOptions o;
    o.path = path;
    o.key_encryption_key_path = dir.File("kek.key");
    o.sweep_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(auto store, SqliteTokenStore::Open(o));
    ASSERT_OK(store->CreateOrganization(testing::MakeOrg("acme"), {}).status());
    ASSERT_OK(
        store->RotateSigningKey(testing::MakeKey("acme", "k"), {}).status());
    FakeRandom random(from + 1);
    Token t = testing::MakeToken(random, "acme", "k", testing::StartTime());
    ASSERT_OK(store->InsertToken(t, {}).status());
    ASSERT_OK(store->RevokeToken("acme", t.id, "", {}).status());
    TokenFilter f;
    f.state = TokenState::kRevoked;
    EXPECT_THAT(store->CountTokens("acme", f),
                ::token_authority::testing::IsOkAndHolds(1));
    store.reset();
    ASSERT_OK_AND_ASSIGN(auto c, Connection::Open(path, {}));
    EXPECT_THAT(SchemaVersion(*c),
                ::token_authority::testing::IsOkAndHolds(kLatestSchemaVersion));
  }
}

TEST_F(SchemaTest, StoreUpgradesAPopulatedV1Database) {
  ASSERT_OK(Migrate(*conn_, 1));
  FillV1();
  conn_.reset();
  SqliteTokenStoreOptions o;
  o.path = path_;
  o.key_encryption_key_path = dir_.File("kek.key");
  // The v1 database came with its key-encryption key file.
  FakeRandom random(9);
  ASSERT_OK(KeyEncryptionKey::LoadOrCreate(o.key_encryption_key_path, random)
                .status());
  o.sweep_interval = absl::ZeroDuration();
  ASSERT_OK_AND_ASSIGN(auto store, SqliteTokenStore::Open(o));
  TokenFilter f;
  f.state = TokenState::kRevoked;
  EXPECT_THAT(store->CountTokens("acme", f),
              ::token_authority::testing::IsOkAndHolds(1));
  f.state.reset();
  EXPECT_THAT(store->CountTokens("acme", f),
              ::token_authority::testing::IsOkAndHolds(2));
  EXPECT_OK(store->CheckIntegrity());
}

}  // namespace
}  // namespace token_authority::storage::sqlite

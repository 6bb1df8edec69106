// ApiKeyRegistry over a real SQLite store (for TouchApiKey) with a FakeClock:
// authentication, the organisation header, revocation, the rate limit and
// the last-used refresh.
#include "server/api_key_registry.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api_key_secret.h"
#include "storage/sqlite_token_store.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using token_authority::testing::StatusIs;

class ApiKeyRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-api-keys-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    storage::SqliteTokenStoreOptions o;
    o.path = dir_ + "/db";
    o.key_encryption_key_path = dir_ + "/kek.key";
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(store_, storage::SqliteTokenStore::Open(o));
    storage::Organization org;
    org.id = "org_a";
    org.name = "A";
    org.secure_enabled = true;
    ASSERT_OK(store_->CreateOrganization(org, {}).status());
  }

  void TearDown() override {
    registry_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void MakeRegistry(ApiKeyRegistryOptions options = {}) {
    registry_ = std::make_unique<ApiKeyRegistry>(options, store_.get(), clock_);
  }

  // A key stored and added to the registry; its secret.
  std::string AddKey(ApiKeyRole role, const std::string& organization_id) {
    absl::StatusOr<NewApiKey> made = MakeApiKey(random_);
    EXPECT_OK(made.status());
    storage::ApiKey key;
    key.id = made->key_id;
    key.role = role;
    key.organization_id = organization_id;
    key.secret_hash = made->secret_hash;
    absl::StatusOr<storage::ApiKey> stored = store_->CreateApiKey(key, {});
    EXPECT_OK(stored.status());
    stored->secret_hash = made->secret_hash;
    registry_->Put(*stored);
    return made->secret;
  }

  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1767225600)};
  FakeRandom random_{7};
  std::unique_ptr<storage::SqliteTokenStore> store_;
  std::unique_ptr<ApiKeyRegistry> registry_;
};

TEST_F(ApiKeyRegistryTest, AuthenticatesKnownKeysOnly) {
  MakeRegistry();
  const std::string issuer = AddKey(ApiKeyRole::kIssuer, "org_a");
  ASSERT_OK_AND_ASSIGN(Caller c, registry_->Authenticate(issuer, ""));
  EXPECT_EQ(c.role, ApiKeyRole::kIssuer);
  EXPECT_EQ(c.organization_id, "org_a");
  EXPECT_TRUE(registry_->IsActive(c.api_key_id));
  EXPECT_OK(registry_->Authenticate(issuer, "org_a").status());
  EXPECT_THAT(registry_->Authenticate(issuer, "org_b"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("x-organization-id")));
  EXPECT_THAT(registry_->Authenticate("", ""),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("missing API key")));
  EXPECT_THAT(registry_->Authenticate("nonsense", ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  std::string wrong = issuer;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_THAT(registry_->Authenticate(wrong, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_FALSE(registry_->IsActive("k0000000000000000"));
  EXPECT_TRUE(registry_->IsActive(""));
}

TEST_F(ApiKeyRegistryTest, AdminKeysActForTheNamedOrganization) {
  MakeRegistry();
  EXPECT_FALSE(registry_->HasActiveAdminKey());
  const std::string admin = AddKey(ApiKeyRole::kAdmin, "");
  EXPECT_TRUE(registry_->HasActiveAdminKey());
  ASSERT_OK_AND_ASSIGN(Caller c, registry_->Authenticate(admin, "org_b"));
  EXPECT_EQ(c.role, ApiKeyRole::kAdmin);
  EXPECT_EQ(c.organization_id, "org_b");
  ASSERT_OK_AND_ASSIGN(c, registry_->Authenticate(admin, ""));
  EXPECT_EQ(c.organization_id, "");
}

TEST_F(ApiKeyRegistryTest, RevokedKeysAreRefusedAtOnce) {
  MakeRegistry();
  const std::string admin = AddKey(ApiKeyRole::kAdmin, "");
  ASSERT_OK_AND_ASSIGN(Caller c, registry_->Authenticate(admin, ""));
  registry_->MarkRevoked(c.api_key_id);
  registry_->MarkRevoked("unknown");
  EXPECT_FALSE(registry_->IsActive(c.api_key_id));
  EXPECT_FALSE(registry_->HasActiveAdminKey());
  EXPECT_THAT(
      registry_->Authenticate(admin, ""),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(ApiKeyRegistryTest, RateLimitPerKeyWithRetryHint) {
  ApiKeyRegistryOptions options;
  options.rate_limit_per_second = 2;
  MakeRegistry(options);  // burst 0: one second's worth
  const std::string a = AddKey(ApiKeyRole::kVerifier, "");
  const std::string b = AddKey(ApiKeyRole::kVerifier, "");
  EXPECT_OK(registry_->Authenticate(a, "").status());
  EXPECT_OK(registry_->Authenticate(a, "").status());
  EXPECT_THAT(registry_->Authenticate(a, ""),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("rate limit of 2 requests/s exceeded for API "
                                 "key")));
  EXPECT_THAT(registry_->Authenticate(a, ""),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("retry after 501 ms")));
  EXPECT_OK(registry_->Authenticate(b, "").status());
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_OK(registry_->Authenticate(a, "").status());
}

TEST_F(ApiKeyRegistryTest, LastUsedIsRefreshedAtMostEveryTouchInterval) {
  MakeRegistry();  // touch_interval 1 min
  const std::string admin = AddKey(ApiKeyRole::kAdmin, "");
  const absl::Time first = clock_.Now();
  ASSERT_OK_AND_ASSIGN(Caller c, registry_->Authenticate(admin, ""));
  clock_.Advance(absl::Seconds(30));
  ASSERT_OK(registry_->Authenticate(admin, "").status());
  ASSERT_OK(store_->Shutdown());  // flushes the touches
  ASSERT_OK_AND_ASSIGN(storage::ApiKey stored, store_->GetApiKey(c.api_key_id));
  EXPECT_EQ(stored.last_used_at, first);
}

}  // namespace
}  // namespace token_authority::server

// Admin key safety: the last active admin key cannot be revoked, one process
// at a time uses a data directory, and `token-authority admin-key reset`
// recovers offline with a new, audited admin key.
#include "server/admin_key_reset.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/authority_server.h"
#include "server/data_dir.h"
#include "server/token_authority.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using token_authority::testing::StatusIs;
using token_authority::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class AdminKeyResetTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<AuthorityServer>> Start() {
    AuthorityServerOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = dir_.path();
    o.call_log = &log_;
    return AuthorityServer::Start(o);
  }

  // The caller of the admin key whose secret is `secret`.
  static absl::StatusOr<Caller> Admin(AuthorityServer& server,
                                      const std::string& secret) {
    return server.authority()->Authenticate(secret, "");
  }

  TempDir dir_;
  MemoryCallLog log_;
};

TEST_F(AdminKeyResetTest, TheLastActiveAdminKeyCannotBeRevoked) {
  ASSERT_OK_AND_ASSIGN(auto server, Start());
  const std::string first = ReadFile(server->admin_key_path());
  ASSERT_OK_AND_ASSIGN(Caller admin, Admin(*server, first));
  TokenAuthority& authority = *server->authority();

  // Alone, not even with itself.
  EXPECT_THAT(authority.RevokeApiKey(admin, admin.api_key_id),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("last active admin key")));
  EXPECT_OK(Admin(*server, first).status());

  // With a second admin key, the first can go; then the second is the last.
  ASSERT_OK_AND_ASSIGN(CreatedApiKey second,
                       authority.CreateApiKey(admin, "", ApiKeyRole::kAdmin));
  ASSERT_OK_AND_ASSIGN(Caller admin2, Admin(*server, second.secret));
  EXPECT_OK(authority.RevokeApiKey(admin2, admin.api_key_id).status());
  EXPECT_THAT(authority.RevokeApiKey(admin2, second.key.id),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Other keys are revoked as before.
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey verifier,
      authority.CreateApiKey(admin2, "", ApiKeyRole::kVerifier));
  EXPECT_OK(authority.RevokeApiKey(admin2, verifier.key.id).status());
}

TEST_F(AdminKeyResetTest, OneProcessAtATimePerDataDirectory) {
  ASSERT_OK_AND_ASSIGN(auto server, Start());
  EXPECT_THAT(Start(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("in use by another token-authority "
                                          "process")));
  EXPECT_THAT(
      ResetAdminKey(dir_.path(), Clock::Real(), RandomSource::Secure()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("in use")));
  // Released at shutdown: the next start works.
  server->Shutdown(absl::Seconds(1));
  server.reset();
  EXPECT_OK(Start().status());
}

TEST_F(AdminKeyResetTest, ResetWritesANewAuditedAdminKey) {
  std::string old_secret;
  {
    ASSERT_OK_AND_ASSIGN(auto server, Start());
    old_secret = ReadFile(server->admin_key_path());
  }
  ASSERT_OK_AND_ASSIGN(
      AdminKeyReset reset,
      ResetAdminKey(dir_.path(), Clock::Real(), RandomSource::Secure()));
  EXPECT_EQ(reset.path, AdminKeyPath(dir_.path()));
  const std::string new_secret = ReadFile(reset.path);
  EXPECT_NE(new_secret, old_secret);
  EXPECT_FALSE(new_secret.empty());

  ASSERT_OK_AND_ASSIGN(auto server, Start());
  EXPECT_FALSE(server->admin_key_created());  // the file was there
  ASSERT_OK_AND_ASSIGN(Caller admin, Admin(*server, new_secret));
  EXPECT_EQ(admin.api_key_id, reset.key_id);
  EXPECT_EQ(admin.role, ApiKeyRole::kAdmin);
  EXPECT_OK(Admin(*server, old_secret).status());  // the old key stays
  storage::AuditFilter filter;
  filter.action = storage::AuditAction::kApiKeyCreated;
  ASSERT_OK_AND_ASSIGN(auto events,
                       server->authority()->ListAuditEvents(admin, filter, {}));
  bool found = false;
  for (const storage::AuditEvent& e : events.items) {
    if (absl::StrContains(e.detail, "admin-key reset")) found = true;
  }
  EXPECT_TRUE(found);
}

TEST_F(AdminKeyResetTest, ResetRefusesADirectoryWithoutADatabase) {
  EXPECT_THAT(ResetAdminKey(dir_.path(), Clock::Real(), RandomSource::Secure()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("holds no token-authority.db")));
  EXPECT_FALSE(FileExists(AdminKeyPath(dir_.path())));
}

}  // namespace
}  // namespace token_authority::server

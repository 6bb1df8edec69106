// Online backup under issue/revoke load and restore into a new data
// directory: every token acknowledged before the backup began is there and
// verifies, every acknowledged revocation holds, and the copy passes
// integrity_check (the backup checks it before it is renamed into place).
#include "server/backup.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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
using token_authority::testing::StatusIs;
using token_authority::testing::TempDir;

token::TokenSpec Streams() {
  token::TokenSpec spec;
  spec.target = token::Target::Streams({"cam1"});
  return spec;
}

struct Issued {
  std::string id;
  std::string jwt;
  bool revoked = false;
};

absl::StatusOr<std::unique_ptr<AuthorityServer>> StartOn(const std::string& dir,
                                                         CallLog* log) {
  AuthorityServerOptions o;
  o.listen = "127.0.0.1:0";
  o.data_dir = dir;
  o.call_log = log;
  return AuthorityServer::Start(o);
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, StartOn(live_.path(), &log_));
    TokenAuthority& a = *server_->authority();
    const std::string admin_secret = ReadSecret(server_->admin_key_path());
    ASSERT_OK_AND_ASSIGN(Caller admin, a.Authenticate(admin_secret, ""));
    ASSERT_OK_AND_ASSIGN(storage::Organization org,
                         a.CreateOrganization(admin, "acme", true));
    org_ = org.id;
    ASSERT_OK_AND_ASSIGN(CreatedApiKey key,
                         a.CreateApiKey(admin, org_, ApiKeyRole::kIssuer));
    issuer_secret_ = key.secret;
    ASSERT_OK_AND_ASSIGN(issuer_, a.Authenticate(key.secret, org_));
    ASSERT_OK_AND_ASSIGN(CreatedApiKey v,
                         a.CreateApiKey(admin, "", ApiKeyRole::kVerifier));
    verifier_secret_ = v.secret;
  }

  static std::string ReadSecret(const std::string& path) {
    absl::StatusOr<std::string> s = ReadSmallFile(path);
    EXPECT_OK(s.status());
    std::string out = s.ok() ? *s : "";
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  // The verdict of `jwt` for cam1 on `server`.
  token::VerifyResult Verify(AuthorityServer& server, const std::string& jwt) {
    absl::StatusOr<Caller> v =
        server.authority()->Authenticate(verifier_secret_, "");
    EXPECT_OK(v.status());
    VerifyRequest r;
    r.jwt = jwt;
    r.playback.organization_id = org_;
    r.playback.stream_name = "cam1";
    absl::StatusOr<token::VerifyResult> out =
        server.authority()->VerifyToken(*v, r);
    EXPECT_OK(out.status());
    return out.ok() ? *out : token::VerifyResult();
  }

  TempDir live_, restored_parent_, backups_;
  MemoryCallLog log_;
  std::unique_ptr<AuthorityServer> server_;
  std::string org_;
  Caller issuer_;
  std::string issuer_secret_;
  std::string verifier_secret_;
};

TEST_F(BackupTest, OnlineBackupUnderLoadRestoresEverythingAcknowledged) {
  TokenAuthority& a = *server_->authority();
  absl::Mutex mu;
  std::vector<Issued> acked;  // guarded by mu
  std::atomic<bool> stop{false};
  // Two writers issue, and revoke every third of their own tokens.
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; !stop.load(); ++i) {
        absl::StatusOr<IssuedToken> t = a.IssueToken(issuer_, Streams(), "");
        ASSERT_OK(t.status());
        Issued issued{t->record.token.id, t->jwt, false};
        if (i % 3 == 0) {
          ASSERT_OK(a.RevokeToken(issuer_, issued.id, "test").status());
          issued.revoked = true;
        }
        absl::MutexLock lock(&mu);
        acked.push_back(std::move(issued));
      }
    });
  }
  // Let some load build up, note what is acknowledged, back up, keep going.
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    absl::MutexLock lock(&mu);
    if (acked.size() >= 30) break;
  }
  std::vector<Issued> before;
  {
    absl::MutexLock lock(&mu);
    before = acked;
  }
  const std::string file = backups_.File("ta.backup");
  ASSERT_OK_AND_ASSIGN(storage::BackupStats stats,
                       BackupDataDir(live_.path(), file));
  EXPECT_GT(stats.bytes, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (std::thread& t : writers) t.join();

  // Restore with the live server's kek.key and serve from the copy.
  const std::string dir = restored_parent_.File("restored");
  ASSERT_OK(RestoreDataDir(file, KekPath(live_.path()), dir).status());
  MemoryCallLog log;
  ASSERT_OK_AND_ASSIGN(auto restored, StartOn(dir, &log));
  ASSERT_OK_AND_ASSIGN(
      Caller issuer, restored->authority()->Authenticate(issuer_secret_, org_));
  int revoked = 0;
  for (const Issued& t : before) {
    const token::VerifyResult r = Verify(*restored, t.jwt);
    if (t.revoked) {
      ++revoked;
      EXPECT_FALSE(r.allowed) << t.id;
      EXPECT_EQ(r.reason, token::DenyReason::kRevoked) << t.id;
    } else {
      EXPECT_TRUE(r.allowed) << t.id << ": " << r.detail;
    }
    EXPECT_OK(restored->authority()->GetToken(issuer, t.id).status()) << t.id;
  }
  EXPECT_GT(revoked, 0);
  std::printf(
      "backup: %zu acknowledged tokens (%d revoked) before it began, "
      "%lld bytes\n",
      before.size(), revoked, static_cast<long long>(stats.bytes));
}

TEST_F(BackupTest, RefusalsNameTheirFlag) {
  const std::string file = backups_.File("b");
  ASSERT_OK(BackupDataDir(live_.path(), file).status());
  EXPECT_THAT(
      BackupDataDir(live_.path(), file),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("to: ")));
  EXPECT_THAT(BackupDataDir(backups_.path(), backups_.File("c")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("holds no token-authority.db")));
  // Restore: never over an existing data directory.
  EXPECT_THAT(
      RestoreDataDir(file, "", live_.path()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("data-dir: ")));
  // A key-encryption key that does not open the restored keys.
  const std::string wrong = backups_.File("wrong.kek");
  ASSERT_OK(WriteSecretFile(backups_.path(), wrong, std::string(32, 'x')));
  EXPECT_THAT(
      RestoreDataDir(file, wrong, restored_parent_.File("r1")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("kek-file: ")));
  EXPECT_THAT(
      RestoreDataDir(file, backups_.File("missing"),
                     restored_parent_.File("r2")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("kek-file: ")));
  // Without a key: restored, the key to be copied by hand.
  EXPECT_OK(RestoreDataDir(file, "", restored_parent_.File("r3")).status());
  EXPECT_TRUE(FileExists(DatabasePath(restored_parent_.File("r3"))));
  EXPECT_FALSE(FileExists(KekPath(restored_parent_.File("r3"))));
}

}  // namespace
}  // namespace token_authority::server

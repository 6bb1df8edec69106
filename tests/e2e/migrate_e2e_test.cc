// `token-authority migrate` with the real binaries: an SQLite server issues
// tokens, revokes one and stops; migrate copies its data dir into a
// throw-away PostgreSQL database; a replica on PostgreSQL with the same data
// dir then verifies the old tokens, keeps the revoked one revoked, accepts
// the old admin and API keys and lists the old audit events. Refusals, each
// one line and exit 1: a server still running on the data dir, a wrong or
// missing KEK, a database that is not empty, a missing data dir.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_child.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/audit_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using AS = v1::AdminService::Stub;
using AuS = v1::AuditService::Stub;
using TS = v1::TokenService::Stub;

const bool kFastClientPolling = [] {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 1);
  return true;
}();

int Lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// A running server's stubs.
struct Stubs {
  explicit Stubs(const std::string& address)
      : channel(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        admin(v1::AdminService::NewStub(channel)),
        tokens(v1::TokenService::NewStub(channel)),
        audit(v1::AuditService::NewStub(channel)) {}
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<AS> admin;
  std::unique_ptr<TS> tokens;
  std::unique_ptr<AuS> audit;
};

// What the SQLite server made before the move.
struct Before {
  std::string admin_key, issuer_key, auditor_key, org;
  std::vector<v1::IssueTokenResponse> issued;  // [0] revoked
};

class MigrateE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
    url_ = cluster_->Url(db_);
    data_ = tmp_.File("data");
  }
  // `token-authority migrate ARGS...`, run to its end.
  std::unique_ptr<ServerChild> Migrate(std::vector<std::string> args) {
    args.insert(args.begin(), "migrate");
    auto child = std::make_unique<ServerChild>(
        args, std::map<std::string, std::string>{});
    code_ = child->Wait(absl::Seconds(120));
    return child;
  }
  absl::StatusOr<v1::VerifyTokenResponse> Verify(Stubs& s,
                                                 const std::string& jwt) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(before_.org);
    req.set_stream_name("cam1");
    return Call(*s.tokens, &TS::VerifyToken, req, before_.admin_key,
                before_.org);
  }
  void MakeBefore(Stubs& s);

  PostgresCluster* cluster_ = nullptr;
  std::string db_, url_, data_;
  TempDir tmp_;
  Before before_;
  int code_ = -1;
};

void MigrateE2eTest::MakeBefore(Stubs& s) {
  ASSERT_OK_AND_ASSIGN(before_.admin_key,
                       server::ReadSmallFile(data_ + "/admin.key"));
  before_.admin_key =
      std::string(absl::StripAsciiWhitespace(before_.admin_key));
  v1::CreateOrganizationRequest create;
  create.set_name("Acme");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(
      v1::Organization org,
      Call(*s.admin, &AS::CreateOrganization, create, before_.admin_key));
  before_.org = org.id();
  v1::CreateApiKeyRequest key;
  key.set_organization_id(before_.org);
  key.set_role(v1::API_KEY_ROLE_ISSUER);
  ASSERT_OK_AND_ASSIGN(
      v1::CreateApiKeyResponse issuer,
      Call(*s.admin, &AS::CreateApiKey, key, before_.admin_key));
  before_.issuer_key = issuer.secret();
  key.set_role(v1::API_KEY_ROLE_AUDITOR);
  ASSERT_OK_AND_ASSIGN(
      v1::CreateApiKeyResponse auditor,
      Call(*s.admin, &AS::CreateApiKey, key, before_.admin_key));
  before_.auditor_key = auditor.secret();
  for (int i = 0; i < 3; ++i) {
    v1::IssueTokenRequest issue;
    *issue.mutable_spec() = StreamsSpec({"cam1"});
    issue.set_request_id(absl::StrCat("req-", i));
    ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t,
                         Call(*s.tokens, &TS::IssueToken, issue,
                              before_.issuer_key, before_.org));
    before_.issued.push_back(t);
  }
  v1::RevokeTokenRequest rev;
  rev.set_token_id(before_.issued[0].token().id());
  rev.set_reason("leaked");
  ASSERT_OK(
      Call(*s.tokens, &TS::RevokeToken, rev, before_.admin_key, before_.org)
          .status());
}

TEST_F(MigrateE2eTest, SqliteDeploymentMovesToAPostgresReplica) {
  {
    ServerChild lite({"--listen", "127.0.0.1:0", "--data-dir", data_}, {});
    ASSERT_FALSE(lite.Address().empty()) << lite.FirstLine() << lite.err();
    Stubs s(lite.Address());
    ASSERT_NO_FATAL_FAILURE(MakeBefore(s));
    // Refused while the server runs on the data dir.
    auto running = Migrate({"--from", data_, "--to", url_});
    EXPECT_EQ(code_, 1);
    EXPECT_EQ(Lines(running->err()), 1) << running->err();
    EXPECT_THAT(running->err(), HasSubstr("is in use by a running"));
    lite.Signal(SIGTERM);
    ASSERT_EQ(lite.Wait(), 0) << lite.err();
  }
  // A wrong key and a missing key file: refused, nothing copied.
  const std::string wrong = tmp_.File("wrong.key");
  {
    std::ofstream f(wrong, std::ios::binary);
    f << std::string(32, '\x33');
  }
  ASSERT_EQ(::chmod(wrong.c_str(), 0600), 0);
  auto bad_kek = Migrate({"--from", data_, "--to", url_, "--kek-file", wrong});
  EXPECT_EQ(code_, 1);
  EXPECT_EQ(Lines(bad_kek->err()), 1) << bad_kek->err();
  EXPECT_THAT(bad_kek->err(), HasSubstr("token-authority migrate: "));
  EXPECT_THAT(bad_kek->err(), HasSubstr("is not the key"));
  auto no_kek = Migrate(
      {"--from", data_, "--to", url_, "--kek-file", tmp_.File("none.key")});
  EXPECT_EQ(code_, 1);
  EXPECT_EQ(Lines(no_kek->err()), 1) << no_kek->err();
  EXPECT_THAT(no_kek->err(), HasSubstr("none.key is missing"));
  EXPECT_THAT(cluster_->QueryText(db_,
                                  "SELECT count(*) FROM pg_tables WHERE "
                                  "schemaname = 'public'"),
              IsOkAndHolds("0"));

  auto moved = Migrate({"--from", data_, "--to", url_});
  ASSERT_EQ(code_, 0) << moved->err();
  EXPECT_THAT(moved->out(), HasSubstr("organizations: copied 1\n"));
  EXPECT_THAT(moved->out(), HasSubstr("api_keys: copied 3\n"));
  EXPECT_THAT(moved->out(), HasSubstr("tokens: copied 3\n"));
  EXPECT_THAT(moved->out(), HasSubstr("revocations: copied 1\n"));
  EXPECT_THAT(moved->out(), HasSubstr("revocation sequence at 1"));
  // Once only: the database now holds rows.
  auto again = Migrate({"--from", data_, "--to", url_});
  EXPECT_EQ(code_, 1);
  EXPECT_EQ(Lines(again->err()), 1) << again->err();
  EXPECT_THAT(again->err(), HasSubstr("the PostgreSQL database is not empty"));

  // A replica on PostgreSQL with the same data dir (its kek.key and
  // admin.key): no new admin key.
  ServerChild replica(
      {"--listen", "127.0.0.1:0", "--data-dir", data_, "--database", url_}, {});
  ASSERT_FALSE(replica.Address().empty())
      << replica.FirstLine() << replica.err();
  EXPECT_THAT(replica.FirstLine(), HasSubstr("admin key in " + data_));
  Stubs s(replica.Address());
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v,
                       Verify(s, before_.issued[1].jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(v, Verify(s, before_.issued[0].jwt()));
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  // The old issuer key issues; a retried request id finds its token.
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  issue.set_request_id("req-2");
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse retry,
      Call(*s.tokens, &TS::IssueToken, issue, before_.issuer_key, before_.org));
  EXPECT_EQ(retry.token().id(), before_.issued[2].token().id());
  issue.set_request_id("req-after");
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse fresh,
      Call(*s.tokens, &TS::IssueToken, issue, before_.issuer_key, before_.org));
  ASSERT_OK_AND_ASSIGN(v, Verify(s, fresh.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  // The old auditor key lists the old events (and the new one).
  ASSERT_OK_AND_ASSIGN(
      v1::ListAuditEventsResponse audit,
      Call(*s.audit, &AuS::ListAuditEvents, v1::ListAuditEventsRequest(),
           before_.auditor_key, before_.org));
  std::vector<std::string> actions;
  for (const v1::AuditEvent& e : audit.events()) actions.push_back(e.action());
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "token.issued"), 4);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "token.revoked"), 1);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "organization.created"),
            1);
  // The old admin key still administers.
  ASSERT_OK_AND_ASSIGN(v1::ListOrganizationsResponse orgs,
                       Call(*s.admin, &AS::ListOrganizations,
                            v1::ListOrganizationsRequest(), before_.admin_key));
  ASSERT_EQ(orgs.organizations_size(), 1);
  EXPECT_EQ(orgs.organizations(0).id(), before_.org);
  replica.Signal(SIGTERM);
  EXPECT_EQ(replica.Wait(), 0) << replica.err();
}

TEST_F(MigrateE2eTest, MissingDataDirOrDatabaseIsOneLine) {
  auto missing = Migrate({"--from", tmp_.File("nothing"), "--to", url_});
  EXPECT_EQ(code_, 1);
  EXPECT_EQ(Lines(missing->err()), 1) << missing->err();
  EXPECT_THAT(missing->err(), HasSubstr("--from: "));
  ASSERT_EQ(::mkdir(tmp_.File("empty").c_str(), 0700), 0);
  auto empty = Migrate({"--from", tmp_.File("empty"), "--to", url_});
  EXPECT_EQ(code_, 1);
  EXPECT_THAT(empty->err(), HasSubstr("holds no token-authority.db"));
  auto usage = Migrate({"--from", tmp_.File("empty")});
  EXPECT_EQ(code_, 2);  // --to is required
}

}  // namespace
}  // namespace token_authority::testing

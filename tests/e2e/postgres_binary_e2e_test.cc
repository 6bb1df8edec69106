// The token-authority binary on PostgreSQL (--database): a throw-away
// cluster (tests/testing/postgres_cluster.h), two replicas with their own
// data dirs sharing one key-encryption key; issue, verify, revoke (and the
// other replica refusing the revoked token once it caught up with the
// revocation log); the bootstrap admin key is created once; a replica
// without the shared key is refused in one line.
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
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_child.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using AS = v1::AdminService::Stub;
using TS = v1::TokenService::Stub;

const bool kFastClientPolling = [] {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 1);
  return true;
}();

class PostgresBinaryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(std::string db, cluster_->CreateDatabase());
    url_ = cluster_->Url(db);
  }
  absl::StatusOr<v1::VerifyTokenResponse> Verify(TS& stub,
                                                 const std::string& key,
                                                 const std::string& org,
                                                 const std::string& jwt) {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(org);
    req.set_stream_name("cam1");
    return Call(stub, &TS::VerifyToken, req, key, org);
  }

  PostgresCluster* cluster_ = nullptr;
  std::string url_;
  TempDir tmp_;
};

TEST_F(PostgresBinaryE2eTest, ReplicasIssueVerifyAndRevokeOnOneDatabase) {
  const std::string data1 = tmp_.File("replica1");
  ServerChild one(
      {"--listen", "127.0.0.1:0", "--data-dir", data1, "--database", url_}, {});
  EXPECT_THAT(one.FirstLine(), HasSubstr("admin key written to " + data1));
  const std::string address1 = one.Address();
  ASSERT_FALSE(address1.empty()) << one.FirstLine() << one.err();
  ASSERT_OK_AND_ASSIGN(std::string admin_key,
                       server::ReadSmallFile(data1 + "/admin.key"));
  admin_key = std::string(absl::StripAsciiWhitespace(admin_key));
  auto channel1 =
      grpc::CreateChannel(address1, grpc::InsecureChannelCredentials());
  auto admin1 = v1::AdminService::NewStub(channel1);
  auto tokens1 = v1::TokenService::NewStub(channel1);
  v1::CreateOrganizationRequest create;
  create.set_name("Acme");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(
      v1::Organization org,
      Call(*admin1, &AS::CreateOrganization, create, admin_key));
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  issue.set_request_id("req-1");
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse a,
      Call(*tokens1, &TS::IssueToken, issue, admin_key, org.id()));
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v,
                       Verify(*tokens1, admin_key, org.id(), a.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();

  // A second replica: its own data dir, the first one's key-encryption key
  // (environment variables this time). No second admin key.
  const std::string data2 = tmp_.File("replica2");
  ServerChild two({"--listen", "127.0.0.1:0"},
                  {{"TA_DATA_DIR", data2},
                   {"TA_DATABASE_URL", url_},
                   {"TA_KEK_FILE", data1 + "/kek.key"}});
  EXPECT_THAT(two.FirstLine(), Not(HasSubstr("admin key written")));
  EXPECT_THAT(two.FirstLine(),
              HasSubstr("an admin key exists in the database"));
  const std::string address2 = two.Address();
  ASSERT_FALSE(address2.empty()) << two.FirstLine() << two.err();
  auto channel2 =
      grpc::CreateChannel(address2, grpc::InsecureChannelCredentials());
  auto tokens2 = v1::TokenService::NewStub(channel2);
  // The token issued on replica 1 verifies on replica 2 (same keys), and a
  // retry of its request id there returns the same token.
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens2, admin_key, org.id(), a.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse retry,
      Call(*tokens2, &TS::IssueToken, issue, admin_key, org.id()));
  EXPECT_EQ(retry.token().id(), a.token().id());

  // Revoked on replica 2: refused there, and listed as revoked on replica 1.
  v1::RevokeTokenRequest rev;
  rev.set_token_id(a.token().id());
  rev.set_reason("leaked");
  ASSERT_OK_AND_ASSIGN(v1::Token revoked, Call(*tokens2, &TS::RevokeToken, rev,
                                               admin_key, org.id()));
  EXPECT_EQ(revoked.state(), v1::TOKEN_STATE_REVOKED);
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens2, admin_key, org.id(), a.jwt()));
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  // Replica 1 catches up with the revocation log by sequence (its
  // revocation feed's poll) and refuses the token too.
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(10));
  do {
    ASSERT_OK_AND_ASSIGN(v, Verify(*tokens1, admin_key, org.id(), a.jwt()));
    if (v.reason() == v1::DENY_REASON_REVOKED) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED)
      << "replica 1 still allows a token revoked on replica 2";
  v1::GetTokenRequest get;
  get.set_token_id(a.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token got,
                       Call(*tokens1, &TS::GetToken, get, admin_key, org.id()));
  EXPECT_EQ(got.state(), v1::TOKEN_STATE_REVOKED);

  one.Signal(SIGTERM);
  two.Signal(SIGTERM);
  EXPECT_EQ(one.Wait(), 0) << one.err();
  EXPECT_EQ(two.Wait(), 0) << two.err();

  // Replica 1 again: the revocation (made through replica 2) is loaded.
  ServerChild again(
      {"--listen", "127.0.0.1:0", "--data-dir", data1, "--database", url_}, {});
  ASSERT_FALSE(again.Address().empty()) << again.err();
  auto tokens3 = v1::TokenService::NewStub(
      grpc::CreateChannel(again.Address(), grpc::InsecureChannelCredentials()));
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens3, admin_key, org.id(), a.jwt()));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);
  again.Signal(SIGTERM);
  EXPECT_EQ(again.Wait(), 0) << again.err();
}

// The database goes away (pg_ctl stop -m immediate) and comes back: writes
// answer UNAVAILABLE meanwhile, VerifyToken keeps answering from memory, and
// the replica recovers without a restart, with nothing acknowledged lost.
TEST_F(PostgresBinaryE2eTest, DatabaseOutageFailsWritesKeepsVerifying) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> own,
                       PostgresCluster::Start());
  ASSERT_OK_AND_ASSIGN(std::string db, own->CreateDatabase());
  const std::string data = tmp_.File("replica");
  ServerChild server({"--listen", "127.0.0.1:0", "--data-dir", data,
                      "--database", own->Url(db)},
                     {});
  ASSERT_FALSE(server.Address().empty()) << server.err();
  ASSERT_OK_AND_ASSIGN(std::string admin_key,
                       server::ReadSmallFile(data + "/admin.key"));
  admin_key = std::string(absl::StripAsciiWhitespace(admin_key));
  auto channel =
      grpc::CreateChannel(server.Address(), grpc::InsecureChannelCredentials());
  auto admin = v1::AdminService::NewStub(channel);
  auto tokens = v1::TokenService::NewStub(channel);
  v1::CreateOrganizationRequest create;
  create.set_name("Acme");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(
      v1::Organization org,
      Call(*admin, &AS::CreateOrganization, create, admin_key));
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse a,
      Call(*tokens, &TS::IssueToken, issue, admin_key, org.id()));

  ASSERT_OK(own->Stop("immediate"));
  EXPECT_THAT(Call(*tokens, &TS::IssueToken, issue, admin_key, org.id()),
              StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v,
                       Verify(*tokens, admin_key, org.id(), a.jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();

  ASSERT_OK(own->Restart());
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
  absl::StatusOr<v1::IssueTokenResponse> b;
  while (true) {
    b = Call(*tokens, &TS::IssueToken, issue, admin_key, org.id());
    if (b.ok() || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_OK(b.status());
  ASSERT_OK_AND_ASSIGN(v, Verify(*tokens, admin_key, org.id(), b->jwt()));
  EXPECT_TRUE(v.allowed()) << v.detail();
  v1::GetTokenRequest get;
  get.set_token_id(a.token().id());
  EXPECT_OK(Call(*tokens, &TS::GetToken, get, admin_key, org.id()).status());
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(), 0) << server.err();
  EXPECT_THAT(server.err(), HasSubstr("PostgreSQL connection lost"));
  EXPECT_THAT(server.err(), HasSubstr("PostgreSQL connection re-established"));
}

// Two replicas starting at once on an empty database (sharing a key file
// made beforehand): the schema is made once and exactly one of them creates
// the bootstrap admin key.
TEST_F(PostgresBinaryE2eTest, ReplicasStartingTogetherCreateOneAdminKey) {
  const std::string kek = tmp_.File("kek.key");
  {
    std::ofstream f(kek, std::ios::binary);
    f << std::string(32, '\x5a');
  }
  ASSERT_EQ(::chmod(kek.c_str(), 0600), 0);
  std::vector<std::unique_ptr<ServerChild>> replicas;
  for (int i = 0; i < 2; ++i) {
    replicas.push_back(std::make_unique<ServerChild>(
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--data-dir",
                                 tmp_.File(absl::StrCat("r", i)), "--database",
                                 url_, "--kek-file", kek},
        std::map<std::string, std::string>{}));
  }
  int written = 0;
  for (auto& r : replicas) {
    ASSERT_FALSE(r->Address().empty()) << r->FirstLine() << r->err();
    if (absl::StrContains(r->FirstLine(), "admin key written")) ++written;
  }
  EXPECT_EQ(written, 1);
  EXPECT_THAT(
      cluster_->QueryText(url_.substr(url_.rfind('/') + 1),
                          "SELECT count(*) FROM api_keys WHERE role = 1"),
      IsOkAndHolds("1"));
  for (auto& r : replicas) {
    r->Signal(SIGTERM);
    EXPECT_EQ(r->Wait(), 0) << r->err();
  }
}

TEST_F(PostgresBinaryE2eTest, ReplicaWithoutTheSharedKeyIsRefusedInOneLine) {
  const std::string data1 = tmp_.File("replica1");
  {
    ServerChild one(
        {"--listen", "127.0.0.1:0", "--data-dir", data1, "--database", url_},
        {});
    ASSERT_FALSE(one.Address().empty()) << one.err();
    one.Signal(SIGTERM);
    EXPECT_EQ(one.Wait(), 0) << one.err();
  }
  ServerChild other({"--listen", "127.0.0.1:0", "--data-dir",
                     tmp_.File("other"), "--database", url_},
                    {});
  EXPECT_EQ(other.Wait(), 1);
  EXPECT_EQ(std::count(other.err().begin(), other.err().end(), '\n'), 1)
      << other.err();
  EXPECT_THAT(other.err(), HasSubstr("is missing"));
}

TEST_F(PostgresBinaryE2eTest, BadDatabaseFlagsAreOneLine) {
  ServerChild unreachable(
      {"--listen", "127.0.0.1:0", "--data-dir", tmp_.File("a"), "--database",
       "postgresql://ta@127.0.0.1:1/none"},
      {});
  EXPECT_EQ(unreachable.Wait(), 1);
  EXPECT_THAT(unreachable.err(), HasSubstr("cannot connect to PostgreSQL"));
  ServerChild no_url({"--data-dir", tmp_.File("b"), "--database-password-file",
                      tmp_.File("pw")},
                     {});
  EXPECT_EQ(no_url.Wait(), 1);
  EXPECT_THAT(no_url.err(),
              HasSubstr("--database-password-file: needs --database"));
}

// --database-password-file: the right password starts the server; a wrong
// one, none, and a missing file are refused at start in one line (exit 1).
TEST_F(PostgresBinaryE2eTest, DatabasePasswordFromAFile) {
  const std::string db = url_.substr(url_.rfind('/') + 1);
  const std::string role = db + "_pw";
  ASSERT_OK(cluster_->AddPasswordRole(role, "right horse"));
  ASSERT_OK(cluster_->Exec(
      "postgres", absl::StrCat("ALTER DATABASE ", db, " OWNER TO ", role)));
  const std::string url = absl::StrCat(
      "postgresql://", role, "@127.0.0.1:", cluster_->port(), "/", db);
  const std::string good = tmp_.File("good.pw");
  const std::string bad = tmp_.File("bad.pw");
  std::ofstream(good) << "right horse\n";
  std::ofstream(bad) << "wrong horse\n";
  auto start = [&](const std::string& data, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--listen",   "127.0.0.1:0",
                                     "--data-dir", tmp_.File(data),
                                     "--database", url};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerChild>(args,
                                         std::map<std::string, std::string>{});
  };
  auto one_line = [](const std::string& s) {
    return std::count(s.begin(), s.end(), '\n') == 1;
  };
  auto wrong = start("a", {"--database-password-file", bad});
  EXPECT_EQ(wrong->Wait(), 1);
  EXPECT_TRUE(one_line(wrong->err())) << wrong->err();
  EXPECT_THAT(wrong->err(),
              HasSubstr("password authentication failed for user \"" + role));
  auto none = start("b", {});
  EXPECT_EQ(none->Wait(), 1);
  EXPECT_TRUE(one_line(none->err())) << none->err();
  EXPECT_THAT(none->err(), HasSubstr("no password supplied"));
  auto missing =
      start("c", {"--database-password-file", tmp_.File("absent.pw")});
  EXPECT_EQ(missing->Wait(), 1);
  EXPECT_TRUE(one_line(missing->err())) << missing->err();
  EXPECT_THAT(missing->err(),
              HasSubstr("--database-password-file: cannot read"));
  EXPECT_THAT(missing->err(), HasSubstr("absent.pw"));
  auto right = start("d", {"--database-password-file", good});
  ASSERT_FALSE(right->Address().empty()) << right->FirstLine() << right->err();
  EXPECT_THAT(right->FirstLine(), HasSubstr("admin key written"));
  right->Signal(SIGTERM);
  EXPECT_EQ(right->Wait(), 0) << right->err();
}

}  // namespace
}  // namespace token_authority::testing

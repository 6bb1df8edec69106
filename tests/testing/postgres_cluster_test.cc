#include "tests/testing/postgres_cluster.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;

TEST(PostgresClusterTest, StartsServesStopsAndRestarts) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresCluster> pg,
                       PostgresCluster::Start());
  EXPECT_TRUE(pg->running());
  EXPECT_GT(pg->port(), 0);
  ASSERT_OK_AND_ASSIGN(std::string db, pg->CreateDatabase());
  ASSERT_OK_AND_ASSIGN(std::string db2, pg->CreateDatabase());
  EXPECT_NE(db, db2);
  ASSERT_OK(pg->Exec(db, "CREATE TABLE t(x int); INSERT INTO t VALUES (41)"));
  EXPECT_THAT(pg->QueryText(db, "SELECT x + 1 FROM t"), IsOkAndHolds("42"));
  EXPECT_THAT(pg->QueryText(db, "SHOW server_version_num"),
              IsOkAndHolds(::testing::StartsWith("15")));
  // The server does not run as root.
  ASSERT_OK_AND_ASSIGN(
      std::string data_dir,
      pg->QueryText(db, "SELECT current_setting('data_directory')"));
  struct stat st;
  ASSERT_EQ(::stat(data_dir.c_str(), &st), 0);
  EXPECT_NE(st.st_uid, 0u);
  // Errors carry the server's message.
  EXPECT_THAT(pg->Exec(db, "SELECT * FROM missing"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("missing")));

  ASSERT_OK(pg->Stop("fast"));
  EXPECT_FALSE(pg->running());
  EXPECT_FALSE(pg->QueryText(db, "SELECT 1").ok());
  ASSERT_OK(pg->Restart());
  EXPECT_THAT(pg->QueryText(db, "SELECT x FROM t"), IsOkAndHolds("41"));
  ASSERT_OK(pg->Stop("immediate"));
  ASSERT_OK(pg->Stop("immediate"));  // already stopped: fine
  ASSERT_OK(pg->Restart());          // recovers after an immediate stop
  EXPECT_THAT(pg->QueryText(db, "SELECT x FROM t"), IsOkAndHolds("41"));
  const std::string dir = pg->directory();
  pg.reset();
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << "directory left behind";
}

// Connects with `conninfo`; libpq's error message, "" when connected.
std::string ConnectError(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::string error =
      PQstatus(c) == CONNECTION_OK ? "" : std::string(PQerrorMessage(c));
  PQfinish(c);
  return error;
}

TEST(PostgresClusterTest, PasswordRoleMustGiveItsPassword) {
  ASSERT_OK_AND_ASSIGN(PostgresCluster * pg, SharedPostgresCluster());
  ASSERT_OK(pg->AddPasswordRole("pw_role", "open sesame"));
  const std::string base = absl::StrCat("host=127.0.0.1 port=", pg->port(),
                                        " dbname=postgres user=pw_role");
  EXPECT_THAT(ConnectError(base), HasSubstr("no password supplied"));
  EXPECT_THAT(ConnectError(base + " password=wrong"),
              HasSubstr("password authentication failed"));
  EXPECT_EQ(ConnectError(base + " password='open sesame'"), "");
  // Everyone else keeps trust authentication.
  EXPECT_THAT(pg->QueryText("postgres", "SELECT 1"), IsOkAndHolds("1"));
}

TEST(PostgresClusterTest, MissingBinariesFailLoudly) {
  ::setenv("TA_PG_BIN", "/nonexistent/bin", 1);
  EXPECT_THAT(PostgresCluster::Start(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("/nonexistent/bin/initdb is missing")));
  ::unsetenv("TA_PG_BIN");
}

TEST(PostgresClusterTest, SharedClusterIsOneCluster) {
  ASSERT_OK_AND_ASSIGN(PostgresCluster * a, SharedPostgresCluster());
  ASSERT_OK_AND_ASSIGN(PostgresCluster * b, SharedPostgresCluster());
  EXPECT_EQ(a, b);
  ASSERT_OK_AND_ASSIGN(std::string db, a->CreateDatabase());
  EXPECT_THAT(a->QueryText(db, "SELECT current_database()"), IsOkAndHolds(db));
}

}  // namespace
}  // namespace token_authority::testing

// libpq's RAII layer against a real server (the test program's throw-away
// cluster): values both ways, SQLSTATEs as statuses, a session lost while
// idle re-opened once, the read pool.
#include "storage/pg_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::pg {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::PostgresCluster;
using ::token_authority::testing::SharedPostgresCluster;
using ::token_authority::testing::StatusIs;

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, SharedPostgresCluster());
    ASSERT_OK_AND_ASSIGN(db_, cluster_->CreateDatabase());
    ASSERT_OK_AND_ASSIGN(conn_, Connection::Open(cluster_->ConnInfo(db_)));
  }
  PostgresCluster* cluster_ = nullptr;
  std::string db_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgConnectionTest, ValuesRoundTrip) {
  ASSERT_OK(conn_->ExecScript(
      "CREATE TABLE t(i bigint, s text, b bytea, n text, f boolean)"));
  const std::string bytes("\x00\x01\xff\\x", 5);
  ASSERT_OK(conn_->Run(
      "INSERT INTO t VALUES ($1, $2, $3, $4, true)",
      Params().Int(-42).Text("caf\xc3\xa9").Bytes(bytes).TextOrNull("")));
  ASSERT_OK_AND_ASSIGN(Result r, conn_->Query("SELECT i, s, b, n, f FROM t"));
  ASSERT_EQ(r.rows(), 1);
  const Row row = r.row(0);
  EXPECT_EQ(row.Int64(0), -42);
  EXPECT_EQ(row.String(1), "caf\xc3\xa9");
  EXPECT_EQ(row.Blob(2), bytes);
  EXPECT_TRUE(row.IsNull(3));
  EXPECT_EQ(row.String(3), "");
  EXPECT_EQ(row.Int64(4), 1);
  ASSERT_OK_AND_ASSIGN(
      Result u,
      conn_->Query("UPDATE t SET i = i + 1 WHERE i < $1", Params().Int(0)));
  EXPECT_EQ(u.affected(), 1);
  EXPECT_THAT(conn_->QueryInt64("SELECT i FROM t"), IsOkAndHolds(-41));
}

TEST_F(PgConnectionTest, ServerErrorsBecomeStatuses) {
  ASSERT_OK(conn_->ExecScript("CREATE TABLE u(x int PRIMARY KEY)"));
  ASSERT_OK(conn_->Run("INSERT INTO u VALUES (1)"));
  EXPECT_THAT(conn_->Run("INSERT INTO u VALUES (1)"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("u_pkey")));
  EXPECT_THAT(conn_->Run("SELECT 1/0"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(conn_->Run("SELEC nonsense"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("42601")));
  EXPECT_THAT(conn_->QueryInt64("SELECT 1 WHERE false"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("no row")));
  EXPECT_THAT(Connection::Open("host=127.0.0.1 port=1 connect_timeout=5"),
              StatusIs(absl::StatusCode::kUnavailable));
}

// A listener that completes TCP handshakes (the kernel does) but never
// answers: what a half-dead host or a black-holing firewall looks like to
// libpq, which by default would wait for ever.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(PgConnectTimeoutTest, AServerThatNeverAnswersTimesOut) {
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", silent.port(), " dbname=x user=x");
  const absl::Time start = absl::Now();
  EXPECT_THAT(Connection::Open(conninfo),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("cannot connect to PostgreSQL"),
                             HasSubstr("timeout expired"))));
  const absl::Duration took = absl::Now() - start;
  // The default timeout, not for ever (libpq's own default).
  EXPECT_GE(took, absl::Seconds(Connection::kConnectTimeoutSeconds - 1));
  EXPECT_LT(took, absl::Seconds(Connection::kConnectTimeoutSeconds + 20));

  // The URL's own connect_timeout wins over the default.
  const absl::Time again = absl::Now();
  EXPECT_THAT(
      Connection::Open(absl::StrCat("postgresql://x@127.0.0.1:", silent.port(),
                                    "/x?connect_timeout=2")),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("timeout")));
  EXPECT_LT(absl::Now() - again,
            absl::Seconds(Connection::kConnectTimeoutSeconds - 1));
}

TEST_F(PgConnectionTest, PipelineHandsBackResultsInOrder) {
  ASSERT_OK(conn_->ExecScript("CREATE TABLE p(x int PRIMARY KEY)"));
  std::vector<std::string> seen;
  auto record = [&seen](absl::StatusOr<Result> r) -> absl::Status {
    if (!r.ok()) {
      seen.push_back(std::string(absl::StatusCodeToString(r.status().code())));
      return r.status();
    }
    seen.push_back(r->rows() == 1 ? r->row(0).String(0) : "-");
    return absl::OkStatus();
  };
  const char kInsert[] = "INSERT INTO p VALUES ($1) RETURNING x";
  // 70 statements: drained once on the way (every 64), then by Flush.
  for (int i = 1; i <= 70; ++i) {
    ASSERT_OK(conn_->Send(kInsert, Params().Int(i), record));
  }
  ASSERT_OK(conn_->Flush());
  ASSERT_EQ(seen.size(), 70u);
  EXPECT_EQ(seen.front(), "1");
  EXPECT_EQ(seen.back(), "70");
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM p"), IsOkAndHolds(70));

  // In a transaction: a failed statement fails the ones after it (not run),
  // a Query drains the pipeline first, Flush returns the first failure.
  seen.clear();
  ASSERT_OK(conn_->Run("BEGIN"));
  ASSERT_OK(conn_->Send(kInsert, Params().Int(100), record));
  ASSERT_OK(conn_->Send(kInsert, Params().Int(1), record));  // duplicate
  ASSERT_OK(conn_->Send(kInsert, Params().Int(101), record));
  EXPECT_THAT(conn_->Run("SELECT 1"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("aborted")));
  EXPECT_THAT(seen,
              ::testing::ElementsAre("100", "ALREADY_EXISTS", "INTERNAL"));
  EXPECT_THAT(conn_->Flush(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_OK(conn_->Flush());
  ASSERT_OK(conn_->ExecScript("ROLLBACK"));
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM p"), IsOkAndHolds(70));
}

TEST_F(PgConnectionTest, SessionLostWhileIdleIsReopenedOnce) {
  ASSERT_OK_AND_ASSIGN(int64_t pid,
                       conn_->QueryInt64("SELECT pg_backend_pid()"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Connection> other,
                       Connection::Open(cluster_->ConnInfo(db_)));
  ASSERT_OK(other->Run("SELECT pg_terminate_backend($1)", Params().Int(pid)));
  // The statement runs on a new session.
  ASSERT_OK_AND_ASSIGN(int64_t again,
                       conn_->QueryInt64("SELECT pg_backend_pid()"));
  EXPECT_NE(again, pid);
  // Inside a transaction the loss is reported, never papered over.
  ASSERT_OK(conn_->Run("BEGIN"));
  ASSERT_OK(other->Run("SELECT pg_terminate_backend($1)", Params().Int(again)));
  EXPECT_THAT(conn_->Run("SELECT 1"), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(PgConnectionTest, ReadPoolReusesAndDropsBrokenConnections) {
  ReadPool pool(cluster_->ConnInfo(db_), "", 2);
  int64_t first = 0;
  {
    ASSERT_OK_AND_ASSIGN(ReadPool::Lease a, pool.Acquire());
    ASSERT_OK_AND_ASSIGN(first, a->QueryInt64("SELECT pg_backend_pid()"));
  }
  {
    ASSERT_OK_AND_ASSIGN(ReadPool::Lease b, pool.Acquire());
    EXPECT_THAT(b->QueryInt64("SELECT pg_backend_pid()"), IsOkAndHolds(first));
    // Left inside a transaction: not returned to the pool.
    ASSERT_OK(b->Run("BEGIN"));
  }
  ASSERT_OK_AND_ASSIGN(ReadPool::Lease c, pool.Acquire());
  ASSERT_OK_AND_ASSIGN(int64_t third, c->QueryInt64("SELECT pg_backend_pid()"));
  EXPECT_NE(third, first);
  EXPECT_THAT(ReadPool("host=127.0.0.1 port=1 connect_timeout=5", "", 1)
                  .Acquire()
                  .status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace token_authority::storage::pg

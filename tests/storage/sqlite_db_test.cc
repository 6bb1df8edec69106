#include "storage/sqlite_db.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::sqlite {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TEST(SqliteErrorTest, MapsCodes) {
  EXPECT_THAT(Error(nullptr, SQLITE_FULL, "x"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("database or disk is full")));
  EXPECT_THAT(Error(nullptr, SQLITE_BUSY, "x"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Error(nullptr, SQLITE_IOERR_FSYNC, "x"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Error(nullptr, SQLITE_CORRUPT, "x"),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Error(nullptr, SQLITE_CONSTRAINT_UNIQUE, "x"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(Error(nullptr, SQLITE_MISUSE, "ctx"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("ctx")));
}

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Connection::Open(dir_.File("t.db"), {});
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *std::move(c);
    ASSERT_OK(
        conn_->Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT, b BLOB)"));
  }
  testing::TempDir dir_;
  std::unique_ptr<Connection> conn_;
};

// Connection::Open applies ConfigureSqlite before SQLite initialises: memory
// statistics (a global mutex on every allocation) stay off.
TEST_F(ConnectionTest, SqliteKeepsNoMemoryStatistics) {
  for (int k = 0; k < 100; ++k) {
    ASSERT_OK(conn_->Exec(
        absl::StrCat("INSERT INTO t(k, v) VALUES (", k, ", 'value')")));
  }
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM t"), IsOkAndHolds(100));
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

TEST_F(ConnectionTest, CachedStatementsAreResetBetweenUses) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(Statement s,
                         conn_->Prepare("INSERT INTO t(v, b) VALUES (?1, ?2)"));
    s.BindTextOrNull(1, i == 1 ? "" : "text");
    s.BindBlob(2, "");
    ASSERT_OK(s.Run());
  }
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM t WHERE v IS NULL"),
              IsOkAndHolds(1));
  // An empty blob is a blob, not NULL.
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM t WHERE b IS NULL"),
              IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(Statement s,
                       conn_->Prepare("SELECT k, v FROM t ORDER BY k"));
  int rows = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(bool row, s.Step());
    if (!row) break;
    ++rows;
  }
  EXPECT_EQ(rows, 3);
}

// Reset rewinds a statement mid-way: stepped again, it starts from the first
// row, with its bindings kept (and rebound values used).
TEST_F(ConnectionTest, ResetRewindsAndKeepsBindings) {
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK(conn_->Exec(
        absl::StrCat("INSERT INTO t(k, v) VALUES (", k, ", 'v", k, "')")));
  }
  ASSERT_OK_AND_ASSIGN(
      Statement s, conn_->Prepare("SELECT k FROM t WHERE k >= ?1 ORDER BY k"));
  s.BindInt64(1, 1);
  ASSERT_THAT(s.Step(), IsOkAndHolds(true));
  EXPECT_EQ(s.Int64(0), 1);
  s.Reset();  // one row read of two
  ASSERT_THAT(s.Step(), IsOkAndHolds(true));
  EXPECT_EQ(s.Int64(0), 1);  // from the start, ?1 still 1
  ASSERT_THAT(s.Step(), IsOkAndHolds(true));
  EXPECT_EQ(s.Int64(0), 2);
  ASSERT_THAT(s.Step(), IsOkAndHolds(false));
  s.Reset();
  s.BindInt64(1, 0);
  ASSERT_THAT(s.Step(), IsOkAndHolds(true));
  EXPECT_EQ(s.Int64(0), 0);
}

TEST_F(ConnectionTest, ErrorsBecomeStatuses) {
  EXPECT_THAT(conn_->Prepare("SELEKT 1").status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("syntax error")));
  ASSERT_OK(conn_->Exec("CREATE UNIQUE INDEX tv ON t(v)"));
  ASSERT_OK(conn_->Exec("INSERT INTO t(v) VALUES ('a')"));
  EXPECT_THAT(conn_->Exec("INSERT INTO t(v) VALUES ('a')"),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(ConnectionTest, TransactionRollsBackUnlessCommitted) {
  {
    Transaction txn(conn_.get());
    ASSERT_OK(txn.Begin());
    ASSERT_OK(conn_->Exec("INSERT INTO t(v) VALUES ('lost')"));
  }
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM t"), IsOkAndHolds(0));
  {
    Transaction txn(conn_.get());
    ASSERT_OK(txn.Begin());
    ASSERT_OK(conn_->Exec("INSERT INTO t(v) VALUES ('kept')"));
    ASSERT_OK(txn.Commit());
  }
  EXPECT_THAT(conn_->QueryInt64("SELECT count(*) FROM t"), IsOkAndHolds(1));
  EXPECT_FALSE(conn_->InTransaction());
}

TEST(ConnectionOpenTest, ReportsMissingFileWithoutCreate) {
  testing::TempDir dir;
  ConnectionOptions o;
  o.create = false;
  EXPECT_THAT(Connection::Open(dir.File("none.db"), o).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  o.vfs = "no-such-vfs";
  o.create = true;
  EXPECT_FALSE(Connection::Open(dir.File("x.db"), o).ok());
}

}  // namespace
}  // namespace token_authority::storage::sqlite

// SQLite online backup: a consistent copy while another connection keeps
// committing, integrity-checked, never overwriting, never half-written.
#include "storage/sqlite_backup.h"

#include <atomic>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_db.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::storage {
namespace {

using ::testing::HasSubstr;
using token_authority::testing::StatusIs;
using token_authority::testing::TempDir;

TEST(SqliteBackupTest, ConsistentCopyWhileAnotherConnectionWrites) {
  TempDir dir;
  const std::string db = dir.File("live.db");
  ASSERT_OK_AND_ASSIGN(
      auto writer, sqlite::Connection::Open(db, sqlite::ConnectionOptions()));
  ASSERT_OK(writer->Exec(
      "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, "
      "a INTEGER NOT NULL, b INTEGER NOT NULL)"));
  std::atomic<int64_t> committed{0};
  std::atomic<bool> stop{false};
  std::thread load([&] {
    // Each commit keeps the invariant a + b = 0 over the whole table.
    for (int64_t i = 1; !stop.load(); ++i) {
      ASSERT_OK(writer->Exec(absl::StrCat(
          "BEGIN IMMEDIATE; INSERT INTO t (a, b) VALUES (", i, ", ", -i,
          "); UPDATE t SET a = a + 1, b = b - 1 WHERE id = 1; COMMIT")));
      committed = i;
    }
  });
  while (committed.load() < 200) std::this_thread::yield();
  const int64_t before = committed.load();
  ASSERT_OK_AND_ASSIGN(BackupStats stats,
                       BackupSqliteDatabase(db, dir.File("copy.db")));
  stop = true;
  load.join();
  EXPECT_GT(stats.pages, 0);

  ASSERT_OK_AND_ASSIGN(auto copy,
                       sqlite::Connection::Open(dir.File("copy.db"),
                                                sqlite::ConnectionOptions()));
  ASSERT_OK_AND_ASSIGN(int64_t rows,
                       copy->QueryInt64("SELECT COUNT(*) FROM t"));
  EXPECT_GE(rows, before);
  ASSERT_OK_AND_ASSIGN(int64_t sum,
                       copy->QueryInt64("SELECT SUM(a) + SUM(b) FROM t"));
  EXPECT_EQ(sum, 0);  // one commit's state, never half of one
  EXPECT_EQ(*copy->QueryString("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(*copy->QueryString("PRAGMA integrity_check"), "ok");
}

TEST(SqliteBackupTest, Refusals) {
  TempDir dir;
  EXPECT_THAT(
      BackupSqliteDatabase(dir.File("missing.db"), dir.File("x")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("from: ")));
  const std::string junk = dir.File("junk.db");
  std::ofstream(junk) << std::string(8192, 'j');
  EXPECT_THAT(BackupSqliteDatabase(junk, dir.File("y")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a database")));
  EXPECT_FALSE(std::ifstream(dir.File("y")).good());
  EXPECT_FALSE(std::ifstream(dir.File("y.tmp")).good());

  const std::string db = dir.File("ok.db");
  {
    ASSERT_OK_AND_ASSIGN(
        auto c, sqlite::Connection::Open(db, sqlite::ConnectionOptions()));
    ASSERT_OK(c->Exec("CREATE TABLE t (x)"));
  }
  ASSERT_OK(BackupSqliteDatabase(db, dir.File("z")).status());
  EXPECT_THAT(
      BackupSqliteDatabase(db, dir.File("z")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("to: ")));
}

}  // namespace
}  // namespace token_authority::storage

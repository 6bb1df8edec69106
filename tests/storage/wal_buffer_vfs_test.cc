#include "storage/wal_buffer_vfs.h"

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_db.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::sqlite {
namespace {

using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TEST(WalBufferVfsTest, UnknownBaseIsNotFound) {
  EXPECT_THAT(WalBufferVfs::Register("no-such-vfs"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(WalBufferVfsTest, RegistersUnderItsOwnNameAndUnregisters) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WalBufferVfs> a,
                       WalBufferVfs::Register(""));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<WalBufferVfs> b,
                       WalBufferVfs::Register(""));
  EXPECT_NE(a->name(), b->name());
  const std::string name = a->name();
  EXPECT_NE(sqlite3_vfs_find(name.c_str()), nullptr);
  EXPECT_NE(sqlite3_vfs_find(nullptr), sqlite3_vfs_find(name.c_str()))
      << "must not become the default VFS";
  a.reset();
  EXPECT_EQ(sqlite3_vfs_find(name.c_str()), nullptr);
}

// A writer connection through the shim (WAL, synchronous=FULL) and a reader
// through the default VFS, as the store uses them.
class WalBufferVfsDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(vfs_, WalBufferVfs::Register(""));
    ASSERT_OK_AND_ASSIGN(writer_, Connection::Open(path_, {vfs_->name()}));
    ASSERT_THAT(writer_->QueryString("PRAGMA journal_mode = WAL"),
                IsOkAndHolds("wal"));
    ASSERT_OK(writer_->Exec(
        "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;"
        "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL);"
        "CREATE INDEX t_v ON t(v)"));
    ConnectionOptions reader_options;
    reader_options.create = false;
    ASSERT_OK_AND_ASSIGN(reader_, Connection::Open(path_, reader_options));
  }

  // Inserts rows [from, to) with `bytes`-byte values in one transaction.
  void InsertRows(int from, int to, int bytes) {
    ASSERT_OK(writer_->Exec("BEGIN IMMEDIATE"));
    for (int k = from; k < to; ++k) {
      ASSERT_OK(writer_->Exec(absl::StrCat("INSERT INTO t(k, v) VALUES (", k,
                                           ", zeroblob(", bytes,
                                           ") || randomblob(16))")));
    }
    ASSERT_OK(writer_->Exec("COMMIT"));
  }

  absl::StatusOr<int64_t> ReaderCount() {
    return reader_->QueryInt64("SELECT count(*) FROM t");
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.File("t.db");
  std::unique_ptr<WalBufferVfs> vfs_;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;
};

TEST_F(WalBufferVfsDbTest, CommitsReachOtherConnectionsInFewWrites) {
  const WalBufferStats before = vfs_->stats();
  for (int txn = 0; txn < 20; ++txn) {
    InsertRows(txn * 50, (txn + 1) * 50, 500);
    // Committed means written and synced: a connection of another VFS
    // reads it from the file.
    EXPECT_THAT(ReaderCount(), IsOkAndHolds((txn + 1) * 50));
  }
  const WalBufferStats after = vfs_->stats();
  const int64_t sqlite_writes = after.buffered_writes - before.buffered_writes;
  const int64_t base_writes = after.base_writes - before.base_writes;
  // Each frame is two writes from SQLite; each commit reaches the base VFS
  // as one write per 64 KiB.
  EXPECT_GT(sqlite_writes, 20 * 20);
  EXPECT_GE(base_writes, 20);
  EXPECT_LT(base_writes * 10, sqlite_writes);
  EXPECT_THAT(reader_->QueryString("PRAGMA integrity_check"),
              IsOkAndHolds("ok"));
}

// Register runs before anything else has initialised SQLite in this test
// binary (sqlite3_vfs_find does), so it must apply ConfigureSqlite first:
// with memory statistics off, SQLite counts nothing.
TEST_F(WalBufferVfsDbTest, SqliteKeepsNoMemoryStatistics) {
  InsertRows(0, 200, 500);
  EXPECT_THAT(ReaderCount(), IsOkAndHolds(200));
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

TEST_F(WalBufferVfsDbTest, LargeTransactionsThatSpillAndRewriteFrames) {
  // A tiny page cache makes SQLite write frames before COMMIT and read
  // them back, and rewrite frames of pages changed again in the same
  // transaction; 12 MiB is more than the shim holds at once.
  ASSERT_OK(writer_->Exec("PRAGMA cache_size = 8"));
  ASSERT_OK(writer_->Exec("BEGIN IMMEDIATE"));
  for (int k = 0; k < 3000; ++k) {
    ASSERT_OK(writer_->Exec(absl::StrCat("INSERT INTO t(k, v) VALUES (", k,
                                         ", randomblob(4000))")));
  }
  ASSERT_OK(writer_->Exec("UPDATE t SET v = randomblob(300) WHERE k % 3 = 0"));
  EXPECT_THAT(writer_->QueryInt64("SELECT count(*) FROM t WHERE length(v) = "
                                  "300"),
              IsOkAndHolds(1000));
  EXPECT_THAT(ReaderCount(), IsOkAndHolds(0));  // not committed yet
  ASSERT_OK(writer_->Exec("COMMIT"));
  EXPECT_THAT(ReaderCount(), IsOkAndHolds(3000));
  EXPECT_THAT(reader_->QueryInt64("SELECT count(*) FROM t WHERE length(v) = "
                                  "300"),
              IsOkAndHolds(1000));

  // A rolled-back transaction that spilled leaves nothing behind, and the
  // next commit is intact.
  ASSERT_OK(writer_->Exec("BEGIN IMMEDIATE"));
  for (int k = 3000; k < 4000; ++k) {
    ASSERT_OK(writer_->Exec(absl::StrCat("INSERT INTO t(k, v) VALUES (", k,
                                         ", randomblob(4000))")));
  }
  ASSERT_OK(writer_->Exec("ROLLBACK"));
  InsertRows(5000, 5100, 100);
  EXPECT_THAT(ReaderCount(), IsOkAndHolds(3100));
  EXPECT_THAT(reader_->QueryString("PRAGMA integrity_check"),
              IsOkAndHolds("ok"));
}

TEST_F(WalBufferVfsDbTest, CheckpointsAndWalRestartsKeepEverything) {
  for (int round = 0; round < 5; ++round) {
    InsertRows(round * 200, round * 200 + 200, 1000);
    // Checkpoint from the reader (as the store's checkpointer does, on
    // another connection); the writer then restarts the WAL from its start.
    ASSERT_OK(reader_->Exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  writer_.reset();
  reader_.reset();
  // Reopen through the default VFS only: everything is in the files.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Connection> c,
                       Connection::Open(path_, {}));
  EXPECT_THAT(c->QueryInt64("SELECT count(*) FROM t"), IsOkAndHolds(1000));
  EXPECT_THAT(c->QueryString("PRAGMA integrity_check"), IsOkAndHolds("ok"));
}

TEST_F(WalBufferVfsDbTest, ClosingWritesOutWhatIsBuffered) {
  InsertRows(0, 100, 100);
  // Without a sync (synchronous=OFF) the frames are only in the shim's
  // buffer until the connection closes.
  ASSERT_OK(writer_->Exec("PRAGMA synchronous = OFF"));
  ASSERT_OK(
      writer_->Exec("BEGIN IMMEDIATE; INSERT INTO t(k, v) VALUES "
                    "(1000, x'01'); COMMIT"));
  writer_.reset();
  EXPECT_THAT(ReaderCount(), IsOkAndHolds(101));
}

}  // namespace
}  // namespace token_authority::storage::sqlite

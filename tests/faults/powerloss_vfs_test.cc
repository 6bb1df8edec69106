// Tests of the power-loss / full-disk VFS shim itself: at the file level
// (sqlite3_file calls) and through real SQLite connections.
#include "tests/faults/powerloss_vfs.h"

#include <sqlite3.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::faults {
namespace {

using ::testing::HasSubstr;

using ::token_authority::testing::TempDir;

std::string ReadRealFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An sqlite3_file opened through a VFS, closed at the end.
class RawFile {
 public:
  RawFile(sqlite3_vfs* vfs, const std::string& path, int flags)
      : vfs_(vfs), mem_(static_cast<size_t>(vfs->szOsFile)) {
    file_ = reinterpret_cast<sqlite3_file*>(mem_.data());
    int out = 0;
    open_rc_ = vfs_->xOpen(vfs_, path.c_str(), file_, flags, &out);
  }
  ~RawFile() { Close(); }
  void Close() {
    if (file_ != nullptr && file_->pMethods != nullptr) {
      file_->pMethods->xClose(file_);
      file_->pMethods = nullptr;
    }
  }
  int open_rc() const { return open_rc_; }
  int Write(const std::string& bytes, int64_t offset) {
    return file_->pMethods->xWrite(file_, bytes.data(),
                                   static_cast<int>(bytes.size()), offset);
  }
  int Read(std::string* out, int amt, int64_t offset) {
    out->assign(static_cast<size_t>(amt), '\0');
    return file_->pMethods->xRead(file_, out->data(), amt, offset);
  }
  int Sync() { return file_->pMethods->xSync(file_, SQLITE_SYNC_FULL); }
  int Truncate(int64_t size) { return file_->pMethods->xTruncate(file_, size); }
  int64_t Size() {
    sqlite3_int64 size = -1;
    if (file_->pMethods->xFileSize(file_, &size) != SQLITE_OK) return -1;
    return size;
  }

 private:
  sqlite3_vfs* vfs_;
  std::vector<std::max_align_t> mem_;
  sqlite3_file* file_ = nullptr;
  int open_rc_ = SQLITE_ERROR;
};

constexpr int kDbFlags =
    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB;

class PowerLossVfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(vfs_, PowerLossVfs::Register("powerloss-unit"));
    raw_ = sqlite3_vfs_find("powerloss-unit");
    ASSERT_NE(raw_, nullptr);
  }

  TempDir dir_;
  std::unique_ptr<PowerLossVfs> vfs_;
  sqlite3_vfs* raw_ = nullptr;
};

TEST_F(PowerLossVfsTest, RegisteringTheSameNameTwiceIsRefused) {
  EXPECT_THAT(PowerLossVfs::Register("powerloss-unit"),
              testing::StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(PowerLossVfsTest, UnsyncedWriteIsLostSyncedWriteIsKept) {
  const std::string path = dir_.File("f.db");
  {
    RawFile f(raw_, path, kDbFlags);
    ASSERT_EQ(f.open_rc(), SQLITE_OK);
    ASSERT_EQ(f.Write("synced", 0), SQLITE_OK);
    ASSERT_EQ(f.Sync(), SQLITE_OK);
    ASSERT_EQ(f.Write("UNSYNCED", 100), SQLITE_OK);
    // The writer sees its own unsynced write (page cache)...
    EXPECT_EQ(f.Size(), 108);
    std::string got;
    ASSERT_EQ(f.Read(&got, 8, 100), SQLITE_OK);
    EXPECT_EQ(got, "UNSYNCED");
    // ...but it has not reached the disk.
    EXPECT_EQ(ReadRealFile(path), "synced");

    vfs_->CutPower();
    EXPECT_FALSE(vfs_->powered());
    EXPECT_EQ(f.Read(&got, 6, 0) & 0xff, SQLITE_IOERR);
    EXPECT_EQ(f.Write("x", 0) & 0xff, SQLITE_IOERR);
    EXPECT_EQ(f.Sync() & 0xff, SQLITE_IOERR);
    vfs_->RestorePower();
    // A handle from before the cut stays dead after the power returns.
    EXPECT_EQ(f.Read(&got, 6, 0) & 0xff, SQLITE_IOERR);
  }
  RawFile g(raw_, path, kDbFlags);
  ASSERT_EQ(g.open_rc(), SQLITE_OK);
  EXPECT_EQ(g.Size(), 6);
  std::string got;
  ASSERT_EQ(g.Read(&got, 6, 0), SQLITE_OK);
  EXPECT_EQ(got, "synced");
  EXPECT_EQ(g.Read(&got, 4, 4), SQLITE_IOERR_SHORT_READ);
  EXPECT_EQ(got, std::string("ed\0\0", 4));

  PowerLossVfsStats stats = vfs_->stats();
  EXPECT_EQ(stats.cuts, 1);
  EXPECT_EQ(stats.discarded_writes, 1);
  EXPECT_GE(stats.refused_after_cut, 4);
}

TEST_F(PowerLossVfsTest, OpensAndDeletesFailWhileThePowerIsOff) {
  vfs_->CutPower();
  RawFile f(raw_, dir_.File("g.db"), kDbFlags);
  EXPECT_EQ(f.open_rc() & 0xff, SQLITE_IOERR);
  EXPECT_EQ(raw_->xDelete(raw_, dir_.File("g.db").c_str(), 0) & 0xff,
            SQLITE_IOERR);
  int exists = -1;
  EXPECT_EQ(raw_->xAccess(raw_, dir_.File("g.db").c_str(), SQLITE_ACCESS_EXISTS,
                          &exists) &
                0xff,
            SQLITE_IOERR);
}

TEST_F(PowerLossVfsTest, HandlesOfOnePathShareThePageCache) {
  const std::string path = dir_.File("shared.db");
  RawFile a(raw_, path, kDbFlags);
  RawFile b(raw_, path, kDbFlags);
  ASSERT_EQ(a.open_rc(), SQLITE_OK);
  ASSERT_EQ(b.open_rc(), SQLITE_OK);
  ASSERT_EQ(a.Write("from-a", 0), SQLITE_OK);
  std::string got;
  ASSERT_EQ(b.Read(&got, 6, 0), SQLITE_OK);
  EXPECT_EQ(got, "from-a");
  EXPECT_EQ(ReadRealFile(path), "");
  // fsync through another descriptor flushes the shared cache.
  ASSERT_EQ(b.Sync(), SQLITE_OK);
  EXPECT_EQ(ReadRealFile(path), "from-a");
}

TEST_F(PowerLossVfsTest, UnsyncedTruncateIsLostSyncedOneIsKept) {
  const std::string path = dir_.File("t.db");
  {
    RawFile f(raw_, path, kDbFlags);
    ASSERT_EQ(f.Write("0123456789", 0), SQLITE_OK);
    ASSERT_EQ(f.Sync(), SQLITE_OK);
    ASSERT_EQ(f.Truncate(4), SQLITE_OK);
    ASSERT_EQ(f.Sync(), SQLITE_OK);
    ASSERT_EQ(f.Truncate(2), SQLITE_OK);
    ASSERT_EQ(f.Write("AB", 8), SQLITE_OK);  // zeros 2..8, then AB
    EXPECT_EQ(f.Size(), 10);
    std::string got;
    ASSERT_EQ(f.Read(&got, 10, 0), SQLITE_OK);
    EXPECT_EQ(got, std::string("01\0\0\0\0\0\0AB", 10));
    vfs_->CutPower();
  }
  vfs_->RestorePower();
  EXPECT_EQ(ReadRealFile(path), "0123");
}

TEST_F(PowerLossVfsTest, SyncReplaysWritesAndTruncatesInOrder) {
  const std::string path = dir_.File("order.db");
  RawFile f(raw_, path, kDbFlags);
  ASSERT_EQ(f.Write("0123456789", 0), SQLITE_OK);
  ASSERT_EQ(f.Sync(), SQLITE_OK);
  ASSERT_EQ(f.Truncate(0), SQLITE_OK);
  ASSERT_EQ(f.Write("AB", 8), SQLITE_OK);
  ASSERT_EQ(f.Sync(), SQLITE_OK);
  EXPECT_EQ(ReadRealFile(path), std::string("\0\0\0\0\0\0\0\0AB", 10));
}

TEST_F(PowerLossVfsTest, KeepRandomSubsetKeepsSomeUnsyncedWrites) {
  const std::string path = dir_.File("subset.db");
  constexpr int kWrites = 64;
  vfs_->SetCutMode(CutMode::kKeepRandomSubset, /*seed=*/42);
  {
    RawFile f(raw_, path, kDbFlags);
    ASSERT_EQ(f.Write(std::string(kWrites, '.'), 0), SQLITE_OK);
    ASSERT_EQ(f.Sync(), SQLITE_OK);
    for (int i = 0; i < kWrites; ++i) {
      ASSERT_EQ(f.Write("#", i), SQLITE_OK);
    }
    vfs_->CutPower();
  }
  vfs_->RestorePower();
  std::string disk = ReadRealFile(path);
  ASSERT_EQ(disk.size(), size_t{kWrites});
  int kept = 0;
  for (char c : disk) {
    ASSERT_TRUE(c == '.' || c == '#');
    kept += c == '#';
  }
  PowerLossVfsStats stats = vfs_->stats();
  EXPECT_EQ(stats.kept_writes, kept);
  EXPECT_EQ(stats.discarded_writes, kWrites - kept);
  // A fair coin over 64 writes with a fixed seed: neither extreme.
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, kWrites);
}

TEST_F(PowerLossVfsTest, ArmedCutFiresAtTheNthOperation) {
  RawFile f(raw_, dir_.File("armed.db"), kDbFlags);
  vfs_->CutPowerAtOperation(3);
  EXPECT_EQ(f.Write("a", 0), SQLITE_OK);
  EXPECT_EQ(f.Sync(), SQLITE_OK);
  EXPECT_TRUE(vfs_->powered());
  EXPECT_EQ(f.Write("b", 1) & 0xff, SQLITE_IOERR);
  EXPECT_FALSE(vfs_->powered());
}

TEST_F(PowerLossVfsTest, ByteBudgetFailsGrowingWritesWithFull) {
  RawFile f(raw_, dir_.File("budget.db"), kDbFlags);
  ASSERT_EQ(f.Write(std::string(100, 'a'), 0), SQLITE_OK);
  EXPECT_EQ(vfs_->BytesInUse(), 100);
  vfs_->SetByteBudget(150);
  EXPECT_EQ(f.Write(std::string(60, 'b'), 100), SQLITE_FULL);
  EXPECT_EQ(f.Truncate(200), SQLITE_FULL);
  EXPECT_EQ(f.Size(), 100);  // nothing changed
  // Overwriting in place and growing within the budget still work.
  EXPECT_EQ(f.Write(std::string(100, 'c'), 0), SQLITE_OK);
  EXPECT_EQ(f.Write(std::string(50, 'd'), 100), SQLITE_OK);
  EXPECT_EQ(f.Write("e", 150), SQLITE_FULL);
  vfs_->SetByteBudget(std::nullopt);
  EXPECT_EQ(f.Write("e", 150), SQLITE_OK);
  EXPECT_EQ(vfs_->stats().full_errors, 3);
}

// --- Through SQLite -------------------------------------------------------

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

Db OpenDb(const std::string& path, const char* vfs) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  Db owned(db);
  if (rc != SQLITE_OK) {
    ADD_FAILURE() << "open " << path << ": " << sqlite3_errstr(rc);
    return nullptr;
  }
  return owned;
}

int Exec(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
}

std::string QueryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return std::string("prepare failed: ") + sqlite3_errmsg(db);
  }
  std::string out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (!out.empty()) out += ",";
    out += text == nullptr ? "NULL" : reinterpret_cast<const char*>(text);
  }
  if (rc != SQLITE_DONE) out += std::string("error: ") + sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  return out;
}

// Creates a WAL database with table t(x) through the shim, fully synced.
void CreateWalDb(const std::string& path, const char* vfs) {
  Db db = OpenDb(path, vfs);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(QueryText(db.get(), "PRAGMA journal_mode=WAL"), "wal");
  ASSERT_EQ(Exec(db.get(),
                 "PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(x INTEGER PRIMARY KEY, v TEXT);"
                 "INSERT INTO t VALUES(1, 'setup');"),
            SQLITE_OK);
}

TEST_F(PowerLossVfsTest, WalCommitWithSynchronousFullSurvivesACut) {
  const std::string path = dir_.File("full.db");
  CreateWalDb(path, "powerloss-unit");
  {
    Db db = OpenDb(path, "powerloss-unit");
    ASSERT_EQ(Exec(db.get(), "PRAGMA synchronous=FULL"), SQLITE_OK);
    ASSERT_EQ(Exec(db.get(), "INSERT INTO t VALUES(2, 'acknowledged')"),
              SQLITE_OK);
    ASSERT_EQ(Exec(db.get(), "BEGIN; INSERT INTO t VALUES(3, 'open txn')"),
              SQLITE_OK);
    vfs_->CutPower();
    EXPECT_EQ(Exec(db.get(), "COMMIT") & 0xff, SQLITE_IOERR);
  }
  vfs_->RestorePower();
  Db db = OpenDb(path, "powerloss-unit");
  EXPECT_EQ(QueryText(db.get(), "SELECT x FROM t ORDER BY x"), "1,2");
  EXPECT_EQ(QueryText(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(PowerLossVfsTest, WalCommitWithSynchronousOffIsLostInACut) {
  const std::string path = dir_.File("off.db");
  CreateWalDb(path, "powerloss-unit");
  {
    Db db = OpenDb(path, "powerloss-unit");
    ASSERT_EQ(Exec(db.get(), "PRAGMA synchronous=OFF"), SQLITE_OK);
    ASSERT_EQ(Exec(db.get(), "INSERT INTO t VALUES(2, 'acknowledged')"),
              SQLITE_OK);
    EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM t"), "2");
    vfs_->CutPower();
  }
  vfs_->RestorePower();
  Db db = OpenDb(path, "powerloss-unit");
  // COMMIT returned OK, yet the row is gone: nothing was synced.
  EXPECT_EQ(QueryText(db.get(), "SELECT x FROM t ORDER BY x"), "1");
  EXPECT_EQ(QueryText(db.get(), "PRAGMA integrity_check"), "ok");
}

TEST_F(PowerLossVfsTest, WalCheckpointedDataSurvivesAndCutMidCheckpointIsSafe) {
  const std::string path = dir_.File("ckpt.db");
  CreateWalDb(path, "powerloss-unit");
  for (int64_t cut_at = 1; cut_at <= 40; ++cut_at) {
    {
      Db db = OpenDb(path, "powerloss-unit");
      ASSERT_NE(db, nullptr);
      ASSERT_EQ(Exec(db.get(), "PRAGMA synchronous=FULL"), SQLITE_OK);
      ASSERT_EQ(Exec(db.get(), "INSERT INTO t(v) VALUES('row-" +
                                   std::to_string(cut_at) + "')"),
                SQLITE_OK);
      vfs_->CutPowerAtOperation(cut_at);
      // Insert and checkpoint until the armed cut fires.
      for (int i = 0; i < 100 && vfs_->powered(); ++i) {
        Exec(db.get(), "INSERT INTO t(v) VALUES(randomblob(3000))");
        Exec(db.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
      }
      ASSERT_FALSE(vfs_->powered());
    }
    vfs_->RestorePower();
    Db db = OpenDb(path, "powerloss-unit");
    EXPECT_EQ(QueryText(db.get(), "PRAGMA integrity_check"), "ok")
        << "cut at operation " << cut_at;
    EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM t WHERE v = 'row-" +
                                      std::to_string(cut_at) + "'"),
              "1")
        << "cut at operation " << cut_at;
  }
}

TEST_F(PowerLossVfsTest, FullBudgetMakesSqliteReportFull) {
  const std::string path = dir_.File("fullsql.db");
  CreateWalDb(path, "powerloss-unit");
  Db db = OpenDb(path, "powerloss-unit");
  ASSERT_EQ(Exec(db.get(), "PRAGMA synchronous=FULL"), SQLITE_OK);
  // The first statement reads the schema and maps the WAL before the cap.
  EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM t"), "1");
  vfs_->SetByteBudget(vfs_->BytesInUse());
  int rc = Exec(db.get(), "INSERT INTO t(v) VALUES(randomblob(100000))");
  EXPECT_EQ(rc & 0xff, SQLITE_FULL) << sqlite3_errmsg(db.get());
  EXPECT_THAT(std::string(sqlite3_errmsg(db.get())), HasSubstr("full"));
  EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM t"), "1");
  vfs_->SetByteBudget(std::nullopt);
  EXPECT_EQ(Exec(db.get(), "INSERT INTO t(v) VALUES(randomblob(100000))"),
            SQLITE_OK);
  EXPECT_EQ(QueryText(db.get(), "SELECT count(*) FROM t"), "2");
}

}  // namespace
}  // namespace token_authority::faults

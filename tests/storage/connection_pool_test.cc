#include "storage/connection_pool.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/read_pool.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::storage {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

// A stand-in connection: the pool's rules do not depend on the database
// (each store's own pool is tested with its real database below and in
// pg_connection_test.cc).
struct FakeConn {
  int id = 0;
  bool broken = false;
  bool in_transaction = false;
  std::atomic<int> holders{0};  // leases holding it now
};

class ConnectionPoolTest : public ::testing::Test {
 protected:
  using Pool = ConnectionPool<FakeConn>;

  std::unique_ptr<Pool> MakePool(int max_idle) {
    return std::make_unique<Pool>(
        [this]() -> absl::StatusOr<std::unique_ptr<FakeConn>> {
          if (refuse_open_) return absl::UnavailableError("no server");
          auto c = std::make_unique<FakeConn>();
          c->id = ++opened_;
          return c;
        },
        [](FakeConn& c) {
          if (c.broken) return Pool::Returned::kCloseAll;
          return c.in_transaction ? Pool::Returned::kClose
                                  : Pool::Returned::kKeep;
        },
        max_idle);
  }

  std::atomic<int> opened_{0};
  std::atomic<bool> refuse_open_{false};
};

TEST_F(ConnectionPoolTest, ReusesAnIdleConnection) {
  auto pool = MakePool(2);
  int first = 0;
  {
    ASSERT_OK_AND_ASSIGN(Pool::Lease a, pool->Acquire());
    first = a->id;
  }
  EXPECT_EQ(pool->idle(), 1u);
  ASSERT_OK_AND_ASSIGN(Pool::Lease b, pool->Acquire());
  EXPECT_EQ(b->id, first);
  EXPECT_EQ(opened_.load(), 1);
  EXPECT_EQ(pool->idle(), 0u);
}

TEST_F(ConnectionPoolTest, OpensANewOneWhenNoneIsIdleAndKeepsAtMostMaxIdle) {
  auto pool = MakePool(2);
  {
    ASSERT_OK_AND_ASSIGN(Pool::Lease a, pool->Acquire());
    ASSERT_OK_AND_ASSIGN(Pool::Lease b, pool->Acquire());
    ASSERT_OK_AND_ASSIGN(Pool::Lease c, pool->Acquire());
    EXPECT_NE(a->id, b->id);
    EXPECT_NE(b->id, c->id);
    EXPECT_EQ(opened_.load(), 3);
  }
  EXPECT_EQ(pool->idle(), 2u);
}

TEST_F(ConnectionPoolTest, ClosesOneLeftInATransaction) {
  auto pool = MakePool(2);
  {
    ASSERT_OK_AND_ASSIGN(Pool::Lease a, pool->Acquire());
    ASSERT_OK_AND_ASSIGN(Pool::Lease b, pool->Acquire());
    b->in_transaction = true;
  }
  EXPECT_EQ(pool->idle(), 1u);
}

TEST_F(ConnectionPoolTest, ABrokenConnectionClosesEveryIdleOne) {
  auto pool = MakePool(3);
  {
    ASSERT_OK_AND_ASSIGN(Pool::Lease a, pool->Acquire());
    ASSERT_OK_AND_ASSIGN(Pool::Lease b, pool->Acquire());
  }
  ASSERT_EQ(pool->idle(), 2u);
  {
    ASSERT_OK_AND_ASSIGN(Pool::Lease c, pool->Acquire());
    c->broken = true;
  }
  EXPECT_EQ(pool->idle(), 0u);
  ASSERT_OK_AND_ASSIGN(Pool::Lease d, pool->Acquire());
  EXPECT_EQ(d->id, 3);  // a new one
}

TEST_F(ConnectionPoolTest, AnOpenErrorReachesTheCaller) {
  auto pool = MakePool(2);
  refuse_open_ = true;
  EXPECT_THAT(pool->Acquire(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no server")));
  refuse_open_ = false;
  EXPECT_OK(pool->Acquire());
}

TEST_F(ConnectionPoolTest, NoConnectionIsLeasedTwiceAtOnce) {
  auto pool = MakePool(4);
  std::atomic<int> shared_use{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<Pool::Lease> lease = pool->Acquire();
        ASSERT_TRUE(lease.ok());
        // Each FakeConn counts its holders: more than one is a double lease.
        FakeConn& c = **lease;
        if (c.holders.fetch_add(1) != 0) ++shared_use;
        std::this_thread::yield();
        c.holders.fetch_sub(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(shared_use.load(), 0);
  EXPECT_LE(pool->idle(), 4u);
}

// The SQLite store's pool: query_only connections on an existing file, one
// reused across leases.
TEST(SqliteReadPoolTest, QueryOnlyConnectionsReused) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/db.sqlite";
  {
    ASSERT_OK_AND_ASSIGN(auto writer, sqlite::Connection::Open(
                                          path, sqlite::ConnectionOptions{}));
    ASSERT_OK(
        writer->Exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (7);"));
  }
  sqlite::ReadPool pool(path, sqlite::ConnectionOptions{}, /*keep=*/1,
                        /*cache_kib=*/256);
  const sqlite::Connection* first = nullptr;
  {
    ASSERT_OK_AND_ASSIGN(sqlite::ReadPool::Lease lease, pool.Acquire());
    first = &*lease;
    const absl::Status write = lease->Exec("INSERT INTO t VALUES (8)");
    EXPECT_FALSE(write.ok());
    EXPECT_THAT(std::string(write.message()), HasSubstr("readonly"));
  }
  ASSERT_OK_AND_ASSIGN(sqlite::ReadPool::Lease again, pool.Acquire());
  EXPECT_EQ(&*again, first);
  // A missing file is an error, never a new empty database.
  sqlite::ReadPool missing(dir.path() + "/none.sqlite",
                           sqlite::ConnectionOptions{}, 1, 256);
  EXPECT_FALSE(missing.Acquire().ok());
}

}  // namespace
}  // namespace token_authority::storage

#include "server/reply_backlog.h"

#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

constexpr int64_t kBig = ReplyBacklog::kCountedReplyBytes;

TEST(ReplyBacklogTest, SmallRepliesAreNotCounted) {
  ReplyBacklog backlog(kBig, 2 * kBig);
  ASSERT_OK_AND_ASSIGN(ReplyBacklog::Reservation r,
                       backlog.Reserve("ipv4:1", kBig - 1));
  EXPECT_EQ(backlog.total(), 0);
  EXPECT_EQ(backlog.Pending("ipv4:1"), 0);
}

TEST(ReplyBacklogTest, PerConnectionLimitRefusesAndReleases) {
  ReplyBacklog backlog(3 * kBig, 100 * kBig);
  std::vector<ReplyBacklog::Reservation> held;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(ReplyBacklog::Reservation r,
                         backlog.Reserve("ipv4:1", kBig));
    held.push_back(std::move(r));
  }
  EXPECT_EQ(backlog.Pending("ipv4:1"), 3 * kBig);
  EXPECT_THAT(backlog.Reserve("ipv4:1", kBig),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("this connection")));
  EXPECT_THAT(backlog.CheckRoom("ipv4:1"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Another connection is not affected.
  EXPECT_OK(backlog.CheckRoom("ipv4:2"));
  EXPECT_OK(backlog.Reserve("ipv4:2", kBig).status());
  // A released reply makes room again.
  held.pop_back();
  EXPECT_EQ(backlog.Pending("ipv4:1"), 2 * kBig);
  EXPECT_OK(backlog.CheckRoom("ipv4:1"));
  EXPECT_OK(backlog.Reserve("ipv4:1", kBig).status());
  held.clear();
  EXPECT_EQ(backlog.total(), 0);
  EXPECT_EQ(backlog.Pending("ipv4:1"), 0);
}

TEST(ReplyBacklogTest, TotalLimitSpansConnections) {
  ReplyBacklog backlog(10 * kBig, 2 * kBig);
  ASSERT_OK_AND_ASSIGN(auto a, backlog.Reserve("ipv4:1", kBig));
  ASSERT_OK_AND_ASSIGN(auto b, backlog.Reserve("ipv4:2", kBig));
  EXPECT_THAT(backlog.Reserve("ipv4:3", kBig),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("their clients")));
  EXPECT_THAT(backlog.CheckRoom("ipv4:3"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(backlog.Pending("ipv4:3"), 0);
}

TEST(ReplyBacklogTest, OneReplyLargerThanTheLimitPassesWhenAlone) {
  ReplyBacklog backlog(kBig, kBig);
  ASSERT_OK_AND_ASSIGN(auto r, backlog.Reserve("ipv4:1", 5 * kBig));
  EXPECT_EQ(backlog.total(), 5 * kBig);
  EXPECT_THAT(backlog.Reserve("ipv4:1", kBig),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(ReplyBacklogTest, MovedReservationsReleaseOnce) {
  ReplyBacklog backlog(10 * kBig, 10 * kBig);
  {
    ASSERT_OK_AND_ASSIGN(auto r, backlog.Reserve("ipv4:1", kBig));
    ReplyBacklog::Reservation moved = std::move(r);
    ReplyBacklog::Reservation assigned;
    assigned = std::move(moved);
    EXPECT_EQ(backlog.total(), kBig);
  }
  EXPECT_EQ(backlog.total(), 0);
}

TEST(ReplyBacklogTest, ConcurrentReserveAndReleaseBalance) {
  ReplyBacklog backlog(1000 * kBig, 1000 * kBig);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&backlog, t] {
      const std::string peer = "ipv4:" + std::to_string(t % 2);
      for (int i = 0; i < 2000; ++i) {
        auto r = backlog.Reserve(peer, kBig);
        ASSERT_TRUE(r.ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(backlog.total(), 0);
}

}  // namespace
}  // namespace token_authority::server

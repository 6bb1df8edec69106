#include "server/wake_list.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::server {
namespace {

using ::testing::ElementsAre;

TEST(WakeListTest, WakesEverySubscriberUntilUnsubscribed) {
  WakeList list;
  std::vector<int> calls;
  const uint64_t a =
      list.Subscribe([&](bool closing) { calls.push_back(closing ? -1 : 1); });
  const uint64_t b =
      list.Subscribe([&](bool closing) { calls.push_back(closing ? -2 : 2); });
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  list.WakeAll();
  EXPECT_THAT(calls, ElementsAre(1, 2));
  list.Unsubscribe(a);
  list.Unsubscribe(12345);  // unknown: ignored
  list.WakeAll();
  EXPECT_THAT(calls, ElementsAre(1, 2, 2));
}

TEST(WakeListTest, CloseSaysClosingOnceAndLaterSubscribersAtOnce) {
  WakeList list;
  int closing_calls = 0;
  list.Subscribe([&](bool closing) { closing_calls += closing ? 1 : 0; });
  list.Close();
  list.Close();    // idempotent
  list.WakeAll();  // nothing after Close
  EXPECT_EQ(closing_calls, 1);
  bool told = false;
  EXPECT_EQ(list.Subscribe([&](bool closing) { told = closing; }), 0u);
  EXPECT_TRUE(told);
}

TEST(WakeListTest, AfterUnsubscribeTheFunctionIsNeverCalled) {
  // A waker thread and a subscriber that unsubscribes: once Unsubscribe
  // returns, its function must not run (watch reactors delete themselves
  // right after).
  WakeList list;
  std::atomic<bool> stop{false};
  std::thread waker([&] {
    while (!stop.load()) list.WakeAll();
  });
  for (int i = 0; i < 200; ++i) {
    std::atomic<bool> gone{false};
    std::atomic<bool> called_after{false};
    const uint64_t id = list.Subscribe([&](bool) {
      if (gone.load()) called_after.store(true);
    });
    list.Unsubscribe(id);
    gone.store(true);
    list.WakeAll();
    EXPECT_FALSE(called_after.load());
  }
  stop.store(true);
  waker.join();
}

}  // namespace
}  // namespace token_authority::server

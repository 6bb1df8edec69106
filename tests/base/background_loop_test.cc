#include "base/background_loop.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "base/thread_name.h"
#include "gtest/gtest.h"

namespace token_authority {
namespace {

// Waits (polling, at most 10 s) until `done` holds.
template <typename F>
bool Eventually(F done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(BackgroundLoopTest, RunsWhenWokenOnlyWithoutInterval) {
  std::atomic<int> runs{0};
  BackgroundLoop loop;
  loop.Start("ta-test-loop", absl::InfiniteDuration(), [&] { ++runs; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(runs.load(), 0);
  loop.Wake();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
  loop.Wake();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
  loop.Stop();
  EXPECT_EQ(runs.load(), 2);
}

TEST(BackgroundLoopTest, RunsEveryInterval) {
  std::atomic<int> runs{0};
  BackgroundLoop loop;
  loop.Start("ta-test-loop", absl::Milliseconds(5), [&] { ++runs; });
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
}

TEST(BackgroundLoopTest, RunsOnTheNamedThreadOneAtATime) {
  std::atomic<int> inside{0}, overlaps{0}, runs{0};
  std::string name;
  BackgroundLoop loop;
  loop.Start("ta-test-named", absl::InfiniteDuration(), [&] {
    if (++inside > 1) ++overlaps;
    if (runs.load() == 0) name = CurrentThreadName();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ++runs;
    --inside;
  });
  for (int i = 0; i < 50; ++i) loop.Wake();
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 1; }));
  loop.Stop();
  EXPECT_EQ(overlaps.load(), 0);
  // Wakes during a run coalesce: far fewer runs than wakes.
  EXPECT_LE(runs.load(), 50);
  EXPECT_EQ(name, "ta-test-named");
}

// A queue drained by the loop ends empty: a wake before Stop gets its run.
TEST(BackgroundLoopTest, StopServesAPendingWake) {
  Mutex mu;
  int queued = 0, drained = 0;
  BackgroundLoop loop;
  loop.Start("ta-test-drain", absl::InfiniteDuration(), [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    MutexLock lock(&mu);
    drained += queued;
    queued = 0;
  });
  for (int i = 0; i < 100; ++i) {
    {
      MutexLock lock(&mu);
      ++queued;
    }
    loop.Wake();
  }
  loop.Stop();
  MutexLock lock(&mu);
  EXPECT_EQ(queued, 0);
  EXPECT_EQ(drained, 100);
}

TEST(BackgroundLoopTest, StopIsIdempotentAndStartAfterStopDoesNothing) {
  std::atomic<int> runs{0};
  BackgroundLoop never_started;
  never_started.Stop();
  never_started.Start("ta-test-late", absl::Milliseconds(1), [&] { ++runs; });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
  never_started.Stop();

  BackgroundLoop loop;
  loop.Start("ta-test-loop", absl::Hours(1), [&] { ++runs; });
  loop.Stop();
  loop.Stop();
  loop.Wake();
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace token_authority

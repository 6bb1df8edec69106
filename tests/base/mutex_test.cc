#include "base/mutex.h"

#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace token_authority {
namespace {

class Counter {
 public:
  void Add() {
    MutexLock lock(&mu_);
    ++value_;
    cv_.SignalAll();
  }
  int Get() {
    MutexLock lock(&mu_);
    return value_;
  }
  // Waits until the value reaches `n` or `timeout` passes; the value.
  int WaitFor(int n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&mu_);
    while (value_ < n) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    return value_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, ExcludesAndSignals) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Add();
    });
  }
  EXPECT_EQ(c.WaitFor(40000, absl::Seconds(30)), 40000);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.Get(), 40000);
}

TEST(MutexTest, WaitTimesOut) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(&mu);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(cv.WaitWithTimeout(&mu, absl::Milliseconds(20)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(19));
  Counter c;
  EXPECT_EQ(c.WaitFor(1, absl::Milliseconds(5)), 0);
}

struct Shared {
  SharedMutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
};

TEST(SharedMutexTest, ReadersShareWritersExclude) {
  Shared shared;
  SharedMutex& mu = shared.mu;
  {
    ReaderLock a(&mu);
    // A second reader on another thread gets in while `a` is held.
    bool entered = false;
    std::thread t([&] {
      ReaderLock b(&mu);
      entered = true;
    });
    t.join();
    EXPECT_TRUE(entered);
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        WriterLock w(&shared.mu);
        ++shared.value;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  ReaderLock r(&shared.mu);
  EXPECT_EQ(shared.value, 20000);
}

}  // namespace
}  // namespace token_authority

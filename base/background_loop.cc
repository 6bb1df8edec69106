#include "base/background_loop.h"

#include <chrono>
#include <utility>

#include "base/thread_name.h"

namespace token_authority {

BackgroundLoop::~BackgroundLoop() { Stop(); }

void BackgroundLoop::Start(std::string name, absl::Duration interval,
                           std::function<void()> run) {
  {
    MutexLock lock(&mu_);
    if (stop_ || thread_.joinable()) return;
  }
  thread_ = StartNamedThread(
      std::move(name),
      [this, interval, run = std::move(run)] { Loop(interval, run); });
}

void BackgroundLoop::Wake() {
  MutexLock lock(&mu_);
  woken_ = true;
  cv_.Signal();
}

void BackgroundLoop::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

void BackgroundLoop::Loop(absl::Duration interval,
                          const std::function<void()>& run) {
  using Steady = std::chrono::steady_clock;
  const bool periodic = interval != absl::InfiniteDuration();
  Steady::time_point next =
      periodic ? Steady::now() + absl::ToChronoNanoseconds(interval)
               : Steady::time_point::max();
  while (true) {
    {
      MutexLock lock(&mu_);
      while (!woken_ && !stop_) {
        const absl::Duration left = periodic
                                        ? absl::FromChrono(next - Steady::now())
                                        : absl::InfiniteDuration();
        if (left <= absl::ZeroDuration() || cv_.WaitWithTimeout(&mu_, left)) {
          break;  // the interval passed
        }
      }
      if (stop_ && !woken_) return;
      woken_ = false;
    }
    run();
    if (periodic) next = Steady::now() + absl::ToChronoNanoseconds(interval);
  }
}

}  // namespace token_authority

#include "server/blocking_executor.h"

#include <utility>

#include "base/thread_name.h"

namespace token_authority::server {

std::unique_ptr<BlockingExecutor> BlockingExecutor::Create(int threads) {
  return std::unique_ptr<BlockingExecutor>(
      new BlockingExecutor(threads < 1 ? 1 : threads));
}

BlockingExecutor::BlockingExecutor(int threads) {
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    workers_.push_back(StartNamedThread("ta-blocking", [this] { Run(); }));
  }
}

BlockingExecutor::~BlockingExecutor() { Shutdown(); }

bool BlockingExecutor::Schedule(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.Signal();
  return true;
}

void BlockingExecutor::Shutdown() {
  std::vector<std::thread> workers;
  {
    MutexLock lock(&mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    workers.swap(workers_);
  }
  cv_.SignalAll();
  for (std::thread& t : workers) {
    if (t.joinable()) t.join();
  }
}

size_t BlockingExecutor::queued() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

void BlockingExecutor::Run() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace token_authority::server

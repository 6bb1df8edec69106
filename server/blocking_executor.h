// A fixed pool of threads for work that blocks (store reads and durable
// writes), so that gRPC's callback threads never wait on SQLite or fsync.
// Group commit in the store only batches what arrives concurrently: enough
// threads here keep enough writes in flight.
#ifndef SERVER_BLOCKING_EXECUTOR_H_
#define SERVER_BLOCKING_EXECUTOR_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace token_authority::server {

class BlockingExecutor {
 public:
  // Starts `threads` (at least 1) worker threads.
  static std::unique_ptr<BlockingExecutor> Create(int threads);
  // Runs every task already queued, then joins the workers.
  ~BlockingExecutor();

  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Queues `task` to run on a worker. Thread-safe. Returns false (and drops
  // the task) after Shutdown began.
  bool Schedule(std::function<void()> task);

  // Stops accepting tasks, runs those queued and joins the workers.
  // Idempotent; must not be called from a worker.
  void Shutdown();

  // Tasks queued but not started.
  size_t queued() const;

 private:
  explicit BlockingExecutor(int threads);
  void Run();

  mutable Mutex mu_;
  CondVar cv_;  // signalled when a task is queued or stopping_ is set
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Started by the constructor; taken (and joined) by the first Shutdown.
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::server

#endif  // SERVER_BLOCKING_EXECUTOR_H_

// A fixed pool of threads for work that blocks (store reads and durable
// writes), so that gRPC's callback threads never wait on SQLite or fsync.
// Group commit in the store only batches what arrives concurrently: enough
// threads here keep enough writes in flight.
#ifndef SERVER_BLOCKING_EXECUTOR_H_
#define SERVER_BLOCKING_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace token_authority::server

#endif  // SERVER_BLOCKING_EXECUTOR_H_

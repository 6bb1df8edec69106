// What both stores run beside their writer, written once: the coalesced
// TouchApiKey updates (TouchBuffer), the maintenance thread that writes them
// and runs the retention sweep, and the order of the store's once-only
// shutdown (StoreHousekeeping). The SQL of each job is the store's.
#ifndef STORAGE_STORE_HOUSEKEEPING_H_
#define STORAGE_STORE_HOUSEKEEPING_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/mutex.h"

namespace token_authority::storage {

// Pending "API key last used" times, coalesced per key (the later wins).
// Thread-safe.
class TouchBuffer {
 public:
  // api key id -> time in Unix microseconds.
  using Touches = std::map<std::string, int64_t>;
  // The store's write of `touches` (one transaction).
  using WriteFn = std::function<absl::Status(const Touches& touches)>;

  // TouchApiKey: InvalidArgument naming api_key_id or at; else recorded.
  absl::Status Add(absl::string_view api_key_id, absl::Time at);
  // Takes the pending touches and writes them with `write`; on failure puts
  // them back, so that a later flush retries. OK when none was pending.
  absl::Status Flush(const WriteFn& write);

 private:
  void Merge(const std::string& api_key_id, int64_t us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  Touches pending_ ABSL_GUARDED_BY(mu_);
};

// Runs a retention sweep in transactions of `batch_size` tokens (`batch`
// deletes up to that many and returns how many) until one deletes fewer;
// returns the total.
absl::StatusOr<int64_t> SweepInBatches(
    int batch_size, const std::function<absl::StatusOr<int64_t>()>& batch);

// The maintenance thread and the shutdown order. Thread-safe.
class StoreHousekeeping {
 public:
  struct Jobs {
    std::function<absl::Status()> flush_touches;
    std::function<absl::StatusOr<int64_t>()> sweep;
  };

  // Starts thread `thread_name`: flushes touches every
  // `touch_flush_interval` and sweeps every `sweep_interval` (never when
  // zero). Paced by the loop's timed waits: no injected clock is read here.
  // At most once.
  void Start(std::string thread_name, absl::Duration touch_flush_interval,
             absl::Duration sweep_interval, Jobs jobs);

  // The first call: stops the thread, flushes the touches, then calls
  // `stop_writer` (which drains the writer); returns the flush's status.
  // Later calls return OK.
  absl::Status Shutdown(const std::function<void()>& stop_writer);

 private:
  Jobs jobs_;  // set by Start

  Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  // Last: its thread ends before the members it uses are destroyed.
  BackgroundLoop loop_;
};

}  // namespace token_authority::storage

#endif  // STORAGE_STORE_HOUSEKEEPING_H_

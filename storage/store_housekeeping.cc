#include "storage/store_housekeeping.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "storage/record_validation.h"

namespace token_authority::storage {

absl::Status TouchBuffer::Add(absl::string_view api_key_id, absl::Time at) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_ASSIGN_OR_RETURN(int64_t us, Micros(at, "at"));
  MutexLock lock(&mu_);
  Merge(std::string(api_key_id), us);
  return absl::OkStatus();
}

void TouchBuffer::Merge(const std::string& api_key_id, int64_t us) {
  auto [it, inserted] = pending_.emplace(api_key_id, us);
  if (!inserted) it->second = std::max(it->second, us);
}

absl::Status TouchBuffer::Flush(const WriteFn& write) {
  Touches touches;
  {
    MutexLock lock(&mu_);
    touches.swap(pending_);
  }
  if (touches.empty()) return absl::OkStatus();
  absl::Status st = write(touches);
  if (!st.ok()) {
    MutexLock lock(&mu_);
    for (const auto& [id, us] : touches) Merge(id, us);
  }
  return st;
}

absl::StatusOr<int64_t> SweepInBatches(
    int batch_size, const std::function<absl::StatusOr<int64_t>()>& batch) {
  int64_t total = 0;
  while (true) {
    TA_ASSIGN_OR_RETURN(int64_t n, batch());
    total += n;
    if (n < batch_size) break;
  }
  return total;
}

void StoreHousekeeping::Start(std::string thread_name,
                              absl::Duration touch_flush_interval,
                              absl::Duration sweep_interval, Jobs jobs) {
  jobs_ = std::move(jobs);
  const bool sweep = sweep_interval > absl::ZeroDuration();
  const absl::Duration tick =
      sweep ? std::min(touch_flush_interval, sweep_interval)
            : touch_flush_interval;
  // Runs every `tick`; counts the ticks since each job last ran.
  auto run = [this, sweep, tick, touch_flush_interval, sweep_interval,
              since_touch = absl::ZeroDuration(),
              since_sweep = absl::ZeroDuration()]() mutable {
    since_touch += tick;
    since_sweep += tick;
    if (since_touch >= touch_flush_interval) {
      (void)jobs_.flush_touches();
      since_touch = absl::ZeroDuration();
    }
    if (sweep && since_sweep >= sweep_interval) {
      (void)jobs_.sweep();
      since_sweep = absl::ZeroDuration();
    }
  };
  loop_.Start(std::move(thread_name), tick, std::move(run));
}

absl::Status StoreHousekeeping::Shutdown(
    const std::function<void()>& stop_writer) {
  {
    MutexLock lock(&mu_);
    if (shut_down_) return absl::OkStatus();
    shut_down_ = true;
  }
  loop_.Stop();
  absl::Status touches =
      jobs_.flush_touches ? jobs_.flush_touches() : absl::OkStatus();
  stop_writer();
  return touches;
}

}  // namespace token_authority::storage

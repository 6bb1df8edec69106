// Counters of the calls the server answered, for the metrics endpoint
// (server/metrics_endpoint.h): calls by method and status code, and a
// latency histogram by method. Fed by MeteredCallLog, the CallLog every call
// already passes through exactly once (handlers of ours and the call log
// interceptor alike), so no handler counts anything itself.
//
// The call path is hot: recording is one lookup in a map that never changes
// after construction and three relaxed atomic additions, no lock and no
// allocation (bench/call_metrics_bench.cc). Methods are known up front (the
// server's services' methods), so an unknown method a client makes up is
// counted under "other" instead of growing the label set.
#ifndef SERVER_CALL_METRICS_H_
#define SERVER_CALL_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/metric_family.h"
#include "server/call_log.h"

namespace token_authority::server {

// Upper bounds of the latency buckets, in seconds (and +Inf).
inline constexpr std::array<double, 16> kLatencyBucketsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

// The label of calls of methods not given to CallMetrics.
inline constexpr absl::string_view kOtherMethod = "other";

// Thread-safe.
class CallMetrics {
 public:
  // `methods`: the method names as the call log writes them
  // ("TokenService/IssueToken", "grpc.health.v1.Health/Check").
  explicit CallMetrics(const std::vector<std::string>& methods);
  CallMetrics(const CallMetrics&) = delete;
  CallMetrics& operator=(const CallMetrics&) = delete;

  // Counts one call. Lock-free.
  void Record(absl::string_view method, absl::StatusCode code,
              absl::Duration latency);

  // Appends ta_calls_total (counter: method, code) and
  // ta_call_duration_seconds (histogram: method), with every method and code
  // seen at least once; also ta_tokens_issued_total (IssueToken calls
  // answered OK). Consistent per method only approximately (no lock).
  void Collect(std::vector<prometheus::MetricFamily>* out) const;

  // What Record counted for `method` and `code` (tests).
  uint64_t Calls(absl::string_view method, absl::StatusCode code) const;

 private:
  static constexpr int kCodes = 17;  // gRPC's status codes 0..16
  struct PerMethod {
    std::string name;
    std::array<std::atomic<uint64_t>, kCodes> by_code{};
    // Non-cumulative counts; the last is +Inf.
    std::array<std::atomic<uint64_t>, kLatencyBucketsSeconds.size() + 1>
        buckets{};
    std::atomic<uint64_t> latency_ns_sum{0};
  };

  const PerMethod* Find(absl::string_view method) const;

  // Never changes after construction; PerMethod's counters are atomics.
  absl::flat_hash_map<std::string, std::unique_ptr<PerMethod>> by_name_;
  std::unique_ptr<PerMethod> other_;
  // The latency bucket bounds in nanoseconds.
  std::array<int64_t, kLatencyBucketsSeconds.size()> bounds_ns_{};
};

// A CallLog that counts each call in `metrics` and passes it on to `inner`.
// Neither is owned; both must outlive it.
class MeteredCallLog : public CallLog {
 public:
  MeteredCallLog(CallLog* inner, CallMetrics* metrics)
      : inner_(inner), metrics_(metrics) {}
  void Record(const CallRecord& record) override {
    metrics_->Record(record.method, record.code, record.latency);
    inner_->Record(record);
  }
  void Flush() override { inner_->Flush(); }

 private:
  CallLog* const inner_;
  CallMetrics* const metrics_;
};

// Every method of the services named (full names, e.g.
// "tokenauthority.v1.TokenService") that protobuf's generated pool knows, as
// the call log names them: "TokenService/IssueToken" for package
// tokenauthority.v1, "grpc.health.v1.Health/Check" otherwise.
std::vector<std::string> MethodNamesOf(
    const std::vector<std::string>& service_full_names);

}  // namespace token_authority::server

#endif  // SERVER_CALL_METRICS_H_

#include "server/call_metrics.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace token_authority::server {
namespace {

constexpr absl::string_view kOwnPackage = "tokenauthority.v1.";
constexpr absl::string_view kIssueToken = "TokenService/IssueToken";

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

prometheus::ClientMetric::Label MethodLabel(const std::string& method) {
  return {"method", method};
}

}  // namespace

CallMetrics::CallMetrics(const std::vector<std::string>& methods)
    : other_(std::make_unique<PerMethod>()) {
  other_->name = std::string(kOtherMethod);
  for (const std::string& m : methods) {
    auto per = std::make_unique<PerMethod>();
    per->name = m;
    by_name_.emplace(m, std::move(per));
  }
  for (size_t i = 0; i < kLatencyBucketsSeconds.size(); ++i) {
    bounds_ns_[i] = std::llround(kLatencyBucketsSeconds[i] * 1e9);
  }
}

const CallMetrics::PerMethod* CallMetrics::Find(
    absl::string_view method) const {
  auto it = by_name_.find(method);
  return it == by_name_.end() ? other_.get() : it->second.get();
}

void CallMetrics::Record(absl::string_view method, absl::StatusCode code,
                         absl::Duration latency) {
  // The counters are atomics inside a map that never changes: const lookup.
  auto* per = const_cast<PerMethod*>(Find(method));
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) c = static_cast<int>(absl::StatusCode::kUnknown);
  per->by_code[c].fetch_add(1, std::memory_order_relaxed);
  int64_t ns = absl::ToInt64Nanoseconds(latency);
  if (ns < 0) ns = 0;
  size_t b = 0;
  while (b < bounds_ns_.size() && ns > bounds_ns_[b]) ++b;
  per->buckets[b].fetch_add(1, std::memory_order_relaxed);
  per->latency_ns_sum.fetch_add(static_cast<uint64_t>(ns),
                                std::memory_order_relaxed);
}

uint64_t CallMetrics::Calls(absl::string_view method,
                            absl::StatusCode code) const {
  const int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) return 0;
  return Find(method)->by_code[c].load(std::memory_order_relaxed);
}

void CallMetrics::Collect(std::vector<prometheus::MetricFamily>* out) const {
  prometheus::MetricFamily calls{
      "ta_calls_total",
      "Calls answered, by method (as the call log names it; \"other\": a "
      "method the server does not serve) and gRPC status code",
      prometheus::MetricType::Counter,
      {}};
  prometheus::MetricFamily latency{
      "ta_call_duration_seconds",
      "Time from a call's arrival to its status, by method",
      prometheus::MetricType::Histogram,
      {}};
  prometheus::MetricFamily issued{
      "ta_tokens_issued_total",
      "Tokens issued: IssueToken calls answered OK (a retried request_id "
      "counts again)",
      prometheus::MetricType::Counter,
      {}};
  std::vector<const PerMethod*> all;
  for (const auto& [name, per] : by_name_) all.push_back(per.get());
  all.push_back(other_.get());
  for (const PerMethod* per : all) {
    uint64_t total = 0;
    for (int c = 0; c < kCodes; ++c) {
      const uint64_t n = per->by_code[c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      total += n;
      prometheus::ClientMetric m;
      m.label = {{"code", CodeName(c)}, MethodLabel(per->name)};
      m.counter.value = static_cast<double>(n);
      calls.metric.push_back(std::move(m));
    }
    if (per->name == kIssueToken) {
      prometheus::ClientMetric m;
      m.counter.value =
          static_cast<double>(per->by_code[0].load(std::memory_order_relaxed));
      issued.metric.push_back(std::move(m));
    }
    if (total == 0) continue;
    prometheus::ClientMetric h;
    h.label = {MethodLabel(per->name)};
    uint64_t cumulative = 0;
    for (size_t b = 0; b < per->buckets.size(); ++b) {
      cumulative += per->buckets[b].load(std::memory_order_relaxed);
      prometheus::ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < kLatencyBucketsSeconds.size()
                               ? kLatencyBucketsSeconds[b]
                               : std::numeric_limits<double>::infinity();
      h.histogram.bucket.push_back(bucket);
    }
    // The buckets were read one by one while calls went on: the count is
    // the +Inf bucket's, so that the two always agree.
    h.histogram.sample_count = cumulative;
    h.histogram.sample_sum = static_cast<double>(per->latency_ns_sum.load(
                                 std::memory_order_relaxed)) /
                             1e9;
    latency.metric.push_back(std::move(h));
  }
  if (issued.metric.empty()) issued.metric.emplace_back();
  out->push_back(std::move(calls));
  out->push_back(std::move(latency));
  out->push_back(std::move(issued));
}

std::vector<std::string> MethodNamesOf(
    const std::vector<std::string>& service_full_names) {
  std::vector<std::string> out;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& full : service_full_names) {
    const auto* service = pool->FindServiceByName(full);
    if (service == nullptr) continue;
    std::string prefix = service->full_name();
    if (absl::StartsWith(prefix, kOwnPackage)) {
      prefix = prefix.substr(kOwnPackage.size());
    }
    for (int i = 0; i < service->method_count(); ++i) {
      out.push_back(absl::StrCat(prefix, "/", service->method(i)->name()));
    }
  }
  return out;
}

}  // namespace token_authority::server

// What counting a call costs on the call path (server/call_metrics.h): a
// call log line with and without the metrics in front of it, and the
// metrics alone, on 1 and 2 threads (2 threads recording the same method
// share its counters' cache lines: the worst case). The log here is a
// NullCallLog, so the figures are the metrics' own cost.
//   build/bench/call_metrics_bench --benchmark_min_time=1
#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/call_log.h"
#include "server/call_metrics.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/audit_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::server {
namespace {

const std::vector<std::string>& Methods() {
  // Referenced, so that the linker keeps the services' descriptors.
  (void)tokenauthority::v1::IssueTokenRequest::descriptor();
  (void)tokenauthority::v1::ListSigningKeysRequest::descriptor();
  (void)tokenauthority::v1::ListAuditEventsRequest::descriptor();
  (void)tokenauthority::v1::CreateOrganizationRequest::descriptor();
  static const auto* methods = new std::vector<std::string>(MethodNamesOf(
      {"tokenauthority.v1.TokenService", "tokenauthority.v1.KeyService",
       "tokenauthority.v1.AuditService", "tokenauthority.v1.AdminService"}));
  return *methods;
}

CallRecord Record() {
  CallRecord r;
  r.method = "TokenService/VerifyToken";
  r.code = absl::StatusCode::kOk;
  r.latency = absl::Microseconds(180);
  return r;
}

CallMetrics& SharedMetrics() {
  static auto* metrics = new CallMetrics(Methods());
  return *metrics;
}

void BM_RecordOnly(benchmark::State& state) {
  CallMetrics& metrics = SharedMetrics();
  if (std::find(Methods().begin(), Methods().end(),
                "TokenService/VerifyToken") == Methods().end()) {
    state.SkipWithError("the services' methods are missing");
  }
  const CallRecord r = Record();
  for (auto _ : state) metrics.Record(r.method, r.code, r.latency);
}
BENCHMARK(BM_RecordOnly)->Threads(1)->Threads(2)->UseRealTime();

void BM_NullLog(benchmark::State& state) {
  NullCallLog null_log;
  CallLog* log = &null_log;
  benchmark::DoNotOptimize(log);
  const CallRecord r = Record();
  for (auto _ : state) log->Record(r);
}
BENCHMARK(BM_NullLog);

void BM_MeteredNullLog(benchmark::State& state) {
  NullCallLog inner;
  MeteredCallLog metered(&inner, &SharedMetrics());
  CallLog* log = &metered;
  benchmark::DoNotOptimize(log);
  const CallRecord r = Record();
  for (auto _ : state) log->Record(r);
}
BENCHMARK(BM_MeteredNullLog)->Threads(1)->Threads(2)->UseRealTime();

// A method nobody serves: the lookup misses and "other" counts it.
void BM_RecordUnknownMethod(benchmark::State& state) {
  CallMetrics& metrics = SharedMetrics();
  for (auto _ : state) {
    metrics.Record("example.NoSuchService/AMethod", absl::StatusCode::kOk,
                   absl::Microseconds(5));
  }
}
BENCHMARK(BM_RecordUnknownMethod);

}  // namespace
}  // namespace token_authority::server

BENCHMARK_MAIN();

#include "server/call_metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "server/metrics_endpoint.h"
#include "tests/server/exposition_format.h"
#include "tests/server/promtool.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"

namespace token_authority::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::token_authority::testing::CheckExposition;
using ::token_authority::testing::PromtoolCheckMetrics;
using ::token_authority::testing::SampleValue;

const std::vector<std::string> kMethods = {"TokenService/IssueToken",
                                           "TokenService/VerifyToken",
                                           "grpc.health.v1.Health/Check"};

std::string Scrape(const CallMetrics& m) {
  std::vector<prometheus::MetricFamily> families;
  m.Collect(&families);
  return SerializeMetrics(families);
}

TEST(CallMetricsTest, CountsByMethodAndCode) {
  CallMetrics m(kMethods);
  m.Record("TokenService/IssueToken", absl::StatusCode::kOk,
           absl::Microseconds(800));
  m.Record("TokenService/IssueToken", absl::StatusCode::kOk,
           absl::Milliseconds(3));
  m.Record("TokenService/IssueToken", absl::StatusCode::kInvalidArgument,
           absl::Microseconds(50));
  m.Record("grpc.health.v1.Health/Check", absl::StatusCode::kOk,
           absl::Microseconds(20));
  // Made-up methods share one label, so clients cannot grow the label set.
  m.Record("evil/Method1", absl::StatusCode::kUnimplemented,
           absl::Microseconds(5));
  m.Record("evil/Method2", absl::StatusCode::kUnimplemented,
           absl::Microseconds(5));
  EXPECT_EQ(m.Calls("TokenService/IssueToken", absl::StatusCode::kOk), 2u);
  EXPECT_EQ(m.Calls("other", absl::StatusCode::kUnimplemented), 2u);

  const std::string text = Scrape(m);
  EXPECT_THAT(CheckExposition(text), IsEmpty()) << text;
  EXPECT_THAT(
      SampleValue(text, "ta_calls_total",
                  {{"method", "TokenService/IssueToken"}, {"code", "OK"}}),
      Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ta_calls_total",
                          {{"method", "TokenService/IssueToken"},
                           {"code", "INVALID_ARGUMENT"}}),
              Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ta_calls_total",
                          {{"method", "other"}, {"code", "UNIMPLEMENTED"}}),
              Optional(2.0));
  // Codes never seen are not listed; nor are methods never called.
  EXPECT_EQ(SampleValue(
                text, "ta_calls_total",
                {{"method", "TokenService/IssueToken"}, {"code", "NOT_FOUND"}}),
            std::nullopt);
  EXPECT_EQ(SampleValue(text, "ta_call_duration_seconds_count",
                        {{"method", "TokenService/VerifyToken"}}),
            std::nullopt);
  EXPECT_THAT(SampleValue(text, "ta_tokens_issued_total"), Optional(2.0));

  // The histogram: 50 µs and 800 µs and 3 ms, cumulative.
  const std::map<std::string, std::string> issue = {
      {"method", "TokenService/IssueToken"}};
  auto bucket = [&](const char* le) {
    auto labels = issue;
    labels["le"] = le;
    return SampleValue(text, "ta_call_duration_seconds_bucket", labels);
  };
  EXPECT_THAT(bucket("0.0001"), Optional(1.0));
  EXPECT_THAT(bucket("0.001"), Optional(2.0));
  EXPECT_THAT(bucket("0.0025"), Optional(2.0));
  EXPECT_THAT(bucket("0.005"), Optional(3.0));
  EXPECT_THAT(bucket("+Inf"), Optional(3.0));
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_count", issue),
              Optional(3.0));
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_sum", issue),
              Optional(::testing::DoubleNear(0.00385, 1e-9)));
}

TEST(CallMetricsTest, BucketBoundsAreInclusive) {
  CallMetrics m(kMethods);
  m.Record("TokenService/VerifyToken", absl::StatusCode::kOk,
           absl::Milliseconds(1));  // exactly a bound: counts in le="0.001"
  m.Record("TokenService/VerifyToken", absl::StatusCode::kOk,
           absl::Seconds(60));  // beyond every bound: +Inf only
  const std::string text = Scrape(m);
  const std::map<std::string, std::string> le1ms = {
      {"method", "TokenService/VerifyToken"}, {"le", "0.001"}};
  const std::map<std::string, std::string> le10s = {
      {"method", "TokenService/VerifyToken"}, {"le", "10"}};
  const std::map<std::string, std::string> inf = {
      {"method", "TokenService/VerifyToken"}, {"le", "+Inf"}};
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_bucket", le1ms),
              Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_bucket", le10s),
              Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_bucket", inf),
              Optional(2.0));
}

TEST(CallMetricsTest, CountsEveryCallFromManyThreads) {
  CallMetrics m(kMethods);
  constexpr int kThreads = 4, kCalls = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < kCalls; ++i) {
        m.Record("grpc.health.v1.Health/Check", absl::StatusCode::kOk,
                 absl::Microseconds(i % 3000));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.Calls("grpc.health.v1.Health/Check", absl::StatusCode::kOk),
            uint64_t{kThreads} * kCalls);
  EXPECT_THAT(SampleValue(Scrape(m), "ta_call_duration_seconds_count",
                          {{"method", "grpc.health.v1.Health/Check"}}),
              Optional(double{kThreads * kCalls}));
}

TEST(CallMetricsTest, MeteredCallLogCountsAndPassesOn) {
  CallMetrics m(kMethods);
  MemoryCallLog inner;
  MeteredCallLog log(&inner, &m);
  CallRecord r;
  r.method = "TokenService/VerifyToken";
  r.code = absl::StatusCode::kPermissionDenied;
  r.latency = absl::Microseconds(40);
  log.Record(r);
  EXPECT_EQ(
      m.Calls("TokenService/VerifyToken", absl::StatusCode::kPermissionDenied),
      1u);
  EXPECT_THAT(inner.Contents(),
              ::testing::HasSubstr("method=TokenService/VerifyToken"));
}

TEST(CallMetricsTest, MethodNamesOfTheServices) {
  // Linked in, so in protobuf's generated pool.
  ASSERT_NE(grpc::health::v1::HealthCheckRequest::descriptor(), nullptr);
  ASSERT_NE(tokenauthority::v1::ListSigningKeysRequest::descriptor(), nullptr);
  EXPECT_THAT(MethodNamesOf({"grpc.health.v1.Health", "no.Such"}),
              ElementsAre("grpc.health.v1.Health/Check",
                          "grpc.health.v1.Health/Watch"));
  // The project's own package is left out, as in the call log.
  EXPECT_THAT(MethodNamesOf({"tokenauthority.v1.KeyService"}),
              ElementsAre("KeyService/ListSigningKeys",
                          "KeyService/RotateSigningKey", "KeyService/GetJwks"));
}

TEST(CallMetricsTest, PromtoolAcceptsTheOutput) {
  CallMetrics m(kMethods);
  m.Record("TokenService/IssueToken", absl::StatusCode::kOk,
           absl::Microseconds(700));
  m.Record("nope/Nope", absl::StatusCode::kUnimplemented,
           absl::Microseconds(7));
  const std::string text = Scrape(m);
  const auto result = PromtoolCheckMetrics(text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n" << text;
}

}  // namespace
}  // namespace token_authority::server

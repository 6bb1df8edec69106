#include "server/metrics_endpoint.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/server/exposition_format.h"
#include "tests/server/promtool.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::token_authority::testing::CheckExposition;
using ::token_authority::testing::PromtoolCheckMetrics;
using ::token_authority::testing::SampleValue;
using ::token_authority::testing::StatusIs;

// A family whose label value needs every escape of the format.
prometheus::MetricFamily Tricky(double value) {
  prometheus::ClientMetric m;
  m.label = {{"path", "a\"b\\c\nd"}};
  m.gauge.value = value;
  return {"test_tricky",
          "A label value with a quote, a backslash and a\n"
          "newline",
          prometheus::MetricType::Gauge,
          {m}};
}

httplib::Result Get(int port, const char* path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10);
  client.set_read_timeout(10);
  return client.Get(path);
}

TEST(MetricsEndpointTest, ServesWhatTheCollectorSaysAtEachScrape) {
  std::atomic<int> scrapes{0};
  ASSERT_OK_AND_ASSIGN(auto endpoint,
                       MetricsEndpoint::Start("127.0.0.1:0", [&](auto* out) {
                         out->push_back(Tricky(++scrapes));
                       }));
  ASSERT_GT(endpoint->port(), 0);
  for (int i = 1; i <= 2; ++i) {
    httplib::Result res = Get(endpoint->port(), "/metrics");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_THAT(res->get_header_value("Content-Type"), HasSubstr("text/plain"));
    EXPECT_THAT(CheckExposition(res->body), IsEmpty()) << res->body;
    EXPECT_THAT(SampleValue(res->body, "test_tricky", {{"path", "a\"b\\c\nd"}}),
                Optional(static_cast<double>(i)));
    const auto promtool = PromtoolCheckMetrics(res->body);
    EXPECT_EQ(promtool.exit_code, 0) << promtool.output << "\n" << res->body;
  }
  httplib::Result other = Get(endpoint->port(), "/other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST(MetricsEndpointTest, SerializesTheTextFormat) {
  const std::string text = SerializeMetrics({Tricky(2.5)});
  EXPECT_EQ(text,
            "# HELP test_tricky A label value with a quote, a backslash and "
            "a\\nnewline\n"
            "# TYPE test_tricky gauge\n"
            "test_tricky{path=\"a\\\"b\\\\c\\nd\"} 2.5\n");
}

TEST(MetricsEndpointTest, RefusesBadAddresses) {
  EXPECT_THAT(MetricsEndpoint::Start("9464", [](auto*) {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metrics-listen")));
  EXPECT_THAT(MetricsEndpoint::Start("::1:9464", [](auto*) {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A port in use.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  EXPECT_THAT(MetricsEndpoint::Start(taken, [](auto*) {}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(taken)));
  ::close(fd);
}

// Debian's civetweb 1.15 refuses IPv6 listening addresses ("[::1]:port"):
// the endpoint is IPv4 only (README "Metrics"), and says so clearly.
TEST(MetricsEndpointTest, Ipv6IsRefusedClearly) {
  EXPECT_THAT(MetricsEndpoint::Start("[::1]:0", [](auto*) {}),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("metrics-listen: cannot listen on [::1]:0")));
}

}  // namespace
}  // namespace token_authority::server

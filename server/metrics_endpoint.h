// The Prometheus endpoint: GET /metrics in the text exposition format,
// served by prometheus-cpp's pull library (Debian's prometheus-cpp-dev; its
// Exposer runs a small civetweb HTTP server on two threads of its own). What
// a scrape shows comes from one collect function, run at each scrape, so
// that gauges (database size, RSS, connections) are read when asked for and
// the call path only bumps atomics (server/call_metrics.h).
#ifndef SERVER_METRICS_ENDPOINT_H_
#define SERVER_METRICS_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/metric_family.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace token_authority::server {

class MetricsEndpoint {
 public:
  // Appends the families to serve. Called on the endpoint's threads, one
  // scrape at a time per thread: must be thread-safe.
  using CollectFn =
      std::function<void(std::vector<prometheus::MetricFamily>* out)>;

  // Listens on `listen` (host:port, "[::1]:port" for IPv6; port 0 picks a
  // free port). InvalidArgument for a malformed address, Unavailable when
  // it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& listen, CollectFn collect);
  // Stops serving (waits for a scrape in progress).
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // The port actually bound.
  int port() const { return port_; }

 private:
  class Collector;
  MetricsEndpoint() = default;

  std::shared_ptr<Collector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// The text exposition format of `families` (what GET /metrics answers).
std::string SerializeMetrics(std::vector<prometheus::MetricFamily> families);

}  // namespace token_authority::server

#endif  // SERVER_METRICS_ENDPOINT_H_

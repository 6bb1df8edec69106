// What the metrics endpoint shows about a running server, gathered at each
// scrape: the calls (server/call_metrics.h), tokens revoked, the verify
// cache, the store's writer (batch sizes, commit latency, failed
// transactions), the database's size, the store's health, the revocation
// feed's subscribers and lag, the process's RSS and the open gRPC
// connections. README "Metrics" lists every name.
#ifndef SERVER_SERVER_METRICS_H_
#define SERVER_SERVER_METRICS_H_

#include <cstdint>
#include <vector>

#include "prometheus/metric_family.h"

namespace token_authority::storage {
class ManagedTokenStore;
}  // namespace token_authority::storage

namespace token_authority::server {

class CallMetrics;
class StoreHealth;
class TokenAuthority;

// Not owned; each must outlive the collection that uses it. Null parts are
// left out.
struct ServerMetricsSources {
  const CallMetrics* calls = nullptr;
  TokenAuthority* authority = nullptr;
  // Either store (SQLite or PostgreSQL).
  storage::ManagedTokenStore* store = nullptr;
  // Whether the store has a write-ahead log of its own to show (SQLite's;
  // PostgreSQL's is the server's business).
  bool store_has_wal = false;
  const StoreHealth* health = nullptr;
  // The gRPC port whose established connections are counted (0: none).
  int grpc_port = 0;
  // The revocation feed's sequence when the server started: revocations
  // after it count as this process's.
  int64_t revocation_sequence_at_start = 0;
};

// Appends every family. Thread-safe as its sources are.
void CollectServerMetrics(const ServerMetricsSources& sources,
                          std::vector<prometheus::MetricFamily>* out);

}  // namespace token_authority::server

#endif  // SERVER_SERVER_METRICS_H_

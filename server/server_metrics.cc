#include "server/server_metrics.h"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include "server/call_metrics.h"
#include "server/process_stats.h"
#include "server/store_health.h"
#include "server/token_authority.h"
#include "storage/managed_token_store.h"

namespace token_authority::server {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

void AddOne(std::vector<MetricFamily>* out, std::string name, std::string help,
            MetricType type, double value) {
  prometheus::ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  out->push_back(MetricFamily{std::move(name), std::move(help), type, {m}});
}

// A histogram from per-bucket counts (the last one above every bound), the
// bounds divided by `divisor` (1e6: microseconds to seconds; a division, so
// that 100 µs reads "0.0001", not 9.999999999999999e-05).
template <size_t N>
void AddHistogram(std::vector<MetricFamily>* out, std::string name,
                  std::string help, const std::array<int64_t, N>& bounds,
                  const std::array<int64_t, N + 1>& counts, double divisor,
                  double sum) {
  prometheus::ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= N; ++i) {
    cumulative += static_cast<uint64_t>(counts[i]);
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < N ? static_cast<double>(bounds[i]) / divisor
                          : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = sum;
  out->push_back(MetricFamily{
      std::move(name), std::move(help), MetricType::Histogram, {m}});
}

void CollectStore(storage::ManagedTokenStore& store, bool has_wal,
                  std::vector<MetricFamily>* out) {
  const storage::WriterStats w = store.GetWriterStats();
  AddOne(out, "ta_store_transactions_total",
         "Write transactions the store's writer ran (each a group-commit "
         "batch)",
         MetricType::Counter, static_cast<double>(w.transactions));
  AddOne(out, "ta_store_write_failures_total",
         "Write batches in which the storage failed (disk full, I/O error)",
         MetricType::Counter, static_cast<double>(w.storage_failures));
  AddOne(out, "ta_store_operations_total",
         "Write operations the writer ran, OK or not", MetricType::Counter,
         static_cast<double>(w.operations));
  AddHistogram(out, "ta_store_batch_size",
               "Operations per committed write transaction (group commit)",
               storage::kBatchSizeBounds, w.batch_sizes, 1.0,
               static_cast<double>(w.committed_operations));
  AddHistogram(out, "ta_store_commit_duration_seconds",
               "Time of a committed write transaction, BEGIN to the end of "
               "COMMIT (fsync included)",
               storage::kCommitMicrosBounds, w.commit_micros, 1e6,
               static_cast<double>(w.commit_micros_sum) / 1e6);
  if (has_wal) {
    AddOne(out, "ta_store_wal_frames",
           "Frames in the write-ahead log after the last commit",
           MetricType::Gauge, static_cast<double>(w.wal_frames));
  }
  absl::StatusOr<int64_t> size = store.DiskUsage();
  if (size.ok()) {
    AddOne(out, "ta_store_database_bytes",
           "Size of the database: SQLite's file plus its write-ahead log, "
           "or PostgreSQL's pg_database_size",
           MetricType::Gauge, static_cast<double>(*size));
  }
}

void CollectAuthority(const ServerMetricsSources& s,
                      std::vector<MetricFamily>* out) {
  RevocationFeed& feed = s.authority->revocation_feed();
  const int64_t published = feed.last_sequence();
  AddOne(out, "ta_tokens_revoked_total",
         "Tokens revoked since the server started (RevokeToken and "
         "RevokeTokens alike)",
         MetricType::Counter,
         static_cast<double>(published - s.revocation_sequence_at_start));
  AddOne(out, "ta_revocation_feed_subscribers", "Open WatchRevocations streams",
         MetricType::Gauge, static_cast<double>(feed.subscriber_count()));
  AddOne(out, "ta_revocation_feed_sequence",
         "The last revocation sequence the feed published to watchers",
         MetricType::Gauge, static_cast<double>(published));
  if (s.store != nullptr) {
    absl::StatusOr<int64_t> stored = s.store->MaxRevocationSequence();
    if (stored.ok()) {
      AddOne(
          out, "ta_revocation_feed_lag_events",
          "Revocations committed to the store but not yet published to "
          "watchers (and to VerifyToken's revoked set)",
          MetricType::Gauge,
          static_cast<double>(*stored > published ? *stored - published : 0));
    }
  }
  const token::VerifiedTokenCache::Stats c = s.authority->verify_cache_stats();
  AddOne(out, "ta_verify_cache_hits_total",
         "VerifyToken calls whose signature check the verify cache answered",
         MetricType::Counter, static_cast<double>(c.hits));
  AddOne(out, "ta_verify_cache_misses_total",
         "VerifyToken calls that checked the signature", MetricType::Counter,
         static_cast<double>(c.misses));
  AddOne(out, "ta_verify_cache_entries", "Tokens in the verify cache",
         MetricType::Gauge, static_cast<double>(c.size));
}

}  // namespace

void CollectServerMetrics(const ServerMetricsSources& s,
                          std::vector<MetricFamily>* out) {
  if (s.calls != nullptr) s.calls->Collect(out);
  if (s.authority != nullptr) CollectAuthority(s, out);
  if (s.store != nullptr) CollectStore(*s.store, s.store_has_wal, out);
  if (s.health != nullptr) {
    AddOne(out, "ta_store_serving",
           "1 while the store is usable (grpc.health.v1 SERVING), 0 while "
           "not",
           MetricType::Gauge, s.health->serving() ? 1 : 0);
  }
  absl::StatusOr<int64_t> rss = ResidentBytes();
  if (rss.ok()) {
    AddOne(out, "process_resident_memory_bytes", "Resident memory size",
           MetricType::Gauge, static_cast<double>(*rss));
  }
  if (s.grpc_port != 0) {
    absl::StatusOr<int64_t> conns = EstablishedConnections(s.grpc_port);
    if (conns.ok()) {
      AddOne(out, "ta_grpc_connections",
             "Established client connections to the gRPC port",
             MetricType::Gauge, static_cast<double>(*conns));
    }
  }
}

}  // namespace token_authority::server

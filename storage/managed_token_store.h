// What both database stores (SqliteTokenStore, PostgresTokenStore) add to
// the TokenStore contract for the server's operations: maintenance on
// demand, the group-commit writer's counters, the database's size and a
// write probe. The server's metrics and health check use only this.
#ifndef STORAGE_MANAGED_TOKEN_STORE_H_
#define STORAGE_MANAGED_TOKEN_STORE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/token_store.h"
#include "storage/writer_stats.h"

namespace token_authority::storage {

// Thread-safe.
class ManagedTokenStore : public TokenStore {
 public:
  // Runs the retention sweep now, in batches, until nothing more is due.
  // Returns how many tokens were deleted.
  virtual absl::StatusOr<int64_t> RunRetentionSweep() = 0;

  // Writes pending TouchApiKey updates now and waits for the commit.
  virtual absl::Status FlushTouches() = 0;

  // A snapshot of the writer's counters (on PostgreSQL the WAL and
  // checkpoint counters stay 0).
  virtual WriterStats GetWriterStats() = 0;

  // The database's size in bytes: SQLite's file plus its WAL, PostgreSQL's
  // pg_database_size of the store's database.
  virtual absl::StatusOr<int64_t> DiskUsage() = 0;

  // A small write through the writer, waiting for its commit: whether the
  // store can write right now (the server's health check asks). SQLite
  // writes meta "health_probe" (the time); PostgreSQL takes a transaction id
  // (refused by a read-only standby) and locks no row. The writer's errors:
  // ResourceExhausted for a full disk, Unavailable while PostgreSQL cannot
  // be reached.
  virtual absl::Status ProbeWrite() = 0;

 protected:
  ManagedTokenStore() = default;
};

}  // namespace token_authority::storage

#endif  // STORAGE_MANAGED_TOKEN_STORE_H_

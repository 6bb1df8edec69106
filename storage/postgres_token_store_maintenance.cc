// PostgresTokenStoreImpl: the retention sweep (run by the maintenance thread
// "ta-pg-maint", store_housekeeping.h; every replica sweeps, and their
// batches skip rows another replica has locked), the write probe and the
// database's size.
#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/row_readers.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {

absl::StatusOr<int64_t> PostgresTokenStoreImpl::SweepBatch() {
  int64_t deleted = 0;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    const int64_t cutoff = sqlite::FloorSeconds(ctx.now - options_.retention);
    // token_streams rows go with their token (ON DELETE CASCADE).
    TA_ASSIGN_OR_RETURN(
        Result r,
        ctx.conn.Query("DELETE FROM tokens WHERE no IN (SELECT no FROM tokens "
                       "WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 "
                       "FOR UPDATE SKIP LOCKED)",
                       Params().Int(cutoff).Int(options_.sweep_batch_size)));
    deleted = r.affected();
    return ctx.conn.Run(PostgresDialect(sqlite::kSweepRevocationsSql),
                        Params().Int(cutoff).Int(options_.sweep_batch_size));
  }));
  return deleted;
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::RunRetentionSweep() {
  return SweepInBatches(options_.sweep_batch_size,
                        [this] { return SweepBatch(); });
}

absl::Status PostgresTokenStoreImpl::ProbeWrite() {
  // A transaction id, which every write needs (refused by a read-only
  // standby), and no row: replicas probing every second never wait for each
  // other's locks.
  return writer_.Write([](WriteCtx& ctx) -> absl::Status {
    return ctx.conn.QueryInt64("SELECT pg_current_xact_id()::text::bigint")
        .status();
  });
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::DiskUsage() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  return c->QueryInt64("SELECT pg_database_size(current_database())");
}

}  // namespace token_authority::storage::pg

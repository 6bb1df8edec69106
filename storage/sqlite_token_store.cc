// SqliteTokenStoreImpl's lifecycle: construction, start and shutdown. The
// operations are defined by entity in sqlite_token_store_*.cc, Open in
// sqlite_token_store_open.cc.
#include "storage/sqlite_token_store.h"

#include <utility>

#include "storage/sqlite_token_store_impl.h"

namespace token_authority::storage::sqlite {

SqliteTokenStoreImpl::SqliteTokenStoreImpl(
    SqliteTokenStoreOptions options, std::unique_ptr<WalBufferVfs> wal_vfs,
    std::unique_ptr<Connection> writer,
    std::unique_ptr<Connection> checkpointer, KeyEncryptionKey kek,
    int64_t last_audit_time)
    : options_(std::move(options)),
      clock_(*options_.clock),
      random_(*options_.random),
      kek_(std::move(kek)),
      wal_vfs_(std::move(wal_vfs)),
      writer_(std::move(writer), clock_, options_.max_batch_size,
              last_audit_time, &stats_),
      checkpointer_(std::move(checkpointer), options_.checkpoint_frames,
                    &stats_),
      readers_(options_.path,
               ConnectionOptions{options_.vfs, options_.busy_timeout, false},
               options_.read_pool_size, options_.reader_cache_kib) {}

SqliteTokenStoreImpl::~SqliteTokenStoreImpl() { (void)Shutdown(); }

void SqliteTokenStoreImpl::Start() {
  // The checkpointer's WAL hook replaces SQLite's automatic checkpoint:
  // checkpoints run on their own connection and thread, off the writer's
  // critical path.
  checkpointer_.AttachTo(writer_.connection());
  writer_.Start();
  checkpointer_.Start();
  housekeeping_.Start("ta-store-maint", options_.touch_flush_interval,
                      options_.sweep_interval,
                      {[this] { return FlushTouches(); },
                       [this] { return RunRetentionSweep(); }});
}

absl::Status SqliteTokenStoreImpl::Shutdown() {
  // The writer's Stop runs every queued operation and every completion
  // callback; the checkpointer stops after it.
  return housekeeping_.Shutdown([this] {
    writer_.Stop();
    checkpointer_.Stop();
  });
}

}  // namespace token_authority::storage::sqlite

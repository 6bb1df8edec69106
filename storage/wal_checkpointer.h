// The SQLite store's WAL checkpointer: PASSIVE checkpoints on a connection
// and thread ("ta-checkpoint") of their own, so that the writer does not pay
// for them. The writer's connection reports every commit through this
// class's WAL hook, which wakes the thread each time the WAL grew by
// `checkpoint_frames`; only when the WAL reaches 4x that does the writer
// checkpoint itself (what SQLite's automatic checkpoint would do).
#ifndef STORAGE_WAL_CHECKPOINTER_H_
#define STORAGE_WAL_CHECKPOINTER_H_

#include <sqlite3.h>

#include <memory>

#include "base/background_loop.h"
#include "storage/sqlite_db.h"
#include "storage/writer_stats.h"

namespace token_authority::storage::sqlite {

class WalCheckpointer {
 public:
  // `conn`: the checkpointer's own connection (owned, used only by its
  // thread once started). `stats` is not owned and must outlive this.
  WalCheckpointer(std::unique_ptr<Connection> conn, int checkpoint_frames,
                  WriterStatsCounter* stats)
      : conn_(std::move(conn)),
        checkpoint_frames_(checkpoint_frames),
        stats_(*stats) {}
  // Stop().
  ~WalCheckpointer() { Stop(); }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Installs this checkpointer's WAL hook on the writer's connection in
  // place of SQLite's automatic checkpoint. Call before the writer's first
  // commit; this object must outlive the writer's last commit.
  void AttachTo(Connection& writer);

  // Starts the thread. At most once.
  void Start();
  // Ends the thread (a requested checkpoint still runs). Idempotent; the
  // writer must have stopped committing.
  void Stop() { loop_.Stop(); }

 private:
  // sqlite3_wal_hook's callback: on the writer's thread, after each commit,
  // with the number of frames in the WAL.
  static int WalHook(void* arg, sqlite3* db, const char* name, int frames);
  void OnCommit(sqlite3* db, const char* name, int frames);
  // The thread's run: one PASSIVE checkpoint.
  void Checkpoint();

  const std::unique_ptr<Connection> conn_;
  const int checkpoint_frames_;
  WriterStatsCounter& stats_;
  // The writer's thread only (the WAL hook).
  int last_wal_frames_ = 0;
  int next_checkpoint_at_ = 0;
  // Last: its thread ends before the members it uses are destroyed.
  BackgroundLoop loop_;
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_WAL_CHECKPOINTER_H_

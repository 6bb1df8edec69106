#include "storage/wal_checkpointer.h"

namespace token_authority::storage::sqlite {

void WalCheckpointer::AttachTo(Connection& writer) {
  sqlite3_wal_hook(writer.db(), &WalCheckpointer::WalHook, this);
}

void WalCheckpointer::Start() {
  loop_.Start("ta-checkpoint", absl::InfiniteDuration(),
              [this] { Checkpoint(); });
}

int WalCheckpointer::WalHook(void* arg, sqlite3* db, const char* name,
                             int frames) {
  static_cast<WalCheckpointer*>(arg)->OnCommit(db, name, frames);
  return SQLITE_OK;
}

void WalCheckpointer::OnCommit(sqlite3* db, const char* name, int frames) {
  // A WAL restarted from its beginning holds fewer frames than before: all
  // of them are new.
  stats_.AddCommit(
      frames, frames >= last_wal_frames_ ? frames - last_wal_frames_ : frames);
  // Wake the checkpointer each time the WAL grew by checkpoint_frames since
  // the last wake-up (or since it was restarted from the beginning).
  if (frames < last_wal_frames_) next_checkpoint_at_ = 0;
  last_wal_frames_ = frames;
  if (frames >= next_checkpoint_at_ + checkpoint_frames_) {
    next_checkpoint_at_ = frames;
    loop_.Wake();
  }
  if (frames >= 4 * checkpoint_frames_) {
    // The background checkpoint cannot keep up: bound the WAL by
    // checkpointing here, on the writer (what SQLite's autocheckpoint does).
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
    stats_.AddWriterCheckpoint();
  }
}

void WalCheckpointer::Checkpoint() {
  // PASSIVE never blocks the writer or readers; frames written meanwhile
  // are left for the next round.
  const int rc = sqlite3_wal_checkpoint_v2(
      conn_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc == SQLITE_OK) stats_.AddCheckpoint();
}

}  // namespace token_authority::storage::sqlite

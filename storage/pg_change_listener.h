// ChangeListener for PostgresTokenStore: a dedicated libpq connection on a
// thread of its own ("ta-pg-listen") that LISTENs on ta_changes (NOTIFYed by
// the schema's triggers on change_log and revocations, pg_schema.cc v2) and
// calls a callback after each notification and after each (re)connect, so
// that the caller reads what changed by sequence and a notification missed
// while disconnected loses nothing. It waits on the socket with poll() and
// a timeout, so Stop() returns promptly. A lost connection is re-opened with
// backoff (50 ms doubling to 2 s), with one line on stderr when it is lost
// and one when it is back (as the writer's, pg_writer.h).
#ifndef STORAGE_PG_CHANGE_LISTENER_H_
#define STORAGE_PG_CHANGE_LISTENER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "storage/postgres_token_store.h"

namespace token_authority::storage::pg {

// The channel the triggers notify.
inline constexpr char kChangeChannel[] = "ta_changes";

class Connection;

struct ChangeListenerOptions {
  std::string conninfo;
  std::string password;
  // How long one poll() waits before looking at the stop flag again.
  absl::Duration poll_timeout = absl::Milliseconds(100);
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
};

// Thread-safe: Stop may be called from any thread but `on_change`'s.
class PgChangeListener final : public ChangeListener {
 public:
  // Does nothing until Start().
  PgChangeListener(ChangeListenerOptions options,
                   std::function<void()> on_change);
  // Stop().
  ~PgChangeListener() override;
  PgChangeListener(const PgChangeListener&) = delete;
  PgChangeListener& operator=(const PgChangeListener&) = delete;

  // Starts the thread. Call at most once.
  void Start();
  // Ends the thread (within about poll_timeout) and waits for it.
  // Idempotent.
  void Stop();

 private:
  void Run();
  // Opens a connection and LISTENs; nullptr (after the backoff wait) when
  // that fails.
  std::unique_ptr<Connection> Connect();
  // Waits on `conn` until notifications arrive (true) or poll_timeout
  // passes (false); resets `conn` when the connection is lost.
  bool WaitForNotifications(std::unique_ptr<Connection>& conn);
  void MarkLost(absl::string_view why);
  // Waits `d` or until stopped; true when stopped.
  bool SleepUnlessStopped(absl::Duration d);
  bool stopped();

  const ChangeListenerOptions options_;
  const std::function<void()> on_change_;

  // The listener thread only.
  bool down_ = false;
  absl::Duration backoff_;

  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // set by Start, joined by the first Stop
};

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_CHANGE_LISTENER_H_

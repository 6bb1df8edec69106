#include "storage/pg_change_listener.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/thread_name.h"
#include "storage/pg_connection.h"

namespace token_authority::storage::pg {
namespace {

struct NotifyDeleter {
  void operator()(PGnotify* n) const { PQfreemem(n); }
};
using NotifyPtr = std::unique_ptr<PGnotify, NotifyDeleter>;

// Takes every notification libpq has read; true when there was one.
bool DrainNotifications(PGconn* conn) {
  bool any = false;
  while (NotifyPtr n{PQnotifies(conn)}) any = true;
  return any;
}

}  // namespace

PgChangeListener::PgChangeListener(ChangeListenerOptions options,
                                   std::function<void()> on_change)
    : options_(std::move(options)),
      on_change_(std::move(on_change)),
      backoff_(options_.initial_backoff) {}

PgChangeListener::~PgChangeListener() { Stop(); }

void PgChangeListener::Start() {
  thread_ = StartNamedThread("ta-pg-listen", [this] { Run(); });
}

void PgChangeListener::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

bool PgChangeListener::stopped() {
  MutexLock lock(&mu_);
  return stop_;
}

bool PgChangeListener::SleepUnlessStopped(absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  MutexLock lock(&mu_);
  while (!stop_ && absl::Now() < deadline) {
    cv_.WaitWithDeadline(&mu_, deadline);
  }
  return stop_;
}

void PgChangeListener::MarkLost(absl::string_view why) {
  if (down_) return;
  down_ = true;
  backoff_ = options_.initial_backoff;
  // One line: libpq's messages run over several.
  const absl::string_view first = absl::StripAsciiWhitespace(
      why.substr(0, std::min(why.find('\n'), why.size())));
  std::cerr << "change listener: PostgreSQL connection lost (" << first
            << "); other replicas' changes are read every second until it "
               "is back\n";
}

std::unique_ptr<Connection> PgChangeListener::Connect() {
  absl::StatusOr<std::unique_ptr<Connection>> c =
      Connection::Open(options_.conninfo, options_.password);
  absl::Status st = c.status();
  if (st.ok()) st = (*c)->ExecScript(absl::StrCat("LISTEN ", kChangeChannel));
  if (!st.ok()) {
    MarkLost(st.message());
    SleepUnlessStopped(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    return nullptr;
  }
  if (down_) {
    down_ = false;
    std::cerr << "change listener: PostgreSQL connection re-established\n";
  }
  return std::move(*c);
}

bool PgChangeListener::WaitForNotifications(std::unique_ptr<Connection>& conn) {
  PGconn* raw = conn->raw();
  pollfd fd{};
  fd.fd = PQsocket(raw);
  fd.events = POLLIN;
  const int ready =
      poll(&fd, 1,
           static_cast<int>(absl::ToInt64Milliseconds(options_.poll_timeout)));
  if (ready == 0) return false;
  if (ready > 0 && PQconsumeInput(raw) == 0) {
    MarkLost(PQerrorMessage(raw));
    conn.reset();
    return true;  // the caller catches up after the reconnect anyway
  }
  if (PQstatus(raw) != CONNECTION_OK) {
    MarkLost("connection closed");
    conn.reset();
    return true;
  }
  return DrainNotifications(raw);
}

void PgChangeListener::Run() {
  std::unique_ptr<Connection> conn;
  while (!stopped()) {
    if (conn == nullptr) {
      conn = Connect();
      // After every (re)connect: whatever was missed meanwhile.
      if (conn != nullptr) on_change_();
      continue;
    }
    if (WaitForNotifications(conn) && conn != nullptr) on_change_();
  }
}

}  // namespace token_authority::storage::pg

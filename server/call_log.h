// One log line per RPC: method, organisation, status code, latency and request
// id. Never a token, a JWT or a key: the line is built only from the fields
// below, and free-text fields are sanitised (printable ASCII, length-capped).
#ifndef SERVER_CALL_LOG_H_
#define SERVER_CALL_LOG_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/mutex.h"

namespace token_authority::server {

// What is logged about one call.
struct CallRecord {
  absl::Time time;                    // when the call ended
  absl::string_view method;           // e.g. "TokenService/IssueToken"
  absl::string_view organization_id;  // may be empty (unauthenticated calls)
  absl::StatusCode code = absl::StatusCode::kOk;
  absl::Duration latency;
  absl::string_view request_id;  // the caller's x-request-id or request_id
  absl::string_view peer;        // gRPC's peer, e.g. "ipv4:127.0.0.1:50312"
};

// Formats `record` as one line without the trailing newline, e.g.
// `2026-12-02T10:45:01.123Z rpc method=TokenService/IssueToken org=o_1
// code=OK latency_us=812 request_id=r-1 peer=ipv4:127.0.0.1:50312` (the time
// in UTC, to the millisecond). Pure, thread-safe.
std::string FormatCallRecord(const CallRecord& record);

// Receives call lines. Implementations are thread-safe.
class CallLog {
 public:
  virtual ~CallLog() = default;
  // Records one call. Never blocks on I/O for long; never fails.
  virtual void Record(const CallRecord& record) = 0;
  // Writes out whatever is buffered. Blocks until written.
  virtual void Flush() = 0;
};

// A CallLog that buffers lines and writes them to a file descriptor (stderr by
// default) from a background thread ("ta-call-log") at least every
// `flush_interval` and as soon as 64 KiB are buffered, and on Flush() /
// destruction. The descriptor is not owned.
class FdCallLog : public CallLog {
 public:
  static std::unique_ptr<FdCallLog> Create(
      int fd = 2, absl::Duration flush_interval = absl::Milliseconds(200));
  ~FdCallLog() override;

  void Record(const CallRecord& record) override;
  void Flush() override;

 private:
  explicit FdCallLog(int fd);
  void WriteOut(const std::string& chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const int fd_;
  // Serialises writes to fd_; taken before mu_.
  Mutex write_mu_;
  Mutex mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  // Flushes every flush_interval, and when woken by Record.
  BackgroundLoop flusher_;
};

// A CallLog that keeps every line in memory (for tests and benchmarks).
class MemoryCallLog : public CallLog {
 public:
  void Record(const CallRecord& record) override;
  void Flush() override {}
  // Every line recorded so far, each ending in '\n'.
  std::string Contents() const;

 private:
  mutable Mutex mu_;
  std::string lines_ ABSL_GUARDED_BY(mu_);
};

// A CallLog that drops everything.
class NullCallLog : public CallLog {
 public:
  void Record(const CallRecord&) override {}
  void Flush() override {}
};

}  // namespace token_authority::server

#endif  // SERVER_CALL_LOG_H_

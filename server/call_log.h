// One log line per RPC: method, organisation, status code, latency and request
// id. Never a token, a JWT or a key: the line is built only from the fields
// below, and free-text fields are sanitised (printable ASCII, length-capped).
#ifndef SERVER_CALL_LOG_H_
#define SERVER_CALL_LOG_H_

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace token_authority::server {

// What is logged about one call.
struct CallRecord {
  absl::string_view method;           // e.g. "TokenService/IssueToken"
  absl::string_view organization_id;  // may be empty (unauthenticated calls)
  absl::StatusCode code = absl::StatusCode::kOk;
  absl::Duration latency;
  absl::string_view request_id;  // the caller's x-request-id or request_id
};

// Formats `record` as one line without the trailing newline, e.g.
// `rpc method=TokenService/IssueToken org=o_1 code=OK latency_us=812
// request_id=r-1`. Pure, thread-safe.
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
// default) from a background thread at least every `flush_interval`, and on
// Flush() / destruction. The descriptor is not owned.
class FdCallLog : public CallLog {
 public:
  static std::unique_ptr<FdCallLog> Create(
      int fd = 2, absl::Duration flush_interval = absl::Milliseconds(200));
  ~FdCallLog() override;

  void Record(const CallRecord& record) override;
  void Flush() override;

 private:
  FdCallLog(int fd, absl::Duration flush_interval);
  void Run();
  void WriteOut(std::string& chunk);  // requires write_mu_ held

  const int fd_;
  const absl::Duration flush_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;   // guarded by mu_
  bool stop_ = false;    // guarded by mu_
  std::mutex write_mu_;  // serialises writes to fd_
  std::thread thread_;
};

// A CallLog that keeps every line in memory (for tests and benchmarks).
class MemoryCallLog : public CallLog {
 public:
  void Record(const CallRecord& record) override;
  void Flush() override {}
  // Every line recorded so far, each ending in '\n'.
  std::string Contents() const;

 private:
  mutable std::mutex mu_;
  std::string lines_;
};

// A CallLog that drops everything.
class NullCallLog : public CallLog {
 public:
  void Record(const CallRecord&) override {}
  void Flush() override {}
};

}  // namespace token_authority::server

#endif  // SERVER_CALL_LOG_H_

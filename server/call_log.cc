#include "server/call_log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/thread_name.h"

namespace token_authority::server {
namespace {

constexpr size_t kMaxFieldLength = 128;
constexpr size_t kFlushThreshold = 64 * 1024;

// Keeps printable ASCII other than space and '=' (so the line stays
// machine-readable), replaces the rest with '?', caps the length.
std::string Sanitize(absl::string_view in) {
  std::string out;
  const size_t n = in.size() < kMaxFieldLength ? in.size() : kMaxFieldLength;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    out.push_back((c > 0x20 && c < 0x7f && c != '=') ? static_cast<char>(c)
                                                     : '?');
  }
  if (in.size() > kMaxFieldLength) out += "...";
  return out;
}

std::string CodeName(absl::StatusCode code) {
  // absl's names are "OK", "INVALID_ARGUMENT", ...: the same as gRPC's.
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

}  // namespace

std::string FormatCallRecord(const CallRecord& record) {
  std::string line = absl::StrCat(
      "rpc method=", Sanitize(record.method), " org=",
      record.organization_id.empty() ? "-" : Sanitize(record.organization_id),
      " code=", CodeName(record.code),
      " latency_us=", absl::ToInt64Microseconds(record.latency));
  absl::StrAppend(
      &line, " request_id=",
      record.request_id.empty() ? "-" : Sanitize(record.request_id));
  return line;
}

std::unique_ptr<FdCallLog> FdCallLog::Create(int fd,
                                             absl::Duration flush_interval) {
  return std::unique_ptr<FdCallLog>(new FdCallLog(fd, flush_interval));
}

FdCallLog::FdCallLog(int fd, absl::Duration flush_interval)
    : fd_(fd), flush_interval_(flush_interval) {
  thread_ = StartNamedThread("ta-call-log", [this] { Run(); });
}

FdCallLog::~FdCallLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Flush();
}

void FdCallLog::Record(const CallRecord& record) {
  std::string line = FormatCallRecord(record);
  line.push_back('\n');
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    buffer_ += line;
    wake = buffer_.size() >= kFlushThreshold;
  }
  if (wake) cv_.notify_one();
}

void FdCallLog::Flush() {
  // write_mu_ is taken first so that chunks reach the descriptor in order.
  std::lock_guard<std::mutex> write_lock(write_mu_);
  std::string chunk;
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunk.swap(buffer_);
  }
  WriteOut(chunk);
}

void FdCallLog::WriteOut(std::string& chunk) {
  size_t done = 0;
  while (done < chunk.size()) {
    const ssize_t n = ::write(fd_, chunk.data() + done, chunk.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Logging never fails a call; a broken stderr drops lines.
    }
    done += static_cast<size_t>(n);
  }
}

void FdCallLog::Run() {
  const auto interval =
      std::chrono::microseconds(absl::ToInt64Microseconds(flush_interval_));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval,
                 [this] { return stop_ || buffer_.size() >= kFlushThreshold; });
    lock.unlock();
    Flush();
    lock.lock();
  }
}

void MemoryCallLog::Record(const CallRecord& record) {
  std::string line = FormatCallRecord(record);
  std::lock_guard<std::mutex> lock(mu_);
  lines_ += line;
  lines_.push_back('\n');
}

std::string MemoryCallLog::Contents() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

}  // namespace token_authority::server

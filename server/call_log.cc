#include "server/call_log.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace token_authority::server {
namespace {

constexpr size_t kMaxFieldLength = 128;
constexpr size_t kFlushThreshold = size_t{64} * 1024;

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
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", record.time,
                       absl::UTCTimeZone()),
      " rpc method=", Sanitize(record.method), " org=",
      record.organization_id.empty() ? "-" : Sanitize(record.organization_id),
      " code=", CodeName(record.code),
      " latency_us=", absl::ToInt64Microseconds(record.latency));
  absl::StrAppend(&line, " request_id=",
                  record.request_id.empty() ? "-" : Sanitize(record.request_id),
                  " peer=", record.peer.empty() ? "-" : Sanitize(record.peer));
  return line;
}

std::unique_ptr<FdCallLog> FdCallLog::Create(int fd,
                                             absl::Duration flush_interval) {
  std::unique_ptr<FdCallLog> log(new FdCallLog(fd));
  FdCallLog* self = log.get();
  log->flusher_.Start("ta-call-log", flush_interval, [self] { self->Flush(); });
  return log;
}

FdCallLog::FdCallLog(int fd) : fd_(fd) {}

FdCallLog::~FdCallLog() {
  flusher_.Stop();
  Flush();
}

void FdCallLog::Record(const CallRecord& record) {
  std::string line = FormatCallRecord(record);
  line.push_back('\n');
  bool wake = false;
  {
    MutexLock lock(&mu_);
    buffer_ += line;
    wake = buffer_.size() >= kFlushThreshold;
  }
  if (wake) flusher_.Wake();
}

void FdCallLog::Flush() {
  // write_mu_ is taken first so that chunks reach the descriptor in order.
  MutexLock write_lock(&write_mu_);
  std::string chunk;
  {
    MutexLock lock(&mu_);
    chunk.swap(buffer_);
  }
  WriteOut(chunk);
}

void FdCallLog::WriteOut(const std::string& chunk) {
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

void MemoryCallLog::Record(const CallRecord& record) {
  std::string line = FormatCallRecord(record);
  MutexLock lock(&mu_);
  lines_ += line;
  lines_.push_back('\n');
}

std::string MemoryCallLog::Contents() const {
  MutexLock lock(&mu_);
  return lines_;
}

}  // namespace token_authority::server

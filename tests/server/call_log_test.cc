#include "server/call_log.h"

#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CallLogTest, FormatsEveryField) {
  CallRecord r;
  r.method = "TokenService/IssueToken";
  r.organization_id = "org_1";
  r.code = absl::StatusCode::kInvalidArgument;
  r.latency = absl::Microseconds(812);
  r.request_id = "req-7";
  r.peer = "ipv6:[::1]:50312";
  r.time = absl::FromUnixMillis(1764672301123);
  EXPECT_EQ(FormatCallRecord(r),
            "2025-12-02T10:45:01.123Z rpc method=TokenService/IssueToken "
            "org=org_1 "
            "code=INVALID_ARGUMENT latency_us=812 request_id=req-7 "
            "peer=ipv6:[::1]:50312");
}

TEST(CallLogTest, EmptyFieldsBecomeDashes) {
  CallRecord r;
  r.method = "Health/Check";
  EXPECT_EQ(FormatCallRecord(r),
            "1970-01-01T00:00:00.000Z rpc method=Health/Check org=- code=OK "
            "latency_us=0 request_id=- "
            "peer=-");
}

TEST(CallLogTest, SanitisesAndCapsFreeText) {
  CallRecord r;
  r.method = "m";
  r.request_id = "a b\nc=d\x01";
  EXPECT_THAT(FormatCallRecord(r), HasSubstr("request_id=a?b?c?d?"));
  std::string longid(500, 'x');
  r.request_id = longid;
  const std::string line = FormatCallRecord(r);
  EXPECT_THAT(line, HasSubstr(std::string(128, 'x') + "..."));
  EXPECT_THAT(line, Not(HasSubstr(std::string(129, 'x'))));
}

TEST(CallLogTest, MemoryLogKeepsLines) {
  MemoryCallLog log;
  CallRecord r;
  r.method = "a";
  log.Record(r);
  r.method = "b";
  log.Record(r);
  EXPECT_THAT(log.Contents(), HasSubstr("method=a "));
  EXPECT_THAT(log.Contents(), HasSubstr("method=b "));
}

TEST(CallLogTest, FdLogWritesOnFlushAndOnDestruction) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    auto log = FdCallLog::Create(fds[1], absl::Hours(1));
    CallRecord r;
    r.method = "first";
    log->Record(r);
    log->Flush();
    char buf[256] = {};
    const ssize_t n = ::read(fds[0], buf, sizeof(buf) - 1);
    ASSERT_GT(n, 0);
    EXPECT_THAT(std::string(buf, n), HasSubstr("method=first "));
    r.method = "second";
    log->Record(r);
  }
  ::close(fds[1]);
  std::string rest;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) rest.append(buf, n);
  ::close(fds[0]);
  EXPECT_THAT(rest, HasSubstr("method=second "));
}

TEST(CallLogTest, FdLogFlushesInTheBackground) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto log = FdCallLog::Create(fds[1], absl::Milliseconds(5));
  CallRecord r;
  r.method = "bg";
  log->Record(r);
  // Blocks until the background thread writes; fails by timeout otherwise.
  char buf[256] = {};
  const ssize_t n = ::read(fds[0], buf, sizeof(buf) - 1);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(buf, n), HasSubstr("method=bg "));
  log.reset();
  ::close(fds[1]);
  ::close(fds[0]);
}

}  // namespace
}  // namespace token_authority::server

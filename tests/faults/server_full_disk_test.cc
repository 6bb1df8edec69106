// A full disk under the REAL token-authority binary, through gRPC (the
// store-level counterpart is full_disk_test.cc). The server runs on a small
// tmpfs of its own (a mount namespace of the child: root, or unprivileged
// user namespaces, are needed; otherwise the test skips and says why). Once
// the test has filled that file system, the README's promise holds:
//  - IssueToken fails with RESOURCE_EXHAUSTED (every failure; none is
//    UNAVAILABLE or anything else), and a refused token is not stored;
//  - VerifyToken keeps answering for tokens issued before (allowed) and
//    GetToken keeps reading every acknowledged token;
//  - when space returns, writes resume on the same server: each refused
//    request, retried with its request_id, yields exactly one token;
//  - grpc.health.v1 says NOT_SERVING while the disk is full and SERVING
//    once space returns.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/faults/server_client.h"
#include "tests/faults/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;

// Room for the database, its WAL and wal-index after start-up and a few
// tokens; the filler takes the rest.
constexpr int64_t kDiskBytes = 8 << 20;
// IssueToken calls on the full disk: the WAL reuses the space it already
// has (as on a real disk), so a few may still fit before the refusals.
constexpr int kMaxAttempts = 400;
constexpr int kRefusalsWanted = 5;
constexpr char kTag[] = "full-disk";

// Fills the file system holding `path` with one file: big writes, then
// smaller ones down to a byte, until ENOSPC. The bytes written, or -1 (with
// a test failure) if the file cannot be made or another error stops it.
int64_t FillDisk(const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return -1;
  }
  const std::string chunk(1 << 16, 'f');
  int64_t written = 0;
  for (size_t size = chunk.size(); size > 0; size /= 2) {
    while (true) {
      const ssize_t n = ::write(fd, chunk.data(), size);
      if (n > 0) {
        written += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != ENOSPC) {
        ADD_FAILURE() << "write " << path << ": " << std::strerror(errno);
        ::close(fd);
        return -1;
      }
      break;  // ENOSPC: try a smaller piece
    }
  }
  ::close(fd);
  return written;
}

v1::IssueTokenRequest Issue(const std::string& request_id) {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      "cam-1");
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  req.mutable_spec()->set_tag(kTag);
  req.set_request_id(request_id);
  return req;
}

class ServerFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    data_ = tmp_.File("data");
    ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
    ChildSetup small_disk;
    small_disk.tmpfs_bytes = kDiskBytes;
    small_disk.mount_dir = data_;
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(TA_SERVER_BINARY, data_, tmp_.File("server.log"),
                             {}, absl::Seconds(30), small_disk);
    if (absl::IsFailedPrecondition(server.status())) {
      GTEST_SKIP() << "no size-limited file system for the server: "
                   << server.status().message()
                   << " (needs root, or unprivileged user namespaces, to "
                      "mount a tmpfs in a mount namespace of the child)";
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    // The child's data directory, as this process reaches it.
    disk_ = server_->root() + data_;
    creds_ = Bootstrap(server_->address(), disk_ + "/admin.key",
                       /*verifier=*/true);
    ASSERT_FALSE(creds_.issuer_key.empty());
    ASSERT_FALSE(creds_.verifier_key.empty());
    tokens_ = v1::TokenService::NewStub(NewChannel(server_->address()));
  }

  grpc::Status IssueToken(const std::string& request_id,
                          v1::IssueTokenResponse* response) {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds_.issuer_key);
    return tokens_->IssueToken(&ctx, Issue(request_id), response);
  }

  // VerifyToken of `jwt` for cam-1 of the organisation.
  grpc::Status Verify(const std::string& jwt, v1::VerifyTokenResponse* out) {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds_.verifier_key);
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(creds_.organization_id);
    req.set_stream_name("cam-1");
    return tokens_->VerifyToken(&ctx, req, out);
  }

  grpc::Status GetToken(const std::string& id, v1::Token* out) {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds_.issuer_key);
    v1::GetTokenRequest req;
    req.set_token_id(id);
    return tokens_->GetToken(&ctx, req, out);
  }

  // request_id -> number of tokens with it, over every token of kTag.
  std::map<std::string, int> TokensPerRequestId() {
    std::map<std::string, int> out;
    v1::ListTokensRequest list;
    list.set_tag(kTag);
    list.set_page_size(1000);
    while (true) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds_.issuer_key);
      v1::ListTokensResponse page;
      grpc::Status s = tokens_->ListTokens(&ctx, list, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const v1::Token& t : page.tokens()) ++out[t.request_id()];
      if (page.next_page_token().empty()) break;
      list.set_page_token(page.next_page_token());
    }
    return out;
  }

  // The server's stderr so far (its call log and health lines).
  std::string ServerLog() const {
    std::ifstream in(tmp_.File("server.log"));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  TempDir tmp_;
  std::string data_, disk_;
  std::unique_ptr<ServerProcess> server_;
  Credentials creds_;
  std::unique_ptr<v1::TokenService::Stub> tokens_;
};

TEST_F(ServerFullDiskTest, WritesAreRefusedVerificationGoesOnWritesResume) {
  // Tokens issued while there is room.
  std::map<std::string, std::string> acked;  // token id -> request_id
  std::string early_jwt;
  for (int i = 0; i < 5; ++i) {
    const std::string request_id = absl::StrCat("before-", i);
    v1::IssueTokenResponse resp;
    grpc::Status s = IssueToken(request_id, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    acked[resp.token().id()] = request_id;
    early_jwt = resp.jwt();
  }

  const int64_t filled = FillDisk(disk_ + "/filler");
  ASSERT_GT(filled, 0) << "the disk had no room left to fill";

  // Writes on the full disk: every failure is RESOURCE_EXHAUSTED.
  std::vector<std::string> refused;  // request_ids
  std::map<grpc::StatusCode, int> codes;
  std::string example;
  int attempts = 0;
  for (; attempts < kMaxAttempts &&
         static_cast<int>(refused.size()) < kRefusalsWanted;
       ++attempts) {
    const std::string request_id = absl::StrCat("full-", attempts);
    v1::IssueTokenResponse resp;
    grpc::Status s = IssueToken(request_id, &resp);
    if (s.ok()) {
      acked[resp.token().id()] = request_id;
      continue;
    }
    ++codes[s.error_code()];
    if (example.empty()) example = s.error_message();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << request_id << ": " << s.error_message();
    refused.push_back(request_id);
  }
  ASSERT_EQ(static_cast<int>(refused.size()), kRefusalsWanted)
      << "the full disk refused only " << refused.size() << " of " << attempts
      << " IssueToken calls";
  EXPECT_THAT(example, HasSubstr("full"));

  // Verification and reads go on while the disk is full.
  v1::VerifyTokenResponse verdict;
  grpc::Status s = Verify(early_jwt, &verdict);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(verdict.allowed()) << verdict.detail();
  for (const auto& [id, request_id] : acked) {
    v1::Token t;
    s = GetToken(id, &t);
    EXPECT_TRUE(s.ok()) << "acknowledged token " << id << ": "
                        << s.error_message();
    EXPECT_EQ(t.request_id(), request_id);
  }
  // A refused token was not stored.
  std::map<std::string, int> per_request_id = TokensPerRequestId();
  for (const std::string& request_id : refused) {
    EXPECT_EQ(per_request_id.count(request_id), 0u)
        << request_id << " was refused but stored";
  }

  // Space returns: the same server writes again, each refused request once.
  ASSERT_EQ(::unlink((disk_ + "/filler").c_str()), 0) << std::strerror(errno);
  for (const std::string& request_id : refused) {
    v1::IssueTokenResponse resp;
    s = IssueToken(request_id, &resp);
    ASSERT_TRUE(s.ok()) << request_id << ": " << s.error_message();
    acked[resp.token().id()] = request_id;
    s = Verify(resp.jwt(), &verdict);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(verdict.allowed()) << verdict.detail();
  }
  per_request_id = TokensPerRequestId();
  for (const auto& [id, request_id] : acked) {
    EXPECT_EQ(per_request_id[request_id], 1) << request_id;
  }
  EXPECT_EQ(per_request_id.size(), acked.size());
  // An idle channel would answer the server's GOAWAY only at its next
  // backup poll (5 s): close it first.
  tokens_.reset();
  EXPECT_EQ(server_->Terminate(), 0);

  std::string code_list;
  for (const auto& [code, n] : codes) absl::StrAppend(&code_list, code, "x", n);
  std::printf(
      "[server full disk] tmpfs of %lld bytes, filler %lld bytes; %d "
      "IssueToken calls on the full disk: %zu refused (codes %s, e.g. "
      "\"%s\"), the rest acknowledged; VerifyToken and GetToken answered "
      "throughout; %zu acknowledged tokens, each request_id once after "
      "space returned\n",
      static_cast<long long>(kDiskBytes), static_cast<long long>(filled),
      attempts, refused.size(), code_list.c_str(), example.c_str(),
      acked.size());
}

// grpc.health.v1 follows the disk: NOT_SERVING once writes fail on the full
// disk (the store's writer saw a failed transaction and the health probe
// cannot write either), SERVING again once space returns, without a write in
// between.
TEST_F(ServerFullDiskTest, HealthIsNotServingWhileTheDiskIsFull) {
  auto health_stub =
      grpc::health::v1::Health::NewStub(NewChannel(server_->address()));
  auto status = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     Scaled(std::chrono::seconds(10)));
    grpc::health::v1::HealthCheckResponse resp;
    const grpc::Status s =
        health_stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  };
  // The server checks every second: wait up to 30 s (scaled) for `want`.
  auto wait_for =
      [&](grpc::health::v1::HealthCheckResponse::ServingStatus want) {
        const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
        while (absl::Now() < deadline) {
          if (status() == want) return true;
          absl::SleepFor(absl::Milliseconds(50));
        }
        return false;
      };
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::SERVING);

  ASSERT_GT(FillDisk(disk_ + "/filler"), 0);
  int refusals = 0;
  for (int i = 0; i < kMaxAttempts && refusals == 0; ++i) {
    v1::IssueTokenResponse resp;
    if (!IssueToken(absl::StrCat("h-", i), &resp).ok()) ++refusals;
  }
  ASSERT_EQ(refusals, 1) << "the full disk refused no IssueToken call";
  EXPECT_TRUE(wait_for(grpc::health::v1::HealthCheckResponse::NOT_SERVING))
      << "server stderr:\n"
      << ServerLog();

  ASSERT_EQ(::unlink((disk_ + "/filler").c_str()), 0) << std::strerror(errno);
  EXPECT_TRUE(wait_for(grpc::health::v1::HealthCheckResponse::SERVING))
      << "server stderr:\n"
      << ServerLog();
  health_stub.reset();
  tokens_.reset();
  EXPECT_EQ(server_->Terminate(), 0);
}

}  // namespace
}  // namespace token_authority::testing

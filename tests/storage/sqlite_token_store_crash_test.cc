// Nothing acknowledged is lost: a child process writes tokens and
// revocations through the group-commit writer from many threads and reports
// each acknowledged id on a pipe; the parent kills it with SIGKILL at a
// random moment, reopens the database and checks that every acknowledged
// write is there and that PRAGMA integrity_check is ok. 20+ rounds.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using testing::MakeKey;
using testing::MakeOrg;
using testing::TempDir;

constexpr int kRounds = 24;
constexpr int kWriterThreads = 16;

SqliteTokenStoreOptions StoreOptions(const TempDir& dir) {
  SqliteTokenStoreOptions o;
  o.path = dir.File("crash.db");
  o.key_encryption_key_path = dir.File("kek.key");
  o.sweep_interval = absl::ZeroDuration();
  return o;  // synchronous = FULL, real clock, secure randomness
}

void WriteLine(int fd, const std::string& line) {
  // One write() of less than PIPE_BUF bytes: atomic, never interleaved.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::_exit(3);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The child: writes until killed. Never returns.
[[noreturn]] void RunChild(const TempDir& dir, int fd) {
  auto store = SqliteTokenStore::Open(StoreOptions(dir));
  if (!store.ok()) {
    std::fprintf(stderr, "child open: %s\n", store.status().ToString().c_str());
    ::_exit(2);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriterThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        Token tok = testing::MakeToken(
            RandomSource::Secure(), "acme", "acme-k1",
            absl::FromUnixSeconds(absl::ToUnixSeconds(Clock::Real().Now())),
            absl::Hours(1));
        tok.tag = absl::StrCat("thread-", t);
        tok.request_id = absl::StrCat("r-", tok.id);
        auto r = (*store)->InsertToken(tok, {});
        if (!r.ok()) ::_exit(4);
        WriteLine(fd, absl::StrCat("T ", tok.id, "\n"));
        if (i % 3 == 0) {
          auto rv = (*store)->RevokeToken("acme", tok.id, "crash test", {});
          if (!rv.ok()) ::_exit(5);
          WriteLine(fd, absl::StrCat("R ", tok.id, " ", rv->revocation_sequence,
                                     "\n"));
        }
      }
    });
  }
  // Safety net: the parent kills us long before this.
  absl::SleepFor(absl::Seconds(20));
  ::_exit(6);
}

TEST(SqliteTokenStoreCrashTest, AcknowledgedWritesSurviveSigkill) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, SqliteTokenStore::Open(StoreOptions(dir)));
    ASSERT_OK(store->CreateOrganization(MakeOrg("acme"), {}).status());
    ASSERT_OK(store->RotateSigningKey(MakeKey("acme", "acme-k1"), {}).status());
  }
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  std::printf("seed %u\n", seed);
  std::set<std::string> tokens;
  std::map<std::string, int64_t> revoked;
  size_t torn_lines = 0;

  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(dir, fds[1]);
    }
    ::close(fds[1]);
    // Kill somewhere between "barely started" and "well into it".
    const int kill_after_ms = std::uniform_int_distribution<int>(5, 600)(rng);
    std::string buffer;
    char chunk[4096];
    bool killed = false;
    const absl::Time kill_at =
        Clock::Real().Now() + absl::Milliseconds(kill_after_ms);
    while (true) {
      int timeout_ms = -1;
      if (!killed) {
        timeout_ms = static_cast<int>(std::max<int64_t>(
            0, absl::ToInt64Milliseconds(kill_at - Clock::Real().Now())));
      }
      pollfd p{fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready == 0 && !killed) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        killed = true;
        continue;
      }
      const ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      ASSERT_GE(n, 0);
      if (n == 0) break;  // child gone, pipe drained
      buffer.append(chunk, static_cast<size_t>(n));
      if (!killed && Clock::Real().Now() >= kill_at) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        killed = true;
      }
    }
    ::close(fds[0]);
    int status = 0;
    if (!::token_authority::testing::WaitForExit(
            pid, ::token_authority::testing::Scaled(absl::Seconds(30)),
            &status)) {
      ::token_authority::testing::KillAndReap(pid);
      FAIL() << "the child did not exit within 30 s of its SIGKILL";
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited on its own, status " << status;

    // Only complete lines were acknowledged.
    std::vector<std::string> lines = absl::StrSplit(buffer, '\n');
    if (!lines.back().empty()) ++torn_lines;
    lines.pop_back();
    for (const std::string& line : lines) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f[0] == "T") {
        ASSERT_EQ(f.size(), 2u) << line;
        tokens.insert(f[1]);
      } else {
        ASSERT_EQ(f.size(), 3u) << line;
        revoked[f[1]] = std::stoll(f[2]);
      }
    }

    ASSERT_OK_AND_ASSIGN(auto store, SqliteTokenStore::Open(StoreOptions(dir)));
    ASSERT_OK(store->CheckIntegrity()) << "round " << round;
    for (const std::string& id : tokens) {
      auto t = store->GetToken("acme", id);
      ASSERT_TRUE(t.ok()) << "round " << round << ": acknowledged token " << id
                          << " lost: " << t.status();
      auto it = revoked.find(id);
      if (it != revoked.end()) {
        ASSERT_TRUE(t->revoked_at.has_value())
            << "round " << round << ": acknowledged revocation of " << id
            << " lost";
        ASSERT_EQ(t->revocation_sequence, it->second);
      }
    }
    ASSERT_OK_AND_ASSIGN(int64_t max_seq, store->MaxRevocationSequence());
    for (const auto& [id, seq] : revoked) ASSERT_LE(seq, max_seq);
  }
  std::printf(
      "%d SIGKILL rounds: %zu acknowledged tokens and %zu acknowledged "
      "revocations all present; integrity_check ok (%zu torn pipe lines "
      "ignored)\n",
      kRounds, tokens.size(), revoked.size(), torn_lines);
  EXPECT_GT(tokens.size(), 100u);
  EXPECT_GT(revoked.size(), 30u);
}

}  // namespace
}  // namespace token_authority::storage

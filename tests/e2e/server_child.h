// The token-authority binary (TA_SERVER_BINARY) as a child process for the
// end-to-end tests of the binary: its arguments and environment, its first
// stdout line, signals, and its exit, every wait with a deadline (scaled by
// SanitizerTimeScale()): a server that hangs fails the test instead of
// hanging it.
#ifndef TESTS_E2E_SERVER_CHILD_H_
#define TESTS_E2E_SERVER_CHILD_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/start_line.h"
#include "tests/testing/child_process.h"
#include "tests/testing/time_scale.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {

// Reads from `fd` until `done(buffer)`, EOF or `timeout` (not scaled); the
// data read.
inline std::string ReadFdUntil(
    int fd, absl::Duration timeout,
    const std::function<bool(const std::string&)>& done) {
  std::string out;
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  while (!done(out)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// "token-authority listening on 127.0.0.1:PORT (...)" -> "127.0.0.1:PORT",
// or "" for any other line.
inline std::string LoopbackAddressOf(const std::string& line) {
  std::string address = server::ListenAddressFromStartLine(line);
  return address.rfind("127.0.0.1:", 0) == 0 ? address : "";
}

// A running token-authority child. The destructor SIGKILLs it if it was not
// waited for.
class ServerChild {
 public:
  ServerChild(std::vector<std::string> args,
              std::map<std::string, std::string> env) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    // Everything the child needs, made before fork.
    std::string binary = TA_SERVER_BINARY;
    std::vector<char*> argv;
    argv.push_back(binary.data());
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~ServerChild() {
    if (pid_ > 0 && !reaped_) KillAndReap(pid_);
    ::close(out_);
    ::close(err_);
  }
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;

  // The first line on stdout ("" if none came within `timeout`, scaled).
  std::string FirstLine(absl::Duration timeout = absl::Seconds(30)) {
    if (stdout_.find('\n') == std::string::npos) {
      stdout_ += ReadFdUntil(out_, Scaled(timeout), [](const std::string& s) {
        return s.find('\n') != std::string::npos;
      });
    }
    const size_t nl = stdout_.find('\n');
    return nl == std::string::npos ? "" : stdout_.substr(0, nl);
  }
  // The server's address from its start line ("" if there is none).
  std::string Address() { return LoopbackAddressOf(FirstLine()); }
  void Signal(int sig) {
    if (!reaped_) ::kill(pid_, sig);
  }
  // Waits up to `timeout` (scaled) for the exit and collects what is left on
  // stdout and stderr. The exit code, or -1 if killed by a signal. A child
  // still running then is SIGKILLed and the test fails (-1).
  int Wait(absl::Duration timeout = absl::Seconds(30)) {
    int status = 0;
    if (!WaitForExit(pid_, Scaled(timeout), &status)) {
      KillAndReap(pid_, &status);
      ADD_FAILURE() << "token-authority did not exit within " << Scaled(timeout)
                    << "; SIGKILLed";
      reaped_ = true;
      return -1;
    }
    reaped_ = true;
    // The child is gone: its pipes end at once (EOF).
    const auto all = [](const std::string&) { return false; };
    stdout_ += ReadFdUntil(out_, Scaled(absl::Seconds(10)), all);
    stderr_ += ReadFdUntil(err_, Scaled(absl::Seconds(10)), all);
    return ExitCode(status);
  }
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string stdout_, stderr_;
};

}  // namespace token_authority::testing

#endif  // TESTS_E2E_SERVER_CHILD_H_

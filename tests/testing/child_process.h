// Waiting for a child process with a deadline: a child that hangs must make
// the test fail, not hang it until ctest's timeout.
//
//   int status = 0;
//   if (!WaitForExit(pid, Scaled(absl::Seconds(30)), &status)) {
//     KillAndReap(pid);
//     ADD_FAILURE() << "the child did not exit within 30 s";
//   }
#ifndef TESTS_TESTING_CHILD_PROCESS_H_
#define TESTS_TESTING_CHILD_PROCESS_H_

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {

// Waits up to `timeout` for the child `pid` to exit. True once it was reaped
// (its wait status in *status); false if it still runs after `timeout` or
// cannot be waited for (not our child).
inline bool WaitForExit(pid_t pid, absl::Duration timeout, int* status) {
  const absl::Time deadline = absl::Now() + timeout;
  int ignored = 0;
  if (status == nullptr) status = &ignored;
  while (true) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return false;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// SIGKILLs the child `pid` and reaps it. False if it was still not gone
// after 10 s (scaled): SIGKILL cannot be caught, so only a process stuck in
// the kernel stays.
inline bool KillAndReap(pid_t pid, int* status = nullptr) {
  ::kill(pid, SIGKILL);
  return WaitForExit(pid, Scaled(absl::Seconds(10)), status);
}

// The exit code of a wait status, or -1 if the child was killed by a signal.
inline int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_CHILD_PROCESS_H_

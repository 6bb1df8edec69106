// Runs Prometheus' own checker, `promtool check metrics` (Debian's
// prometheus package, installed by scripts/install-deps), on a scrape: the
// format's reference implementation and its lint rules (counter names end in
// _total, help text present, base units).
#ifndef TESTS_SERVER_PROMTOOL_H_
#define TESTS_SERVER_PROMTOOL_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/time.h"
#include "tests/testing/child_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {

inline constexpr char kPromtool[] = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_code = -1;  // -1: did not run or did not finish
  std::string output;  // stdout and stderr
};

// `promtool check metrics` with `text` on its standard input.
inline PromtoolResult PromtoolCheckMetrics(const std::string& text) {
  PromtoolResult r;
  TempDir dir;
  const std::string in = dir.File("scrape.txt");
  const std::string out = dir.File("promtool.out");
  {
    std::ofstream f(in, std::ios::binary);
    f << text;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    const int in_fd = ::open(in.c_str(), O_RDONLY);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in_fd < 0 || out_fd < 0) _exit(125);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    execl(kPromtool, kPromtool, "check", "metrics",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) return r;
  int status = 0;
  if (!WaitForExit(pid, Scaled(absl::Seconds(30)), &status)) {
    KillAndReap(pid);
    r.output = "promtool did not finish within 30 s";
    return r;
  }
  r.exit_code = ExitCode(status);
  std::ifstream f(out, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  if (r.exit_code == 127) {
    r.output = std::string(kPromtool) +
               " is missing: scripts/install-deps installs Debian's "
               "prometheus package, which has it";
  }
  return r;
}

}  // namespace token_authority::testing

#endif  // TESTS_SERVER_PROMTOOL_H_

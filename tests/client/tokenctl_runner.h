// Runs the real tokenctl binary (TOKENCTL_BINARY) as a subprocess for the
// client tests: stdin from a string, stdout/stderr captured, exit code.
#ifndef TESTS_CLIENT_TOKENCTL_RUNNER_H_
#define TESTS_CLIENT_TOKENCTL_RUNNER_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/testing/child_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

extern char** environ;

namespace token_authority::client {

struct Result {
  int code = -1;
  std::string out, err;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

// A temporary directory, removed at the end (tests/testing/temp_dir.h).
using TempDir = ::token_authority::testing::TempDir;

// How long one tokenctl run may take before it counts as hung.
inline constexpr absl::Duration kTokenctlTimeout = absl::Seconds(60);

// Runs the tokenctl binary with `args`, `input` on stdin and
// TOKENCTL_API_KEY=`api_key` (unset when empty).
inline Result Tokenctl(const TempDir& dir, const std::vector<std::string>& args,
                       const std::string& api_key = "",
                       const std::string& input = "") {
  static int run = 0;
  ++run;
  const std::string in = dir.File(absl::StrCat("in", run));
  const std::string out = dir.File(absl::StrCat("out", run));
  const std::string err = dir.File(absl::StrCat("err", run));
  WriteFile(in, input);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv_s = {TOKENCTL_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "TOKENCTL_API_KEY=")) env_s.push_back(*e);
  }
  if (!api_key.empty()) env_s.push_back("TOKENCTL_API_KEY=" + api_key);
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid;
  Result r;
  if (posix_spawn(&pid, TOKENCTL_BINARY, &actions, nullptr, argv.data(),
                  envp.data()) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    r.err = "spawn failed";
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  const absl::Duration timeout = testing::Scaled(kTokenctlTimeout);
  if (!testing::WaitForExit(pid, timeout, &status)) {
    testing::KillAndReap(pid);
    ADD_FAILURE() << "tokenctl did not exit within " << timeout;
    r.err = "tokenctl timed out";
    return r;
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

// One line on stderr, nothing else.
MATCHER(IsOneLine, "is exactly one line") {
  return !arg.empty() && arg.back() == '\n' && arg.find('\n') == arg.size() - 1;
}

}  // namespace token_authority::client

#endif  // TESTS_CLIENT_TOKENCTL_RUNNER_H_

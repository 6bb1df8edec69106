// The REAL token-authority binary as a child process, for fault and soak
// tests: start on 127.0.0.1:0 with a data directory (the address is read
// from its one start line), SIGKILL or SIGTERM it, or run it to completion
// when it is expected to refuse to start; optionally on a size-limited data
// directory or without root's file-permission override. Also small helpers
// those tests share: a digest of a directory tree, the process's resident
// memory, and a read-only PRAGMA integrity_check. Every timeout here is
// scaled by SanitizerTimeScale() (tests/testing/time_scale.h).
#ifndef TESTS_FAULTS_SERVER_PROCESS_H_
#define TESTS_FAULTS_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::testing {

// How a child is set up between fork and exec.
struct ChildSetup {
  // > 0: the child runs in a mount namespace of its own with a tmpfs of this
  // many bytes mounted on `mount_dir` (which must exist): a small disk that
  // fills up, invisible to other processes except through
  // /proc/<pid>/root (see ServerProcess::root()). Needs root (or
  // unprivileged user namespaces).
  int64_t tmpfs_bytes = 0;
  std::string mount_dir;
  // Run without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that root too
  // is refused a file of mode 000 (tests/testing/file_access.h).
  bool no_file_access_override = false;
};

// A running server child. Not thread-safe; one owner drives it. The
// destructor SIGKILLs a child that is still running.
class ServerProcess {
 public:
  // Starts `binary` with `--listen 127.0.0.1:0 --data-dir <data_dir>` plus
  // `extra_args`; its stderr is appended to `stderr_path` (empty: inherited).
  // Waits up to `timeout` (scaled) for the start line and returns once the
  // server listens. Errors: FailedPrecondition if `setup` could not be
  // applied (the message says which step failed: the test may skip);
  // Unavailable if the child exited (with its stderr's last line in the
  // message) or printed no start line in time.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::string& data_dir,
      const std::string& stderr_path,
      const std::vector<std::string>& extra_args = {},
      absl::Duration timeout = absl::Seconds(30), const ChildSetup& setup = {});
  ~ServerProcess();

  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // "/proc/<pid>/root": the child's view of the file system, where `path`
  // of the child is root() + path (also inside its own tmpfs).
  std::string root() const;
  // The start line as printed (without newline).
  const std::string& start_line() const { return start_line_; }

  // Sends SIGKILL and reaps the child (waits at most 10 s, scaled).
  void Kill();
  // Sends SIGTERM and waits up to `timeout` (scaled); the exit code, or -1
  // if the child was killed by a signal or did not stop in time (then
  // SIGKILLed).
  int Terminate(absl::Duration timeout = absl::Seconds(30));
  bool running() const { return pid_ > 0; }

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
  std::string start_line_;
};

// What a child that ran to completion did.
struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal, or it did not exit in time
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `binary args...` to completion (SIGKILL after `timeout`, scaled).
// If `setup` cannot be applied, exit_code is 126 and err says why.
ProcessResult RunToCompletion(const std::string& binary,
                              const std::vector<std::string>& args,
                              absl::Duration timeout = absl::Seconds(30),
                              const ChildSetup& setup = {});

// A SHA-256 digest (hex) over every entry below `dir`: relative path, type,
// mode, size and content, in sorted order. "absent" if `dir` does not exist.
std::string DigestTree(const std::string& dir);

// VmRSS of `pid` in KiB (from /proc/<pid>/status), or -1.
long ResidentKib(pid_t pid);

// Opens `db_path` read-only and returns the rows of PRAGMA integrity_check
// joined by newlines ("ok" for a sound database), or an error if it cannot
// be opened or queried.
absl::StatusOr<std::string> IntegrityCheckReadOnly(const std::string& db_path);

}  // namespace token_authority::testing

#endif  // TESTS_FAULTS_SERVER_PROCESS_H_

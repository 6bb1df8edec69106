#include "tests/faults/server_process.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/start_line.h"
#include "tests/testing/child_process.h"
#include "tests/testing/file_access.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {
namespace {

// Reads what `fd` has until `done(buffer)`, EOF or `deadline`.
template <typename Done>
void ReadUntil(int fd, std::string* out,
               std::chrono::steady_clock::time_point deadline, Done done) {
  while (!done(*out)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF
    out->append(buf, static_cast<size_t>(n));
  }
}

std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// ChildSetup with every string the child needs made before fork (between
// fork and exec only async-signal-safe calls are allowed).
struct PreparedSetup {
  explicit PreparedSetup(const ChildSetup& s)
      : setup(s),
        tmpfs_options(absl::StrCat("size=", s.tmpfs_bytes, ",mode=0700")),
        uid_map(absl::StrCat("0 ", ::geteuid(), " 1\n")),
        gid_map(absl::StrCat("0 ", ::getegid(), " 1\n")) {}
  const ChildSetup& setup;
  const std::string tmpfs_options, uid_map, gid_map;
};

// In the child: writes `text` to `path` (for /proc/self/*_map); 0 or errno.
int WriteProcFile(const char* path, absl::string_view text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err =
      n < 0 ? errno : (static_cast<size_t>(n) == text.size() ? 0 : EIO);
  ::close(fd);
  return err;
}

// In the child, after fork: a mount namespace of its own (as root, or
// through a user namespace where root maps to the caller) with the tmpfs.
// 0, or errno with *step naming what failed.
int EnterTmpfs(const PreparedSetup& p, const char** step) {
  *step = "unshare(CLONE_NEWNS)";
  if (::unshare(CLONE_NEWNS) != 0) {
    *step = "unshare(CLONE_NEWUSER | CLONE_NEWNS)";
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
    *step = "writing the user namespace's maps";
    int err = WriteProcFile("/proc/self/setgroups", "deny");
    if (err == 0) err = WriteProcFile("/proc/self/uid_map", p.uid_map);
    if (err == 0) err = WriteProcFile("/proc/self/gid_map", p.gid_map);
    if (err != 0) return err;
  }
  // Nothing mounted here may propagate to the parent's namespace.
  *step = "making / private";
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return errno;
  }
  *step = "mounting a tmpfs";
  if (::mount("tmpfs", p.setup.mount_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              p.tmpfs_options.c_str()) != 0) {
    return errno;
  }
  return 0;
}

// In the child, after fork: applies the setup; on failure writes errno and
// the step to `report_fd` and exits 126.
void ApplySetupOrExit(const PreparedSetup& p, int report_fd) {
  const char* step = "";
  int err = 0;
  if (p.setup.tmpfs_bytes > 0) err = EnterTmpfs(p, &step);
  if (err == 0 && p.setup.no_file_access_override) {
    step = "dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH";
    err = DropFileAccessOverrideForExec();
  }
  if (err == 0) return;
  (void)!::write(report_fd, &err, sizeof(err));
  (void)!::write(report_fd, step, std::strlen(step));
  ::_exit(126);
}

// In the parent: what ApplySetupOrExit reported ("" if the exec happened,
// which closed the pipe without a word). Closes `fd`.
std::string ReadSetupReport(int fd) {
  std::string report;
  // Until EOF (or, if the child hangs before its exec, the deadline).
  ReadUntil(fd, &report,
            std::chrono::steady_clock::now() +
                std::chrono::milliseconds(
                    absl::ToInt64Milliseconds(Scaled(absl::Seconds(30)))),
            [](const std::string&) { return false; });
  ::close(fd);
  if (report.size() < sizeof(int)) return "";
  int err = 0;
  std::memcpy(&err, report.data(), sizeof(err));
  return absl::StrCat("child setup failed: ", report.substr(sizeof(err)), ": ",
                      std::strerror(err));
}

// Forks and execs argv[0] with `stdout_fd` and `stderr_fd` (-1: inherited)
// as its stdout and stderr, after `setup`. The child's pid, or -1 with
// *error set (fork failed, or the setup failed: then the child is reaped).
pid_t Spawn(std::vector<char*>& argv, int stdout_fd, int stderr_fd,
            const ChildSetup& setup, std::string* error) {
  const PreparedSetup prepared(setup);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    *error = "pipe failed";
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(report[0]);
    ::close(report[1]);
    *error = "fork failed";
    return -1;
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
    if (stderr_fd >= 0) ::dup2(stderr_fd, 2);
    ApplySetupOrExit(prepared, report[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(report[1]);
  // The exec closes the report pipe: read it to its end.
  *error = ReadSetupReport(report[0]);
  if (!error->empty()) {
    KillAndReap(pid);
    return -1;
  }
  return pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::string& data_dir,
    const std::string& stderr_path, const std::vector<std::string>& extra_args,
    absl::Duration timeout, const ChildSetup& setup) {
  timeout = Scaled(timeout);
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0",
                                   "--data-dir", data_dir};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv = Argv(args);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError("pipe failed");
  }
  int err_fd = -1;
  if (!stderr_path.empty()) {
    err_fd = ::open(stderr_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err_fd < 0) {
      ::close(out[0]);
      ::close(out[1]);
      return absl::InternalError(absl::StrCat("cannot open ", stderr_path));
    }
  }
  std::string error;
  const pid_t pid = Spawn(argv, out[1], err_fd, setup, &error);
  ::close(out[1]);
  if (err_fd >= 0) ::close(err_fd);
  if (pid < 0) {
    ::close(out[0]);
    return absl::FailedPreconditionError(error);
  }
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->pid_ = pid;
  p->stdout_fd_ = out[0];
  std::string buffer;
  ReadUntil(
      out[0], &buffer,
      std::chrono::steady_clock::now() +
          std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)),
      [](const std::string& s) { return s.find('\n') != std::string::npos; });
  const size_t nl = buffer.find('\n');
  if (nl == std::string::npos) {
    int status = 0;
    const bool exited = WaitForExit(pid, absl::Milliseconds(200), &status);
    if (!exited) {
      p->Kill();
    } else {
      p->pid_ = -1;
    }
    return absl::UnavailableError(absl::StrCat(
        "server did not start",
        exited ? absl::StrCat(" (exit ", WEXITSTATUS(status), ")") : "",
        stderr_path.empty() ? "" : ": " + LastLine(stderr_path)));
  }
  p->start_line_ = buffer.substr(0, nl);
  p->address_ = server::ListenAddressFromStartLine(p->start_line_);
  if (!absl::StartsWith(p->address_, "127.0.0.1:")) {
    p->Kill();
    return absl::InternalError("unexpected start line: " + p->start_line_);
  }
  return p;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

std::string ServerProcess::root() const {
  return absl::StrCat("/proc/", pid_, "/root");
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  if (!KillAndReap(pid_)) {
    std::fprintf(stderr, "server %d did not die of SIGKILL in time\n", pid_);
  }
  pid_ = -1;
}

int ServerProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (!WaitForExit(pid_, Scaled(timeout), &status)) {
    Kill();
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ProcessResult RunToCompletion(const std::string& binary,
                              const std::vector<std::string>& args_in,
                              absl::Duration timeout, const ChildSetup& setup) {
  ProcessResult result;
  std::vector<std::string> args = {binary};
  args.insert(args.end(), args_in.begin(), args_in.end());
  std::vector<char*> argv = Argv(args);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return result;
  }
  std::string error;
  const pid_t pid = Spawn(argv, out[1], err[1], setup, &error);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    result.exit_code = 126;
    result.err = error + "\n";
    return result;
  }
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(Scaled(timeout)));
  // Read both pipes until EOF on both (the child exited) or the deadline.
  bool out_open = true, err_open = true;
  while ((out_open || err_open) &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0},
                   {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(p[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  if (!WaitForExit(pid, absl::Seconds(1), &status)) {
    result.timed_out = true;
    KillAndReap(pid, &status);
  }
  ::close(out[0]);
  ::close(err[0]);
  result.exit_code =
      !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string DigestTree(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return "absent";
  std::vector<std::string> entries;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string path = it->path().string();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    std::string entry = absl::StrCat(
        std::filesystem::relative(it->path(), dir).string(),
        " mode=", absl::StrCat(absl::Hex(st.st_mode)), " size=", st.st_size);
    if (S_ISREG(st.st_mode)) {
      std::ifstream in(path, std::ios::binary);
      std::stringstream content;
      content << in.rdbuf();
      entry += " data=" + absl::BytesToHexString(content.str());
    }
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end());
  const std::string all = absl::StrJoin(entries, "\n");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(all.data(), all.size(), md, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), len));
}

long ResidentKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

absl::StatusOr<std::string> IntegrityCheckReadOnly(const std::string& db_path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    return absl::UnavailableError(
        absl::StrCat("open ", db_path, ": ",
                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return absl::UnavailableError(sqlite3_errmsg(db.get()));
  }
  std::vector<std::string> rows;
  int step;
  while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  if (step != SQLITE_DONE)
    return absl::UnavailableError(sqlite3_errmsg(db.get()));
  return absl::StrJoin(rows, "\n");
}

}  // namespace token_authority::testing

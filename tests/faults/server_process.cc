#include "tests/faults/server_process.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/start_line.h"

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

// Waits for `pid` up to `timeout`; false if it did not exit in time.
bool WaitFor(pid_t pid, absl::Duration timeout, int* status) {
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  while (true) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::string& data_dir,
    const std::string& stderr_path, const std::vector<std::string>& extra_args,
    absl::Duration timeout) {
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
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    ::dup2(out[1], 1);
    if (err_fd >= 0) ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  if (err_fd >= 0) ::close(err_fd);

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
    const bool exited = WaitFor(pid, absl::Milliseconds(200), &status);
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

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int ServerProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  if (!WaitFor(pid_, timeout, &status)) {
    Kill();
    return -1;
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ProcessResult RunToCompletion(const std::string& binary,
                              const std::vector<std::string>& args_in,
                              absl::Duration timeout) {
  ProcessResult result;
  std::vector<std::string> args = {binary};
  args.insert(args.end(), args_in.begin(), args_in.end());
  std::vector<char*> argv = Argv(args);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return result;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
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
  if (!WaitFor(pid, absl::Seconds(1), &status)) {
    result.timed_out = true;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ::close(out[0]);
  ::close(err[0]);
  result.exit_code =
      !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(
      base != nullptr && *base != '\0' ? base : "/tmp", "/ta-fault-XXXXXX");
  if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  // Restore permissions a test may have removed, then delete.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    ::chmod(it->path().c_str(), 0700);
  }
  std::filesystem::remove_all(path_, ec);
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

// The token-authority binary as a child process: the start-up line, flags
// and environment variables, SIGTERM/SIGINT, start-up errors.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "server/start_line.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using AS = v1::AdminService::Stub;

// An idle gRPC client only reads its connections when its backup poller
// runs (every 5 s by default), so it would answer the server's graceful
// GOAWAY late and each SIGTERM below would take ~5 s. Poll often instead.
const bool kFastClientPolling = [] {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 1);
  return true;
}();

// Reads from `fd` until `done(buffer)` or the deadline; the data read.
std::string ReadUntil(int fd, std::chrono::seconds timeout,
                      const std::function<bool(const std::string&)>& done) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(out)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string ReadAll(int fd) {
  return ReadUntil(fd, std::chrono::seconds(30),
                   [](const std::string&) { return false; });
}

// A running token-authority child.
class Child {
 public:
  Child(std::vector<std::string> args, std::map<std::string, std::string> env) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> argv;
      std::string binary = TA_SERVER_BINARY;
      argv.push_back(binary.data());
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
    ::close(err_);
  }

  // The first line on stdout (waits up to 30 s).
  std::string FirstLine() {
    if (stdout_.find('\n') != std::string::npos) {
      return stdout_.substr(0, stdout_.find('\n'));
    }
    stdout_ += ReadUntil(
        out_, std::chrono::seconds(30),
        [](const std::string& s) { return s.find('\n') != std::string::npos; });
    return stdout_.substr(0, stdout_.find('\n'));
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  // Waits for the exit; the exit status (or -1 if killed by a signal).
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    stdout_ += ReadAll(out_);
    stderr_ += ReadAll(err_);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool reaped_ = false;
  std::string stdout_, stderr_;
};

class BinaryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-binary-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

// "token-authority listening on 127.0.0.1:PORT (...)" -> "127.0.0.1:PORT".
std::string AddressOf(const std::string& line) {
  std::string address = server::ListenAddressFromStartLine(line);
  return absl::StartsWith(address, "127.0.0.1:") ? address : "";
}

TEST_F(BinaryE2eTest, StartsServesAndStopsOnSigterm) {
  const std::string data = dir_ + "/var";
  Child child({"--listen", "127.0.0.1:0", "--data-dir", data}, {});
  const std::string line = child.FirstLine();
  EXPECT_THAT(line, HasSubstr("admin key written to " + data + "/admin.key"));
  const std::string address = AddressOf(line);
  ASSERT_FALSE(address.empty()) << line;

  ASSERT_OK_AND_ASSIGN(std::string admin_key,
                       server::ReadSmallFile(data + "/admin.key"));
  admin_key = std::string(absl::StripAsciiWhitespace(admin_key));
  auto stub = v1::AdminService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::CreateOrganizationRequest create;
  create.set_name("Acme");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(v1::Organization org,
                       Call(*stub, &AS::CreateOrganization, create, admin_key));

  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0) << child.err();
  // One line on stdout; the call log on stderr, without the key.
  EXPECT_EQ(std::count(child.out().begin(), child.out().end(), '\n'), 1)
      << child.out();
  EXPECT_THAT(child.err(), HasSubstr("method=AdminService/CreateOrganization"));
  EXPECT_THAT(child.err() + child.out(), Not(HasSubstr(admin_key)));

  // A second start reuses the data and says where the key is.
  Child again({"--listen", "127.0.0.1:0"}, {{"TA_DATA_DIR", data}});
  EXPECT_THAT(again.FirstLine(), HasSubstr("admin key in " + data));
  ASSERT_FALSE(AddressOf(again.FirstLine()).empty());
  auto stub2 = v1::AdminService::NewStub(grpc::CreateChannel(
      AddressOf(again.FirstLine()), grpc::InsecureChannelCredentials()));
  v1::ListOrganizationsRequest list;
  ASSERT_OK_AND_ASSIGN(v1::ListOrganizationsResponse orgs,
                       Call(*stub2, &AS::ListOrganizations, list, admin_key));
  ASSERT_EQ(orgs.organizations_size(), 1);
  EXPECT_EQ(orgs.organizations(0).id(), org.id());
  again.Signal(SIGINT);
  EXPECT_EQ(again.Wait(), 0) << again.err();
}

TEST_F(BinaryE2eTest, EnvironmentVariablesSetTheFlags) {
  Child child({}, {{"TA_LISTEN", "127.0.0.1:0"},
                   {"TA_DATA_DIR", dir_},
                   {"TA_MAX_LIFETIME", "2w"},
                   {"TA_DEFAULT_LIFETIME", "36h"}});
  const std::string address = AddressOf(child.FirstLine());
  ASSERT_FALSE(address.empty()) << child.FirstLine();
  ASSERT_OK_AND_ASSIGN(std::string admin_key,
                       server::ReadSmallFile(dir_ + "/admin.key"));
  admin_key = std::string(absl::StripAsciiWhitespace(admin_key));
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto admin = v1::AdminService::NewStub(channel);
  v1::CreateOrganizationRequest create;
  create.set_name("Acme");
  create.set_secure_enabled(true);
  ASSERT_OK_AND_ASSIGN(
      v1::Organization org,
      Call(*admin, &AS::CreateOrganization, create, admin_key));
  auto tokens = v1::TokenService::NewStub(channel);
  v1::IssueTokenRequest issue;
  *issue.mutable_spec() = StreamsSpec({"cam1"});
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t,
                       Call(*tokens, &v1::TokenService::Stub::IssueToken, issue,
                            admin_key, org.id()));
  EXPECT_EQ(t.token().expires_at().seconds() - t.token().issued_at().seconds(),
            36 * 3600);
  issue.mutable_spec()->mutable_lifetime()->set_seconds(15 * 24 * 3600);
  EXPECT_THAT(
      Call(*tokens, &v1::TokenService::Stub::IssueToken, issue, admin_key,
           org.id()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lifetime")));
  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 0);
}

TEST_F(BinaryE2eTest, BadFlagIsOneLineAndExitOne) {
  Child child({"--leeway", "ten seconds", "--data-dir", dir_ + "/x"}, {});
  EXPECT_EQ(child.Wait(), 1);
  EXPECT_EQ(std::count(child.err().begin(), child.err().end(), '\n'), 1)
      << child.err();
  EXPECT_THAT(child.err(), HasSubstr("--leeway"));
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/x").c_str(), &st), 0);
  // Out of range (CLI11's check and exit code): named, nothing on disk.
  Child cache({"--verify-cache", "-1", "--data-dir", dir_ + "/y"}, {});
  EXPECT_NE(cache.Wait(), 0);
  EXPECT_THAT(cache.err(), HasSubstr("--verify-cache"));
  EXPECT_NE(::stat((dir_ + "/y").c_str(), &st), 0);
}

TEST_F(BinaryE2eTest, PortInUseIsOneLineAndNothingOnDisk) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Child child({"--listen", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)),
               "--data-dir", dir_ + "/var"},
              {});
  EXPECT_NE(child.Wait(), 0);
  EXPECT_EQ(std::count(child.err().begin(), child.err().end(), '\n'), 1)
      << child.err();
  EXPECT_THAT(child.err(), HasSubstr("cannot listen on"));
  EXPECT_TRUE(child.out().empty());
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/var").c_str(), &st), 0);
  ::close(fd);
}

TEST_F(BinaryE2eTest, ForeignDatabaseIsOneLineAndUntouched) {
  {
    std::ofstream f(dir_ + "/token-authority.db", std::ios::binary);
    f << "this is not an SQLite database, it is a shopping list\n";
  }
  Child child({"--listen", "127.0.0.1:0", "--data-dir", dir_}, {});
  EXPECT_NE(child.Wait(), 0);
  EXPECT_EQ(std::count(child.err().begin(), child.err().end(), '\n'), 1)
      << child.err();
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    files.push_back(e.path().filename().string());
  }
  EXPECT_EQ(files, std::vector<std::string>{"token-authority.db"});
  ASSERT_OK_AND_ASSIGN(std::string content,
                       server::ReadSmallFile(dir_ + "/token-authority.db"));
  EXPECT_THAT(content, HasSubstr("shopping list"));
}

}  // namespace
}  // namespace token_authority::testing

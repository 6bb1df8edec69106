// The token-authority binary as a child process: the start-up line, flags
// and environment variables, SIGTERM/SIGINT, start-up errors.
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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
#include "tests/e2e/e2e_util.h"
#include "tests/e2e/server_child.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using AS = v1::AdminService::Stub;

// An idle gRPC client only reads its connections when its backup poller
// runs (every 5 s by default), so it would answer the server's graceful
// GOAWAY late and each SIGTERM below would take ~5 s. Poll often instead.
const bool kFastClientPolling = [] {
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 1);
  return true;
}();

using Child = ServerChild;

class BinaryE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
  }
  TempDir tmp_;
  std::string dir_;
};

// "token-authority listening on 127.0.0.1:PORT (...)" -> "127.0.0.1:PORT".
std::string AddressOf(const std::string& line) {
  return LoopbackAddressOf(line);
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
  // Two lines on stdout (started, stopped); the call log on stderr, with a
  // timestamp and without the key.
  EXPECT_EQ(std::count(child.out().begin(), child.out().end(), '\n'), 2)
      << child.out();
  EXPECT_THAT(child.out(), HasSubstr("\ntoken-authority stopped on SIGTERM "
                                     "after "));
  EXPECT_THAT(child.err(), ContainsRegex("(^|\n)20[0-9-]+T[0-9:.]+Z rpc "
                                         "method=AdminService/"));
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
  EXPECT_THAT(again.out(), HasSubstr("token-authority stopped on SIGINT"));
}

TEST_F(BinaryE2eTest, Version) {
  Child child({"--version"}, {});
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_THAT(child.out(), StartsWith("token-authority "));
  EXPECT_EQ(std::count(child.out().begin(), child.out().end(), '\n'), 1);
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
  // Out of range (CLI11's check): the same form and exit code, nothing on
  // disk.
  Child cache({"--verify-cache", "-1", "--data-dir", dir_ + "/y"}, {});
  EXPECT_EQ(cache.Wait(), 1);
  EXPECT_EQ(std::count(cache.err().begin(), cache.err().end(), '\n'), 1)
      << cache.err();
  EXPECT_THAT(cache.err(), StartsWith("token-authority: --verify-cache: "));
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

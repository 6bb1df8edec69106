// The REAL token-authority binary refuses to start on a data directory it
// cannot use (tests/faults/server_process.h): a corrupt, truncated or
// foreign database file, a key-encryption key of the wrong size, a
// directory, another key, missing or unreadable (also as root: the server
// then runs without root's permission override), and a port in use. Each
// time: one line on stderr naming the problem, a non-zero exit, nothing on
// stdout, and not one byte changed below the data directory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "tests/faults/server_client.h"
#include "tests/faults/server_process.h"
#include "tests/testing/temp_dir.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kDbFile[] = "token-authority.db";

class StartupRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    data_ = tmp_.path() + "/data";
    log_ = tmp_.path() + "/server.log";
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> Start() {
    return ServerProcess::Start(TA_SERVER_BINARY, data_, log_);
  }

  // A data directory of a server that ran, created an organisation (so the
  // database holds an encrypted signing key) and issued a token, then
  // stopped cleanly.
  void Populate() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    const Credentials creds =
        Bootstrap((*server)->address(), data_ + "/admin.key");
    {
      auto stub = v1::TokenService::NewStub(NewChannel((*server)->address()));
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      v1::IssueTokenRequest req;
      req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
          "cam-0");
      req.set_request_id("populate");
      ASSERT_TRUE(stub->IssueToken(&ctx, req, &resp).ok());
    }
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ((*server)->Terminate(), 0);
    std::printf("terminate took %lld ms\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count()));
  }

  // Runs the binary on data_ (after `mutate` changed it) and expects a
  // refusal: non-zero exit, nothing on stdout, exactly one line on stderr,
  // naming `expect_in_line`, and not one byte changed below data_.
  void ExpectRefusal(const std::string& what, const std::string& expect_in_line,
                     std::vector<std::string> extra_args = {},
                     std::string listen = "127.0.0.1:0",
                     const ChildSetup& setup = {}) {
    SCOPED_TRACE(what);
    const std::string before = DigestTree(data_);
    std::vector<std::string> args = {"--listen", listen, "--data-dir", data_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const ProcessResult r =
        RunToCompletion(TA_SERVER_BINARY, args, absl::Seconds(10), setup);
    ASSERT_NE(r.exit_code, 126) << r.err;  // the child's setup failed
    EXPECT_FALSE(r.timed_out) << "the server started: " << r.out;
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
        << "stderr: " << r.err;
    EXPECT_THAT(r.err, StartsWith("token-authority: "));
    if (!expect_in_line.empty()) {
      EXPECT_THAT(absl::AsciiStrToLower(r.err),
                  HasSubstr(absl::AsciiStrToLower(expect_in_line)));
    }
    EXPECT_EQ(DigestTree(data_), before) << "the data directory changed";
    std::printf("%s -> exit %d: %s", what.c_str(), r.exit_code, r.err.c_str());
  }

  std::string Db() const { return data_ + "/" + kDbFile; }

  TempDir tmp_;
  std::string data_, log_;
};

void Overwrite(const std::string& path, size_t offset,
               const std::string& data) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

TEST_F(StartupRefusalTest, CorruptDatabaseHeader) {
  Populate();
  Overwrite(Db(), 0, "this is garbage!");
  ExpectRefusal("database header overwritten", "database");
}

TEST_F(StartupRefusalTest, CorruptSchemaPage) {
  Populate();
  std::mt19937 rng(1);
  std::string junk(4000, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  Overwrite(Db(), 100, junk);
  ExpectRefusal("schema page overwritten", "database");
}

TEST_F(StartupRefusalTest, CorruptDataPage) {
  Populate();
  const auto size = std::filesystem::file_size(Db());
  ASSERT_GE(size, 3u * 4096u);
  std::mt19937 rng(2);
  // Every page after the schema page.
  for (size_t off = 4096; off + 4096 <= size; off += 4096) {
    std::string junk(4096, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    Overwrite(Db(), off, junk);
  }
  ExpectRefusal("data pages overwritten", "database");
}

TEST_F(StartupRefusalTest, TruncatedDatabase) {
  Populate();
  std::filesystem::resize_file(Db(), 1000);
  ExpectRefusal("database truncated to 1000 bytes", "database");
}

TEST_F(StartupRefusalTest, NotADatabase) {
  Populate();
  WriteFile(Db(), "hello, I am a text file and not a database at all\n");
  ExpectRefusal("text file as database", "database");
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// BUG (storage/schema.cc Migrate / SqliteTokenStore::Open): a SQLite file of
// another application with user_version 0 (SQLite's default) is taken for a
// new token-authority database: the server starts, adds its schema to the
// foreign file (and switches it to WAL), and creates kek.key and admin.key
// next to it. Expected: refuse to start ("not a token-authority database")
// when user_version is 0 but the file already holds tables, change nothing.
TEST_F(StartupRefusalTest, ForeignDatabase) {
  ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
  Sql(Db(),
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
      "INSERT INTO customers(name) VALUES ('Ada'), ('Grace');");
  ExpectRefusal("foreign SQLite database (user_version 0)", "database");
}

TEST_F(StartupRefusalTest, ForeignDatabaseWithAVersion) {
  ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
  Sql(Db(),
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
      "PRAGMA user_version = 7;");
  ExpectRefusal("foreign SQLite database (user_version 7)", "");
}

TEST_F(StartupRefusalTest, KeyEncryptionKeyOfWrongSize) {
  Populate();
  WriteFile(data_ + "/kek.key", std::string(31, 'k'));
  ExpectRefusal("kek.key of 31 bytes", "kek.key");
}

TEST_F(StartupRefusalTest, KeyEncryptionKeyIsADirectory) {
  Populate();
  std::filesystem::remove(data_ + "/kek.key");
  ASSERT_EQ(::mkdir((data_ + "/kek.key").c_str(), 0700), 0);
  ExpectRefusal("kek.key is a directory", "kek.key");
}

TEST_F(StartupRefusalTest, WrongKeyEncryptionKey) {
  Populate();
  std::string other(32, '\0');
  std::mt19937 rng(3);
  for (char& c : other) c = static_cast<char>(rng());
  WriteFile(data_ + "/kek.key", other);
  ExpectRefusal("another 32-byte kek.key", "key");
}

TEST_F(StartupRefusalTest, MissingKeyEncryptionKey) {
  Populate();
  std::filesystem::remove(data_ + "/kek.key");
  ExpectRefusal("kek.key missing", "kek.key");
}

// Mode 000 stops root only without its permission override
// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): the server runs without them, so
// this runs as root (CI) as well as for any other user.
TEST_F(StartupRefusalTest, UnreadableKeyEncryptionKey) {
  Populate();
  ASSERT_EQ(::chmod((data_ + "/kek.key").c_str(), 0), 0);
  ChildSetup no_override;
  no_override.no_file_access_override = true;
  ExpectRefusal("kek.key mode 000", "kek.key: cannot open: permission denied",
                {}, "127.0.0.1:0", no_override);
}

// The control: the same data directory with a readable kek.key starts
// under the same setup, so the refusal above is the mode's doing.
TEST_F(StartupRefusalTest, ReadableKeyEncryptionKeyStartsWithoutOverride) {
  Populate();
  ChildSetup no_override;
  no_override.no_file_access_override = true;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      TA_SERVER_BINARY, data_, log_, {}, absl::Seconds(30), no_override);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->Terminate(), 0);
}

// A listening socket on a free loopback port; closed by the destructor.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(StartupRefusalTest, PortInUse) {
  Populate();
  Listener busy;
  ExpectRefusal("port in use", absl::StrCat(busy.port()), {},
                absl::StrCat("127.0.0.1:", busy.port()));
}

TEST_F(StartupRefusalTest, PortInUseCreatesNoDataDirectory) {
  Listener busy;
  ASSERT_EQ(DigestTree(data_), "absent");
  ExpectRefusal("port in use, fresh data dir", absl::StrCat(busy.port()), {},
                absl::StrCat("127.0.0.1:", busy.port()));
  EXPECT_FALSE(std::filesystem::exists(data_));
}

}  // namespace
}  // namespace token_authority::testing

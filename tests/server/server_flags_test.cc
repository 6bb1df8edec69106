// ParseFlags and ReportFlagError: defaults, good values, environment
// variables, and every bad value named with its flag.
#include "server/server_flags.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using token_authority::testing::StatusIs;

using Env = std::map<std::string, std::string>;

// ParseFlags of "token-authority <args...>" with `env` as the environment.
absl::StatusOr<ServerFlags> Parse(std::vector<std::string> args,
                                  const Env& env = {}) {
  std::vector<const char*> argv = {"token-authority"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return ParseFlags(
      static_cast<int>(argv.size()), argv.data(),
      [env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      });
}

class ServerFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-flags-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Writes `content` to <dir>/<name>; the path.
  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  std::string dir_;
};

TEST_F(ServerFlagsTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({}));
  EXPECT_EQ(f.help, "");
  EXPECT_EQ(f.server.listen, "127.0.0.1:50051");
  EXPECT_EQ(f.server.data_dir, "./var");
  EXPECT_EQ(f.server.tls_cert_pem, "");
  EXPECT_EQ(f.server.tls_key_pem, "");
  EXPECT_EQ(f.server.client_ca_pem, "");
  EXPECT_EQ(f.server.blocking_threads, 64);
  EXPECT_EQ(f.server.list_threads, 4);
  EXPECT_EQ(f.server.authority.leeway, absl::Seconds(60));
  EXPECT_EQ(f.server.authority.limits.default_lifetime, absl::Hours(14 * 24));
  EXPECT_EQ(f.server.authority.limits.max_lifetime, absl::Hours(365 * 24));
  EXPECT_EQ(f.server.authority.issuer, "token-authority");
  EXPECT_EQ(f.server.authority.rate_limit_per_second, 0);
  EXPECT_EQ(f.server.authority.rate_limit_burst, 0);
  EXPECT_EQ(f.server.authority.verify_cache_entries, 10000u);
  EXPECT_EQ(f.shutdown_grace, absl::Seconds(10));
}

TEST_F(ServerFlagsTest, EveryFlagOnTheCommandLine) {
  const std::string cert = WriteFile("cert.pem", "CERT");
  const std::string key = WriteFile("key.pem", "KEY");
  const std::string ca = WriteFile("ca.pem", "CA");
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({"--listen",
                                             "[::1]:0",
                                             "--data-dir",
                                             dir_,
                                             "--tls-cert",
                                             cert,
                                             "--tls-key=" + key,
                                             "--client-ca",
                                             ca,
                                             "--leeway",
                                             "90s",
                                             "--default-lifetime",
                                             "36h",
                                             "--max-lifetime",
                                             "2w",
                                             "--issuer",
                                             "acme",
                                             "--rate-limit",
                                             "2.5",
                                             "--rate-burst",
                                             "10",
                                             "--shutdown-grace",
                                             "15m",
                                             "--verify-cache",
                                             "0",
                                             "--blocking-threads",
                                             "8",
                                             "--list-threads",
                                             "2"}));
  EXPECT_EQ(f.server.listen, "[::1]:0");
  EXPECT_EQ(f.server.data_dir, dir_);
  EXPECT_EQ(f.server.tls_cert_pem, "CERT");
  EXPECT_EQ(f.server.tls_key_pem, "KEY");
  EXPECT_EQ(f.server.client_ca_pem, "CA");
  EXPECT_EQ(f.server.authority.leeway, absl::Seconds(90));
  EXPECT_EQ(f.server.authority.limits.default_lifetime, absl::Hours(36));
  EXPECT_EQ(f.server.authority.limits.max_lifetime, absl::Hours(14 * 24));
  EXPECT_EQ(f.server.authority.issuer, "acme");
  EXPECT_EQ(f.server.authority.rate_limit_per_second, 2.5);
  EXPECT_EQ(f.server.authority.rate_limit_burst, 10);
  EXPECT_EQ(f.shutdown_grace, absl::Minutes(15));
  EXPECT_EQ(f.server.authority.verify_cache_entries, 0u);
  EXPECT_EQ(f.server.blocking_threads, 8);
  EXPECT_EQ(f.server.list_threads, 2);
}

TEST_F(ServerFlagsTest, EnvironmentVariablesStandInForMissingFlags) {
  const std::string cert = WriteFile("cert.pem", "CERT");
  const Env env = {{"TA_LISTEN", "127.0.0.1:0"},  {"TA_DATA_DIR", dir_},
                   {"TA_TLS_CERT", cert},         {"TA_LEEWAY", "5s"},
                   {"TA_DEFAULT_LIFETIME", "1h"}, {"TA_MAX_LIFETIME", "2d"},
                   {"TA_ISSUER", "from-env"},     {"TA_RATE_LIMIT", "7"},
                   {"TA_RATE_BURST", "9"},        {"TA_SHUTDOWN_GRACE", "1s"},
                   {"TA_VERIFY_CACHE", "5"},      {"TA_BLOCKING_THREADS", "3"},
                   {"TA_LIST_THREADS", "5"}};
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({}, env));
  EXPECT_EQ(f.server.listen, "127.0.0.1:0");
  EXPECT_EQ(f.server.data_dir, dir_);
  EXPECT_EQ(f.server.tls_cert_pem, "CERT");
  EXPECT_EQ(f.server.authority.leeway, absl::Seconds(5));
  EXPECT_EQ(f.server.authority.limits.default_lifetime, absl::Hours(1));
  EXPECT_EQ(f.server.authority.limits.max_lifetime, absl::Hours(48));
  EXPECT_EQ(f.server.authority.issuer, "from-env");
  EXPECT_EQ(f.server.authority.rate_limit_per_second, 7);
  EXPECT_EQ(f.server.authority.rate_limit_burst, 9);
  EXPECT_EQ(f.shutdown_grace, absl::Seconds(1));
  EXPECT_EQ(f.server.authority.verify_cache_entries, 5u);
  EXPECT_EQ(f.server.blocking_threads, 3);
  EXPECT_EQ(f.server.list_threads, 5);

  // A flag on the command line wins; an empty variable counts as unset.
  ASSERT_OK_AND_ASSIGN(f, Parse({"--issuer", "from-flag", "--leeway=1m"},
                                {{"TA_ISSUER", "from-env"},
                                 {"TA_LEEWAY", "5s"},
                                 {"TA_DATA_DIR", ""}}));
  EXPECT_EQ(f.server.authority.issuer, "from-flag");
  EXPECT_EQ(f.server.authority.leeway, absl::Minutes(1));
  EXPECT_EQ(f.server.data_dir, "./var");
}

TEST_F(ServerFlagsTest, TransportLimits) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({}));
  EXPECT_EQ(f.server.max_concurrent_streams, 100);
  EXPECT_EQ(f.server.memory_limit_bytes, int64_t{512} << 20);
  EXPECT_EQ(f.server.reply_backlog_per_connection_bytes, int64_t{4} << 20);
  EXPECT_EQ(f.server.reply_backlog_total_bytes, int64_t{64} << 20);

  ASSERT_OK_AND_ASSIGN(f, Parse({"--max-concurrent-streams", "20",
                                 "--memory-limit", "256", "--reply-backlog=2"},
                                {{"TA_REPLY_BACKLOG_TOTAL", "16"}}));
  EXPECT_EQ(f.server.max_concurrent_streams, 20);
  EXPECT_EQ(f.server.memory_limit_bytes, int64_t{256} << 20);
  EXPECT_EQ(f.server.reply_backlog_per_connection_bytes, int64_t{2} << 20);
  EXPECT_EQ(f.server.reply_backlog_total_bytes, int64_t{16} << 20);

  EXPECT_THAT(Parse({"--reply-backlog", "8", "--reply-backlog-total", "4"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--reply-backlog-total: ")));
  for (const char* bad : {"--max-concurrent-streams=0", "--memory-limit=8",
                          "--reply-backlog=0"}) {
    absl::StatusOr<ServerFlags> r = Parse({bad});
    ASSERT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
    EXPECT_EQ(ReportFlagError(r.status()).exit_code, 1) << bad;
  }
}

TEST_F(ServerFlagsTest, MetricsEndpointIsOffUnlessAsked) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({}));
  EXPECT_EQ(f.server.metrics_listen, "");
  ASSERT_OK_AND_ASSIGN(f, Parse({"--metrics-listen", "127.0.0.1:9464"}));
  EXPECT_EQ(f.server.metrics_listen, "127.0.0.1:9464");
  ASSERT_OK_AND_ASSIGN(f, Parse({}, {{"TA_METRICS_LISTEN", "[::1]:9000"}}));
  EXPECT_EQ(f.server.metrics_listen, "[::1]:9000");
  ASSERT_OK_AND_ASSIGN(f, Parse({"--help"}));
  EXPECT_THAT(f.help, HasSubstr("--metrics-listen"));
  EXPECT_THAT(f.help, HasSubstr("TA_METRICS_LISTEN"));
}

TEST_F(ServerFlagsTest, TheProcessEnvironmentIsReadOnlyThroughEnv) {
  ASSERT_EQ(::setenv("TA_ISSUER", "from-process", 1), 0);
  absl::StatusOr<ServerFlags> injected = Parse({});
  absl::StatusOr<ServerFlags> process =
      ParseFlags(1, std::vector<const char*>{"token-authority"}.data(),
                 ProcessEnvironment());
  ::unsetenv("TA_ISSUER");
  ASSERT_OK_AND_ASSIGN(ServerFlags f, injected);
  EXPECT_EQ(f.server.authority.issuer, "token-authority");
  ASSERT_OK_AND_ASSIGN(f, process);
  EXPECT_EQ(f.server.authority.issuer, "from-process");
}

TEST_F(ServerFlagsTest, BadDurationsNameTheirFlagAndExitOne) {
  for (const char* flag :
       {"leeway", "default-lifetime", "max-lifetime", "shutdown-grace"}) {
    const std::string name = absl::StrCat("--", flag);
    absl::StatusOr<ServerFlags> f = Parse({name, "ten seconds"});
    ASSERT_THAT(f, StatusIs(absl::StatusCode::kInvalidArgument,
                            StartsWith(name + ": duration")))
        << flag;
    const FlagErrorReport report = ReportFlagError(f.status());
    EXPECT_EQ(report.exit_code, 1);
    EXPECT_THAT(report.text, StartsWith("token-authority: " + name + ": "));
    EXPECT_EQ(std::count(report.text.begin(), report.text.end(), '\n'), 1);
    EXPECT_TRUE(absl::EndsWith(report.text, "\n"));
  }
  // The same from the environment.
  EXPECT_THAT(Parse({}, {{"TA_MAX_LIFETIME", "forever"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("--max-lifetime: ")));
}

TEST_F(ServerFlagsTest, UnreadableFilesNameTheirFlag) {
  const std::string missing = dir_ + "/missing.pem";
  for (const char* flag : {"tls-cert", "tls-key", "client-ca"}) {
    const std::string name = absl::StrCat("--", flag);
    absl::StatusOr<ServerFlags> f = Parse({name, missing});
    ASSERT_THAT(f, StatusIs(absl::StatusCode::kFailedPrecondition,
                            AllOf(StartsWith(name + ": cannot read"),
                                  HasSubstr(missing))));
    EXPECT_EQ(ReportFlagError(f.status()).exit_code, 1);
  }
}

TEST_F(ServerFlagsTest, DatabaseFlagsSelectPostgresql) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({}));
  EXPECT_EQ(f.server.database_url, "");  // SQLite in the data dir
  EXPECT_EQ(f.server.kek_file, "");
  const std::string pw = WriteFile("pw", "s3cret\nignored\n");
  ASSERT_OK_AND_ASSIGN(
      f, Parse({"--database", "postgresql://ta@db:5432/ta",
                "--database-password-file", pw, "--kek-file", "/k/kek.key"}));
  EXPECT_EQ(f.server.database_url, "postgresql://ta@db:5432/ta");
  EXPECT_EQ(f.server.database_password, "s3cret");
  EXPECT_EQ(f.server.kek_file, "/k/kek.key");
  ASSERT_OK_AND_ASSIGN(f, Parse({}, {{"TA_DATABASE_URL", "host=db dbname=ta"},
                                     {"TA_DATABASE_PASSWORD_FILE", pw},
                                     {"TA_KEK_FILE", "/k2"}}));
  EXPECT_EQ(f.server.database_url, "host=db dbname=ta");
  EXPECT_EQ(f.server.database_password, "s3cret");
  EXPECT_EQ(f.server.kek_file, "/k2");
  EXPECT_THAT(Parse({"--database-password-file", pw}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--database-password-file: needs --database"));
  EXPECT_THAT(Parse({"--database", "postgresql://db/ta",
                     "--database-password-file", dir_ + "/missing"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       StartsWith("--database-password-file: cannot read")));
  ASSERT_OK_AND_ASSIGN(f, Parse({"--help"}));
  for (const char* text :
       {"--database", "TA_DATABASE_URL", "--database-password-file",
        "TA_DATABASE_PASSWORD_FILE", "--kek-file", "TA_KEK_FILE"}) {
    EXPECT_THAT(f.help, HasSubstr(text));
  }
}

TEST_F(ServerFlagsTest, ValuesCli11RefusesAreOneLineStartUpErrors) {
  struct Case {
    std::vector<std::string> args;
    Env env;
    std::string message;
    int exit_code;
  };
  const std::vector<Case> cases = {
      {{"--verify-cache", "-1"},
       {},
       "--verify-cache: Value -1 not in range 0 to 10000000",
       1},
      {{"--verify-cache", "10000001"},
       {},
       "--verify-cache: Value 10000001 not in range 0 to 10000000",
       1},
      {{}, {{"TA_VERIFY_CACHE", "-5"}}, "--verify-cache: Value -5", 1},
      {{"--rate-limit", "abc"}, {}, "Could not convert: --rate-limit = abc", 1},
      {{}, {{"TA_RATE_BURST", "x"}}, "Could not convert: --rate-burst = x", 1},
      {{"--blocking-threads", "1.5"},
       {},
       "Could not convert: --blocking-threads = 1.5",
       1},
      {{"--list-threads", "0"},
       {},
       "--list-threads: Value 0 not in range 1 to 256",
       1},
      {{"--listen"}, {}, "--listen: 1 required TEXT missing", 1},
      {{"--bogus"}, {}, "The following argument was not expected: --bogus", 1},
      {{"extra"}, {}, "The following argument was not expected: extra", 1},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ServerFlags> f = Parse(c.args, c.env);
    ASSERT_THAT(
        f, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
    const FlagErrorReport report = ReportFlagError(f.status());
    EXPECT_EQ(report.exit_code, c.exit_code) << c.message;
    // One line, like every other start-up error.
    EXPECT_EQ(report.text,
              absl::StrCat("token-authority: ", f.status().message(), "\n"));
    EXPECT_EQ(std::count(report.text.begin(), report.text.end(), '\n'), 1);
  }
}

TEST_F(ServerFlagsTest, Version) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({"--version"}));
  EXPECT_EQ(f.help, absl::StrCat("token-authority ", TA_VERSION, "\n"));
}

TEST_F(ServerFlagsTest, HelpListsEveryFlagWithItsVariable) {
  ASSERT_OK_AND_ASSIGN(ServerFlags f, Parse({"--help"}));
  EXPECT_THAT(f.help, StartsWith("token-authority: issues, tracks"));
  EXPECT_THAT(f.help, HasSubstr("Usage: token-authority [OPTIONS]"));
  EXPECT_THAT(f.help,
              HasSubstr("--listen TEXT=127.0.0.1:50051 (Env:TA_LISTEN)"));
  EXPECT_THAT(f.help,
              HasSubstr("--verify-cache INT:INT in [0 - 10000000]=10000 "
                        "(Env:TA_VERIFY_CACHE)"));
  for (const char* env :
       {"TA_LISTEN", "TA_DATA_DIR", "TA_TLS_CERT", "TA_TLS_KEY", "TA_CLIENT_CA",
        "TA_LEEWAY", "TA_DEFAULT_LIFETIME", "TA_MAX_LIFETIME", "TA_ISSUER",
        "TA_RATE_LIMIT", "TA_RATE_BURST", "TA_SHUTDOWN_GRACE",
        "TA_VERIFY_CACHE", "TA_BLOCKING_THREADS", "TA_LIST_THREADS"}) {
    EXPECT_THAT(f.help, HasSubstr(absl::StrCat("(Env:", env, ")")));
  }
  ASSERT_OK_AND_ASSIGN(f, Parse({"-h"}));
  EXPECT_THAT(f.help, HasSubstr("--blocking-threads"));
}

}  // namespace
}  // namespace token_authority::server

// The offline commands of the token-authority binary, as typed: usage
// errors (exit 2), help (0), failures (1, one line naming the command) and
// each command's output line.
#include "server/offline_commands.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/authority_server.h"
#include "server/data_dir.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using token_authority::testing::TempDir;

struct Result {
  int code;
  std::string out, err;
};

Result RunCommand(std::vector<std::string> args) {
  args.insert(args.begin(), "token-authority");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  Result r;
  r.code = RunOfflineCommand(static_cast<int>(argv.size()), argv.data(), &r.out,
                             &r.err);
  return r;
}

TEST(OfflineCommandsTest, Recognised) {
  EXPECT_TRUE(IsOfflineCommand("admin-key"));
  EXPECT_TRUE(IsOfflineCommand("backup"));
  EXPECT_TRUE(IsOfflineCommand("restore"));
  EXPECT_TRUE(IsOfflineCommand("migrate"));
  EXPECT_FALSE(IsOfflineCommand("--listen"));
  EXPECT_FALSE(IsOfflineCommand("serve"));
}

TEST(OfflineCommandsTest, UsageAndHelp) {
  EXPECT_EQ(RunCommand({"admin-key"}).code, 2);
  EXPECT_EQ(RunCommand({"backup"}).code, 2);  // --to is required
  EXPECT_EQ(RunCommand({"restore", "--from", "x"}).code, 2);
  EXPECT_EQ(RunCommand({"backup", "--to", "x", "--bogus"}).code, 2);
  EXPECT_EQ(RunCommand({"migrate", "--from", "x"}).code, 2);  // --to
  Result migrate_help = RunCommand({"migrate", "--help"});
  EXPECT_EQ(migrate_help.code, 0);
  EXPECT_THAT(migrate_help.out, HasSubstr("--database-password-file"));
  Result help = RunCommand({"backup", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("--to"));
  EXPECT_THAT(help.out, HasSubstr("kek.key is not in it"));
}

TEST(OfflineCommandsTest, BackupRestoreAndResetThroughTheCommandLine) {
  TempDir live, out;
  {
    AuthorityServerOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = live.path();
    MemoryCallLog log;
    o.call_log = &log;
    ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(o));
    // Backup while the server runs.
    Result b = RunCommand(
        {"backup", "--data-dir", live.path(), "--to", out.File("one.db")});
    EXPECT_EQ(b.code, 0) << b.err;
    EXPECT_THAT(b.out, StartsWith("backup written to " + out.File("one.db")));
    // The reset needs the server stopped.
    Result busy = RunCommand({"admin-key", "reset", "--data-dir", live.path()});
    EXPECT_EQ(busy.code, 1);
    EXPECT_THAT(busy.err, StartsWith("token-authority admin-key reset: "
                                     "data-dir: "));
  }
  Result reset = RunCommand({"admin-key", "reset", "--data-dir", live.path()});
  EXPECT_EQ(reset.code, 0) << reset.err;
  EXPECT_THAT(reset.out, StartsWith("new admin key "));

  Result r = RunCommand({"restore", "--from", out.File("one.db"), "--kek-file",
                         KekPath(live.path()), "--data-dir", out.File("new")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("kek.key copied and checked"));
  Result again = RunCommand(
      {"restore", "--from", out.File("one.db"), "--data-dir", out.File("new")});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.err, StartsWith("token-authority restore: data-dir: "));
}

}  // namespace
}  // namespace token_authority::server

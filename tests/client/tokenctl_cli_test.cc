// What every tokenctl command shares, in-process over gmock stubs: the exit
// codes (bad input is 2 whoever found it, 4 for a declined confirmation),
// the one JSON error shape (command-line errors included), --version and
// --help, unknown commands, --server and the environment.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/tokenctl_run_fixture.h"

namespace token_authority::client::tokenctl {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;
using json = nlohmann::json;

// The one error shape of tokenctl.h, with `code` and `exit_code`.
void ExpectErrorDocument(const std::string& out, const std::string& code,
                         int exit_code) {
  const json doc = json::parse(out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << out;
  ASSERT_TRUE(doc.contains("error")) << out;
  const json& e = doc["error"];
  EXPECT_EQ(e["code"], code) << out;
  EXPECT_EQ(e["exit_code"], exit_code) << out;
  EXPECT_TRUE(e["message"].is_string()) << out;
  EXPECT_FALSE(e["message"].get<std::string>().empty()) << out;
  EXPECT_TRUE(e["problems"].is_array()) << out;
}

using CliTest = RunTest;

TEST_F(CliTest, ServerInvalidArgumentIsBadInputExitTwo) {
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "token_id: must be 22 base64url characters; tag: too long")));
  EXPECT_EQ(Run({"get", "x"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("(INVALID_ARGUMENT)"));
  EXPECT_EQ(out_.str(), "");

  FreshStubs();
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "token_id: must be 22 characters")));
  EXPECT_EQ(Run({"--json", "get", "x"}), kExitUsage);
  ExpectErrorDocument(out_.str(), "INVALID_ARGUMENT", 2);
  const json problems = json::parse(out_.str())["error"]["problems"];
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0]["field"], "token_id");
  EXPECT_EQ(problems[0]["message"], "must be 22 characters");

  // Other server failures stay 1.
  FreshStubs();
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "no")));
  EXPECT_EQ(Run({"--json", "get", "x"}), kExitServerFailure);
  ExpectErrorDocument(out_.str(), "NOT_FOUND", 1);
}

TEST_F(CliTest, DecliningAConfirmationIsAbortedNotAServerFailure) {
  v1::RevokeTokensResponse two;
  two.set_revoked_count(2);
  // Only the dry run: the StrictMock fails a second call.
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
      .WillOnce(
          DoAll(::testing::SetArgPointee<2>(two), Return(grpc::Status::OK)));
  in_.str("n\n");
  EXPECT_EQ(Run({"revoke-bulk", "--tag", "t"}), kExitAborted);
  EXPECT_NE(kExitAborted, kExitServerFailure);
  EXPECT_THAT(err_.str(), HasSubstr("2 tokens match (tag=t). Revoke them? "
                                    "[y/N] "));
  EXPECT_THAT(err_.str(), HasSubstr("tokenctl revoke-bulk: aborted: not "
                                    "confirmed; nothing was revoked"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, RevokeBulkDryRunAndJsonWithoutYesReportTheCount) {
  auto expect_dry_run_only = [this] {
    FreshStubs();
    EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
        .WillOnce(
            Invoke([](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                      v1::RevokeTokensResponse* out) {
              EXPECT_TRUE(r.dry_run());  // never a real revocation here
              out->set_revoked_count(3);
              return grpc::Status::OK;
            }));
  };
  expect_dry_run_only();
  EXPECT_EQ(Run({"--json", "revoke-bulk", "--tag", "t", "--dry-run"}), kExitOk);
  json dry = json::parse(out_.str());
  EXPECT_EQ(dry["dry_run"], true);
  EXPECT_EQ(dry["matched"], 3);
  EXPECT_EQ(dry["revoked_count"], 0);

  // --json without --yes: no prompt (nothing read from stdin), the count in
  // the ABORTED error document.
  expect_dry_run_only();
  in_.str("y\n");
  EXPECT_EQ(Run({"--json", "revoke-bulk", "--tag", "t"}), kExitAborted);
  ExpectErrorDocument(out_.str(), "ABORTED", kExitAborted);
  json aborted = json::parse(out_.str());
  EXPECT_EQ(aborted["matched"], 3);
  EXPECT_EQ(aborted["revoked_count"], 0);
  EXPECT_THAT(aborted["error"]["message"].get<std::string>(),
              HasSubstr("pass --yes"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("[y/N]")));
}

TEST_F(CliTest, VerifyWithABadIpIsAUsageErrorBeforeAnyCall) {
  for (const char* ip : {"not-an-ip", "300.1.1.1", "10.0.0.0/8", " 1.2.3.4"}) {
    EXPECT_EQ(Run({"verify", "a.b.c", "--org", "o", "--ip", ip}), kExitUsage)
        << ip;
    EXPECT_THAT(err_.str(), HasSubstr("--ip")) << ip;
    EXPECT_THAT(err_.str(), HasSubstr("is not an IP address")) << ip;
  }
  EXPECT_EQ(Run({"--json", "verify", "a.b.c", "--org", "o", "--ip", "x"}),
            kExitUsage);
  ExpectErrorDocument(out_.str(), "INVALID_ARGUMENT", 2);
  EXPECT_EQ(json::parse(out_.str())["error"]["problems"][0]["field"], "--ip");
  EXPECT_EQ(factory_calls_, 0);  // no client, so no call (StrictMock too)
}

TEST_F(CliTest, CommandLineErrorsAreJsonDocumentsWithJson) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--json", "list", "--bogus"},
                                             {"--json", "frobnicate"},
                                             {"get", "--json"},
                                             {"--json"},
                                             {"--json", "keys", "rotat"}}) {
    EXPECT_EQ(Run(args), kExitUsage) << absl::StrJoin(args, " ");
    ExpectErrorDocument(out_.str(), "INVALID_ARGUMENT", 2);
    EXPECT_THAT(err_.str(), HasSubstr("--help"));
  }
  // Without --json: nothing on stdout.
  EXPECT_EQ(Run({"list", "--bogus"}), kExitUsage);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, UnknownCommandsAreNamedWithTheNearestOne) {
  EXPECT_EQ(Run({"isue"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            "tokenctl: unknown command \"isue\" (did you mean \"issue\"?); run "
            "'tokenctl --help' for usage\n");
  EXPECT_EQ(Run({"revoke-bulck", "--tag", "x"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("did you mean \"revoke-bulk\"?"));
  EXPECT_EQ(Run({"keys", "rotat"}), kExitUsage);
  EXPECT_THAT(err_.str(),
              HasSubstr("tokenctl keys: unknown command \"rotat\" (did you "
                        "mean \"rotate\"?); run 'tokenctl keys --help'"));
  EXPECT_EQ(Run({"admin", "key", "revok", "k1"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("did you mean \"revoke\"?"));
  // Nothing close: the commands are listed instead.
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("unknown command \"frobnicate\"; the "
                                    "commands are issue, get, list"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("did you mean")));
  // No command at all.
  EXPECT_EQ(Run({"keys"}), kExitUsage);
  EXPECT_THAT(err_.str(),
              HasSubstr("a command is required: list, rotate, jwks"));
  EXPECT_EQ(factory_calls_, 0);
}

TEST_F(CliTest, VersionIsTheProjectVersion) {
  EXPECT_EQ(Run({"--version"}), kExitOk);
  EXPECT_EQ(out_.str(), absl::StrCat("tokenctl ", TA_VERSION, "\n"));
  // MAJOR.MINOR[.PATCH...]: digits separated by single dots (no std::regex:
  // GCC 12's -Wmaybe-uninitialized misfires on it in the ASan build).
  const std::vector<std::string> parts = absl::StrSplit(TA_VERSION, '.');
  EXPECT_GE(parts.size(), 2u) << TA_VERSION;
  for (const std::string& part : parts) {
    EXPECT_FALSE(part.empty()) << TA_VERSION;
    EXPECT_TRUE(std::all_of(part.begin(), part.end(), [](char c) {
      return c >= '0' && c <= '9';
    })) << TA_VERSION;
  }
  EXPECT_EQ(Run({"--json", "--version"}), kExitOk);
  EXPECT_EQ(json::parse(out_.str())["version"], TA_VERSION);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, HelpEndsWithTheExitCodes) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  const std::string help = out_.str();
  EXPECT_THAT(help, HasSubstr(kExitCodesHelp));
  for (const char* code : {"0 ok", "1 server failure", "2 bad input",
                           "3 token denied", "4 aborted"}) {
    EXPECT_THAT(help, HasSubstr(code));
  }
  EXPECT_THAT(help, HasSubstr("--version"));
  // --api-key-file names the variable that holds the key itself.
  EXPECT_THAT(help, HasSubstr("the key itself from $TOKENCTL_API_KEY"));
  EXPECT_THAT(help, HasSubstr("$TOKENCTL_SERVER"));
}

TEST_F(CliTest, ServerAddressWithoutPortOrWithSchemeIsAUsageError) {
  struct Case {
    const char* address;
    const char* says;
  };
  for (const Case& c :
       {Case{"http://tokens:50051", "without a scheme"},
        Case{"https://tokens:443", "with --tls"},
        Case{"grpc://tokens:50051", "without a scheme"},
        Case{"http://tokens/", "e.g. --server tokens:50051 ("},
        Case{"tokens.internal", "no port"}, Case{"tokens:", "is not a number"},
        Case{"tokens:0", "is not a number from 1 to 65535"},
        Case{"tokens:70000", "1 to 65535"},
        Case{"tokens:http", "is not a number"},
        Case{"::1:50051", "in brackets"}, Case{"[::1]", "no port"},
        Case{":50051", "no host"}}) {
    EXPECT_EQ(Run({"--server", c.address, "keys", "list"}), kExitUsage)
        << c.address;
    EXPECT_THAT(err_.str(),
                HasSubstr(absl::StrCat("--server \"", c.address, "\": ")))
        << c.address;
    EXPECT_THAT(err_.str(), HasSubstr(c.says)) << c.address;
  }
  EXPECT_EQ(factory_calls_, 0);
  // From the environment: the variable is named.
  env_server_ = "https://tokens.example.com";
  EXPECT_EQ(Run({"--json", "keys", "list"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("TOKENCTL_SERVER \"https://"));
  ExpectErrorDocument(out_.str(), "INVALID_ARGUMENT", 2);
  EXPECT_EQ(factory_calls_, 0);
}

TEST_F(CliTest, GoodServerAddresses) {
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"--server", "[::1]:50051", "keys", "list"}), kExitOk)
      << err_.str();
  EXPECT_EQ(seen_.server, "[::1]:50051");
}

TEST_F(CliTest, TlsSettingsFromTheEnvironment) {
  const std::string ca = ::testing::TempDir() + "/tokenctl_cli_ca.pem";
  {
    std::ofstream f(ca);
    f << "PEM";
  }
  env_vars_ = {{"TOKENCTL_TLS", "1"},
               {"TOKENCTL_TLS_CA", ca},
               {"TOKENCTL_TLS_SERVER_NAME", "tokens.internal"}};
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"keys", "list"}), kExitOk) << err_.str();
  EXPECT_TRUE(seen_.tls);
  EXPECT_EQ(seen_.tls_ca_pem, "PEM");
  EXPECT_EQ(seen_.tls_server_name, "tokens.internal");

  // A missing file named by a variable is bad input, naming the flag.
  env_vars_ = {{"TOKENCTL_TLS_CA", ca + ".missing"}};
  EXPECT_EQ(Run({"keys", "list"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--tls-ca: cannot read file"));
}

}  // namespace
}  // namespace token_authority::client::tokenctl

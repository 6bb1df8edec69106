// The real tokenctl binary against the REAL server on loopback: the
// conventions every command shares (exit codes whoever finds the bad input,
// the JSON error shape, hints on stderr, one spelling and one precision,
// tables aligned by display width, --version), and revoke-bulk: the count,
// the confirmation, --state, and what --stream does with organisation-wide
// tokens. (The commands one by one: tokenctl_test.cc.)
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/tokenctl_runner.h"
#include "tests/testing/test_server.h"

namespace token_authority::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::token_authority::testing::OrgCredentials;
using ::token_authority::testing::TestServer;
using json = nlohmann::json;

json Parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Counts the call log lines of `method` (exact) for organisation `org`.
int CallsOf(const std::string& log, const std::string& method,
            const std::string& org) {
  int n = 0;
  for (const std::string& line : Lines(log)) {
    if (absl::StrContains(line, absl::StrCat("method=", method, " ")) &&
        absl::StrContains(line, absl::StrCat("org=", org))) {
      ++n;
    }
  }
  return n;
}

class TokenctlConventionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = TestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  Result Ctl(const std::vector<std::string>& args,
             const std::string& api_key = "", const std::string& input = "") {
    std::vector<std::string> all = {"--server", server_->address()};
    all.insert(all.end(), args.begin(), args.end());
    return Tokenctl(dir_, all, api_key, input);
  }

  OrgCredentials NewOrg() {
    Result org = Ctl({"--json", "admin", "org", "create", "Conventions"},
                     server_->admin_key());
    EXPECT_EQ(org.code, 0) << org.err;
    OrgCredentials c;
    c.organization_id = Parse(org.out)["id"];
    Result key = Ctl({"--json", "admin", "key", "create", "--org",
                      c.organization_id, "--role", "issuer"},
                     server_->admin_key());
    EXPECT_EQ(key.code, 0) << key.err;
    c.api_key = Parse(key.out)["secret"];
    return c;
  }

  // Issues a token with `target_flags` and returns its ID.
  std::string Issue(const OrgCredentials& org,
                    std::vector<std::string> target_flags) {
    std::vector<std::string> args = {"--json", "issue"};
    args.insert(args.end(), target_flags.begin(), target_flags.end());
    Result r = Ctl(args, org.api_key);
    EXPECT_EQ(r.code, 0) << r.err;
    return Parse(r.out)["token_id"];
  }

  static TestServer* server_;
  TempDir dir_;
};

TestServer* TokenctlConventionsTest::server_ = nullptr;

TEST_F(TokenctlConventionsTest, VersionIsTheProjectVersion) {
  Result r = Tokenctl(dir_, {"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, absl::StrCat("tokenctl ", TA_VERSION, "\n"));
  EXPECT_EQ(r.err, "");
}

TEST_F(TokenctlConventionsTest, BadInputIsTwoWhoeverFindsIt) {
  OrgCredentials org = NewOrg();
  const std::string jwt =
      Parse(Ctl({"--json", "issue", "--org-wide"}, org.api_key).out)["jwt"];
  const std::string log_before = server_->CallLogContents();

  // Found by tokenctl, before any call.
  Result ip = Ctl({"--json", "verify", jwt, "--org", org.organization_id,
                   "--ip", "not-an-ip"},
                  org.api_key);
  EXPECT_EQ(ip.code, 2) << ip.err;
  EXPECT_THAT(ip.err, IsOneLine());
  json e = Parse(ip.out)["error"];
  EXPECT_EQ(e["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(e["exit_code"], 2);
  EXPECT_EQ(e["problems"][0]["field"], "--ip");
  EXPECT_EQ(CallsOf(server_->CallLogContents().substr(log_before.size()),
                    "TokenService/VerifyToken", org.organization_id),
            0);

  // Found by the server: INVALID_ARGUMENT is 2 as well, with its fields.
  Result org_missing =
      Ctl({"--json", "admin", "key", "create", "--role", "issuer"},
          server_->admin_key());
  EXPECT_EQ(org_missing.code, 2) << org_missing.err;
  EXPECT_THAT(org_missing.err, HasSubstr("(INVALID_ARGUMENT)"));
  e = Parse(org_missing.out)["error"];
  EXPECT_EQ(e["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(e["exit_code"], 2);
  ASSERT_FALSE(e["problems"].empty());
  EXPECT_EQ(e["problems"][0]["field"], "organization_id");

  // A command-line error with --json: the same document.
  Result unknown = Tokenctl(dir_, {"--json", "isue"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("did you mean \"issue\"?"));
  EXPECT_EQ(Parse(unknown.out)["error"]["exit_code"], 2);

  // --server with a scheme or without a port: named, nothing sent.
  for (const char* server : {"https://127.0.0.1:1", "127.0.0.1"}) {
    Result r = Tokenctl(dir_, {"--server", server, "list"}, org.api_key);
    EXPECT_EQ(r.code, 2) << server;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("--server \"", server)));
    EXPECT_THAT(r.err, IsOneLine());
  }
}

TEST_F(TokenctlConventionsTest, StreamFiltersAndOrgWideTokens) {
  OrgCredentials org = NewOrg();
  const std::string named = Issue(org, {"--streams", "cam1,cam2"});
  const std::string org_wide = Issue(org, {"--org-wide"});
  const std::string other = Issue(org, {"--streams", "cam9"});

  // --stream names the stream: the organisation-wide token only when asked.
  json listed =
      Parse(Ctl({"--json", "list", "--stream", "cam1"}, org.api_key).out);
  ASSERT_EQ(listed["tokens"].size(), 1u);
  EXPECT_EQ(listed["tokens"][0]["id"], named);
  listed =
      Parse(Ctl({"--json", "list", "--stream", "cam1", "--include-org-wide"},
                org.api_key)
                .out);
  ASSERT_EQ(listed["tokens"].size(), 2u);
  // Both (issued within the same second: either order).
  EXPECT_THAT((std::vector<std::string>{listed["tokens"][0]["id"],
                                        listed["tokens"][1]["id"]}),
              ::testing::UnorderedElementsAre(org_wide, named));
  EXPECT_THAT(Ctl({"list", "--help"}).out, HasSubstr("--include-org-wide"));

  // revoke-bulk counts what it would revoke, and says what it leaves out.
  Result dry = Ctl({"--json", "revoke-bulk", "--stream", "cam1", "--dry-run"},
                   org.api_key);
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_EQ(Parse(dry.out)["matched"], 1);
  EXPECT_THAT(dry.err, HasSubstr("not included (add --include-org-wide"));
  // --json without --yes: aborted with the count; nothing revoked.
  Result unconfirmed =
      Ctl({"--json", "revoke-bulk", "--stream", "cam1", "--include-org-wide"},
          org.api_key, "y\n");
  EXPECT_EQ(unconfirmed.code, 4) << unconfirmed.err;
  json a = Parse(unconfirmed.out);
  EXPECT_EQ(a["error"]["code"], "ABORTED");
  EXPECT_EQ(a["matched"], 2);
  EXPECT_EQ(a["org_wide"], 1);
  EXPECT_EQ(Parse(Ctl({"--json", "list", "--state", "revoked"}, org.api_key)
                      .out)["tokens"]
                .size(),
            0u);

  Result done = Ctl({"--json", "revoke-bulk", "--stream", "cam1",
                     "--include-org-wide", "--yes", "--reason", "leak"},
                    org.api_key);
  ASSERT_EQ(done.code, 0) << done.err;
  json d = Parse(done.out);
  EXPECT_EQ(d["matched"], 2);
  EXPECT_EQ(d["revoked_count"], 2);
  json revoked =
      Parse(Ctl({"--json", "list", "--state", "revoked"}, org.api_key).out);
  ASSERT_EQ(revoked["tokens"].size(), 2u);
  EXPECT_EQ(revoked["tokens"][0]["state"], "revoked");
  json left =
      Parse(Ctl({"--json", "list", "--state", "active"}, org.api_key).out);
  ASSERT_EQ(left["tokens"].size(), 1u);
  EXPECT_EQ(left["tokens"][0]["id"], other);
}

TEST_F(TokenctlConventionsTest, OneSpellingUtcHeadersWidthAlignedHints) {
  OrgCredentials org = NewOrg();
  auto rfc3339 = [](absl::Duration from_now) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + from_now,
                            absl::UTCTimeZone());
  };
  // Not yet valid, with a wide user ID; and one with a combining mark.
  ASSERT_EQ(
      Ctl({"issue", "--group", "g", "--user",
           "\xE5\xB1\xB1\xE7\x94\xB0\xE5\xA4\xAA\xE9\x83\x8E",  // 山田太郎
           "--not-before", rfc3339(absl::Hours(24)), "--expires",
           rfc3339(absl::Hours(48))},
          org.api_key)
          .code,
      0);
  ASSERT_EQ(Ctl({"issue", "--group", "g", "--user", "zoe\xCC\x88"},  // zoë
                org.api_key)
                .code,
            0);
  Result table = Ctl({"list", "--limit", "1"}, org.api_key);
  ASSERT_EQ(table.code, 0) << table.err;
  // The hint is on stderr; stdout is the table alone.
  EXPECT_THAT(table.err, StartsWith("next page: repeat with --page-token "));
  EXPECT_THAT(table.out, Not(HasSubstr("page-token")));
  Result all = Ctl({"list", "--state", "not_yet_valid"}, org.api_key);
  ASSERT_EQ(all.code, 0) << all.err;
  std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 2u) << all.out;
  EXPECT_THAT(lines[0], HasSubstr("EXPIRES (UTC)"));
  EXPECT_THAT(lines[1], HasSubstr("  not-yet-valid  "));
  // USER is followed by TAG: the wide name takes 8 columns, so TAG's column
  // starts where the header's does (in columns, not bytes).
  const size_t tag_col = lines[0].find("TAG");
  const std::string user = "\xE5\xB1\xB1\xE7\x94\xB0\xE5\xA4\xAA\xE9\x83\x8E";
  const size_t user_at = lines[1].find(user);
  ASSERT_NE(user_at, std::string::npos);
  EXPECT_EQ(lines[0].find("USER"), user_at);
  // 8 columns + 2 spaces, then the tag "-".
  EXPECT_EQ(lines[1].substr(user_at + user.size()), "  -");
  EXPECT_EQ(tag_col, user_at + 8 + 2);
  json j = Parse(
      Ctl({"--json", "list", "--state", "not-yet-valid"}, org.api_key).out);
  EXPECT_EQ(j["tokens"][0]["state"], "not-yet-valid");
  const std::string expires = j["tokens"][0]["expires_at"];
  EXPECT_EQ(expires.size(), std::string("2025-03-01T12:00:00Z").size())
      << expires;
}

TEST_F(TokenctlConventionsTest, RevokeBulkCountsAndAsks) {
  OrgCredentials org = NewOrg();
  Issue(org, {"--group", "g1", "--tag", "bulk"});
  Issue(org, {"--group", "g2", "--tag", "bulk"});
  Issue(org, {"--group", "g3", "--tag", "keep"});

  EXPECT_EQ(Ctl({"revoke-bulk"}, org.api_key).code, 2);
  // Declined: nothing revoked, exit 4 (aborted, not a server failure).
  Result no = Ctl({"revoke-bulk", "--tag", "bulk"}, org.api_key, "n\n");
  EXPECT_EQ(no.code, 4);
  EXPECT_THAT(no.err, HasSubstr("2 tokens match (tag=bulk). Revoke them? "
                                "[y/N] "));
  EXPECT_THAT(no.err, HasSubstr("not confirmed; nothing was revoked"));
  EXPECT_EQ(Parse(Ctl({"--json", "list", "--state", "revoked"}, org.api_key)
                      .out)["tokens"]
                .size(),
            0u);
  // No answer at all (stdin closed) is no.
  EXPECT_EQ(Ctl({"revoke-bulk", "--tag", "bulk"}, org.api_key, "").code, 4);
  // Confirmed.
  Result yes = Ctl({"revoke-bulk", "--tag", "bulk", "--reason",
                    "campaign "
                    "over"},
                   org.api_key, "y\n");
  EXPECT_EQ(yes.code, 0) << yes.err;
  EXPECT_EQ(yes.out, "Revoked 2 tokens (tag=bulk).\n");
  EXPECT_EQ(Parse(Ctl({"--json", "list", "--state", "revoked"}, org.api_key)
                      .out)["tokens"]
                .size(),
            2u);
  // Nothing left to revoke.
  Result none = Ctl({"revoke-bulk", "--tag", "bulk"}, org.api_key);
  EXPECT_EQ(none.code, 0);
  EXPECT_THAT(none.out, HasSubstr("nothing to revoke"));
  // --yes and --json with --state (see RevokeBulkByStateIsOneServerCall).
  Result state = Ctl(
      {"--json", "revoke-bulk", "--group", "g3", "--state", "active", "--yes"},
      org.api_key);
  EXPECT_EQ(state.code, 0) << state.err;
  json s = Parse(state.out);
  EXPECT_EQ(s["matched"], 1);
  EXPECT_EQ(s["revoked_count"], 1);
  EXPECT_EQ(
      Ctl({"revoke-bulk", "--tag", "x", "--state", "revoked"}, org.api_key)
          .code,
      2);
}

TEST_F(TokenctlConventionsTest, RevokeBulkByStateIsOneServerCall) {
  OrgCredentials org = NewOrg();
  Issue(org, {"--group", "wave-1", "--tag", "wave"});
  Issue(org, {"--group", "wave-2", "--tag", "wave"});
  // Valid from tomorrow: not yet valid.
  auto rfc3339 = [](absl::Duration from_now) {
    return absl::FormatTime(absl::RFC3339_sec, absl::Now() + from_now,
                            absl::UTCTimeZone());
  };
  Result later = Ctl(
      {"--json", "issue", "--group", "wave-3", "--tag", "wave", "--not-before",
       rfc3339(absl::Hours(24)), "--expires", rfc3339(absl::Hours(72))},
      org.api_key);
  ASSERT_EQ(later.code, 0) << later.err;
  const std::string log_before = server_->CallLogContents();

  // Table output: the count covers only the state asked for.
  Result pending = Ctl({"revoke-bulk", "--tag", "wave", "--state",
                        "not-yet-valid", "--reason", "postponed"},
                       org.api_key, "y\n");
  ASSERT_EQ(pending.code, 0) << pending.err;
  EXPECT_THAT(pending.err,
              HasSubstr("1 token matches (tag=wave, state=not-yet-valid). "
                        "Revoke it? [y/N] "));
  EXPECT_EQ(pending.out, "Revoked 1 token (tag=wave, state=not-yet-valid).\n");
  // One dry run and one revocation, both RevokeTokens: no listing, no
  // token-by-token revocation.
  const std::string log = server_->CallLogContents().substr(log_before.size());
  EXPECT_EQ(CallsOf(log, "TokenService/RevokeTokens", org.organization_id), 2)
      << log;
  EXPECT_EQ(CallsOf(log, "TokenService/RevokeToken", org.organization_id), 0);
  EXPECT_EQ(CallsOf(log, "TokenService/ListTokens", org.organization_id), 0);
  json revoked =
      Parse(Ctl({"--json", "list", "--state", "revoked"}, org.api_key).out);
  ASSERT_EQ(revoked["tokens"].size(), 1u);
  EXPECT_EQ(revoked["tokens"][0]["id"], Parse(later.out)["token"]["id"]);

  // JSON output; the active ones, without asking.
  Result active = Ctl(
      {"--json", "revoke-bulk", "--tag", "wave", "--state", "active", "--yes"},
      org.api_key);
  ASSERT_EQ(active.code, 0) << active.err;
  json a = Parse(active.out);
  EXPECT_EQ(a["matched"], 2);
  EXPECT_EQ(a["revoked_count"], 2);
  EXPECT_EQ(a["filter"], "tag=wave, state=active");
  Result none = Ctl(
      {"--json", "revoke-bulk", "--tag", "wave", "--state", "active", "--yes"},
      org.api_key);
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(Parse(none.out)["matched"], 0);

  // Expired and revoked tokens cannot be revoked: a usage error, and the
  // help says so.
  EXPECT_THAT(Ctl({"revoke-bulk", "--help"}).out,
              HasSubstr("Only tokens in this state: active or not-yet-valid"));
  for (const char* bad : {"expired", "revoked", "sleepy"}) {
    Result r = Ctl({"revoke-bulk", "--tag", "wave", "--state", bad, "--yes"},
                   org.api_key);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("use active or not-yet-valid")) << bad;
  }
}

}  // namespace
}  // namespace token_authority::client

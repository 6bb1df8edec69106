// The real tokenctl binary, run as a subprocess against the REAL server on
// loopback: every subcommand, table and JSON output, one-line errors and
// exit codes (revoke-bulk and the conventions all commands share:
// tokenctl_conventions_test.cc).
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/tokenctl_runner.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::token_authority::testing::OrgCredentials;
using ::token_authority::testing::TestServer;
using ::token_authority::testing::TestServerOptions;
using json = nlohmann::json;

json Parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

// The column where `word` starts in `line` (npos if absent).
size_t Col(const std::string& line, const std::string& word) {
  return line.find(word);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class TokenctlTest : public ::testing::Test {
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

  // A fresh organisation with an issuer key, through tokenctl itself.
  OrgCredentials NewOrg() {
    Result org = Ctl({"--json", "admin", "org", "create", "Acme Streaming"},
                     server_->admin_key());
    EXPECT_EQ(org.code, 0) << org.err;
    OrgCredentials c;
    c.organization_id = Parse(org.out)["id"];
    Result key = Ctl({"--json", "admin", "key", "create", "--org",
                      c.organization_id, "--role", "issuer"},
                     server_->admin_key());
    EXPECT_EQ(key.code, 0) << key.err;
    json k = Parse(key.out);
    c.api_key = k["secret"];
    c.api_key_id = k["api_key"]["id"];
    return c;
  }

  std::string VerifierKey() {
    Result key = Ctl({"--json", "admin", "key", "create", "--role", "verifier"},
                     server_->admin_key());
    EXPECT_EQ(key.code, 0) << key.err;
    return Parse(key.out)["secret"];
  }

  // Issues a token for `group` with `tag`; returns the issue JSON.
  json Issue(const OrgCredentials& org, const std::string& group,
             const std::string& tag) {
    Result r =
        Ctl({"--json", "issue", "--group", group, "--tag", tag}, org.api_key);
    EXPECT_EQ(r.code, 0) << r.err;
    return Parse(r.out);
  }

  static TestServer* server_;
  TempDir dir_;
};

TestServer* TokenctlTest::server_ = nullptr;

TEST_F(TokenctlTest, HelpOnEveryLevelAndUsageErrors) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--help"},
           {"issue", "--help"},
           {"keys", "--help"},
           {"keys", "rotate", "--help"},
           {"admin", "key", "create", "--help"},
           {"dialog", "--help"}}) {
    Result r = Tokenctl(dir_, args);
    EXPECT_EQ(r.code, 0) << args.back();
    EXPECT_THAT(r.out, HasSubstr("Usage:"));
    EXPECT_EQ(r.err, "");
  }
  EXPECT_THAT(Tokenctl(dir_, {"admin", "key", "create", "--help"}).out,
              HasSubstr("--role"));
  EXPECT_THAT(Tokenctl(dir_, {"--help"}).out, HasSubstr("revoke-bulk"));

  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"get"},
           {"keys"},
           {"issue", "--group", "g", "--streams", "a"},
           {"list", "--bogus-flag"},
           {"admin", "key", "create"}}) {
    Result r = Tokenctl(dir_, args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(args, " ");
    EXPECT_THAT(r.err, IsOneLine());
    EXPECT_THAT(r.err, HasSubstr("--help"));
    EXPECT_EQ(r.out, "");
  }
  // A server command without an API key says where to put it.
  Result no_key = Ctl({"list"});
  EXPECT_EQ(no_key.code, 2);
  EXPECT_EQ(no_key.err,
            "tokenctl list: no API key: pass --api-key-file FILE or set "
            "TOKENCTL_API_KEY\n");
}

TEST_F(TokenctlTest, UnreachableServerIsAServerFailure) {
  Result r = Tokenctl(
      dir_, {"--server", "127.0.0.1:1", "--timeout", "3s", "list"}, "some-key");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, IsOneLine());
  EXPECT_THAT(r.err, HasSubstr("(UNAVAILABLE); check --server"));
}

TEST_F(TokenctlTest, AdminOrgAndKeys) {
  const std::string admin = server_->admin_key();
  Result created =
      Ctl({"admin", "org", "create", "Beta Media", "--no-secure"}, admin);
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("Name             Beta Media\n"));
  EXPECT_THAT(created.out, HasSubstr("Secure playback  disabled\n"));
  const std::string id =
      Lines(created.out)[0].substr(std::string("Organisation ID  ").size());

  Result updated = Ctl({"--json", "admin", "org", "update", id, "--secure",
                        "true", "--name", "Beta"},
                       admin);
  ASSERT_EQ(updated.code, 0) << updated.err;
  json u = Parse(updated.out);
  EXPECT_EQ(u["secure_enabled"], true);
  EXPECT_EQ(u["name"], "Beta");
  // --name alone keeps the secure flag.
  Result renamed =
      Ctl({"--json", "admin", "org", "update", id, "--name", "Beta 2"}, admin);
  ASSERT_EQ(renamed.code, 0) << renamed.err;
  EXPECT_EQ(Parse(renamed.out)["secure_enabled"], true);
  EXPECT_EQ(Ctl({"admin", "org", "update", id}, admin).code, 2);
  EXPECT_EQ(
      Ctl({"admin", "org", "update", id, "--secure", "maybe"}, admin).code, 2);

  Result listed = Ctl({"admin", "org", "list"}, admin);
  ASSERT_EQ(listed.code, 0) << listed.err;
  std::vector<std::string> lines = Lines(listed.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines[0], StartsWith("ID"));
  bool found = false;
  for (const std::string& l : lines) {
    if (absl::StartsWith(l, id)) {
      found = true;
      EXPECT_EQ(Col(l, "Beta 2"), Col(lines[0], "NAME"));
      EXPECT_EQ(Col(l, "enabled"), Col(lines[0], "SECURE"));
    }
  }
  EXPECT_TRUE(found) << listed.out;
  json list_json = Parse(Ctl({"--json", "admin", "org", "list"}, admin).out);
  EXPECT_GE(list_json["organizations"].size(), 1u);

  Result key =
      Ctl({"admin", "key", "create", "--org", id, "--role", "auditor"}, admin);
  ASSERT_EQ(key.code, 0) << key.err;
  EXPECT_THAT(key.out, HasSubstr("Role          auditor\n"));
  EXPECT_THAT(key.out, HasSubstr("Secret        "));
  EXPECT_THAT(key.err, HasSubstr("shown only now"));  // a hint
  const std::string key_id =
      Lines(key.out)[0].substr(std::string("Key ID        ").size());
  EXPECT_EQ(Ctl({"admin", "key", "create", "--role", "boss"}, admin).code, 2);

  Result keys = Ctl({"admin", "key", "list", "--org", id}, admin);
  ASSERT_EQ(keys.code, 0) << keys.err;
  EXPECT_THAT(Lines(keys.out)[0], StartsWith("KEY ID"));
  EXPECT_THAT(keys.out, HasSubstr(key_id));
  Result revoked = Ctl({"--json", "admin", "key", "revoke", key_id}, admin);
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_TRUE(Parse(revoked.out).contains("revoked_at"));
  json keys_json =
      Parse(Ctl({"--json", "admin", "key", "list", "--org", id}, admin).out);
  EXPECT_EQ(keys_json["api_keys"].size(), 0u);  // revoked keys are hidden
  keys_json = Parse(
      Ctl({"--json", "admin", "key", "list", "--org", id, "--include-revoked"},
          admin)
          .out);
  EXPECT_EQ(keys_json["api_keys"].size(), 1u);

  // Not an admin: PERMISSION_DENIED, exit 1, one line saying what to do.
  OrgCredentials org = NewOrg();
  Result denied = Ctl({"admin", "org", "list"}, org.api_key);
  EXPECT_EQ(denied.code, 1);
  EXPECT_THAT(denied.err, IsOneLine());
  EXPECT_THAT(denied.err, HasSubstr("(PERMISSION_DENIED); use an API key "
                                    "whose role allows this"));
}

TEST_F(TokenctlTest, IssueGetListDecodeRevoke) {
  OrgCredentials org = NewOrg();
  // Table output: the overview and both snippets.
  Result issued =
      Ctl({"issue", "--group", "grp-1", "--tag", "spring", "--user", "viewer-9",
           "--lifetime", "36h", "--domain", "*.example.com"},
          org.api_key);
  ASSERT_EQ(issued.code, 0) << issued.err;
  EXPECT_THAT(issued.out, HasSubstr("Secure Token Overview\n"));
  EXPECT_THAT(issued.out,
              HasSubstr("  Target        entire stream group grp-1\n"));
  EXPECT_THAT(issued.out, HasSubstr("(in 36 hours)\n"));
  EXPECT_THAT(issued.out, HasSubstr("  User ID       viewer-9\n"));
  EXPECT_THAT(issued.out, HasSubstr("security: { jwtoken: \"ey"));
  EXPECT_THAT(issued.out, HasSubstr("h5live: { security: { jwtoken: \"ey"));
  EXPECT_THAT(issued.out, HasSubstr("{\"security\":{\"jwtoken\":\"ey"));
  EXPECT_THAT(issued.out, HasSubstr("{\"h5live\":{\"security\":{\"jwtoken\":"));
  EXPECT_EQ(issued.err, "");

  json j = Issue(org, "grp-1", "spring");
  const std::string id = j["token_id"];
  const std::string jwt = j["jwt"];
  EXPECT_EQ(j["expires_relative"], "in 14 days");
  EXPECT_EQ(j["token"]["organization_id"], org.organization_id);
  EXPECT_EQ(j["security_config"]["entry"]["javascript"],
            "h5live: { security: { jwtoken: \"" + jwt + "\" } }");

  // Problems: exit 2, one line naming the flags; JSON lists them.
  Result bad =
      Ctl({"issue", "--group", "g", "--lifetime", "0s", "--ip", "300.0.0.1"},
          org.api_key);
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, IsOneLine());
  EXPECT_THAT(bad.err, HasSubstr("Lifetime must be at least 1s (got 0s) "
                                 "(--lifetime)."));
  EXPECT_THAT(bad.err, HasSubstr("(--ip)."));
  Result bad_json = Ctl({"--json", "issue", "--streams", "a b"}, org.api_key);
  EXPECT_EQ(bad_json.code, 2);
  json problems = Parse(bad_json.out)["error"]["problems"];
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0]["field"], "stream_names");
  EXPECT_EQ(problems[0]["flag"], "--streams");
  Result no_target = Ctl({"issue"}, org.api_key);
  EXPECT_EQ(no_target.code, 2);
  EXPECT_THAT(no_target.err,
              HasSubstr("(--group ID, --streams a,b,c or --org-wide)"));

  // get
  Result got = Ctl({"get", id}, org.api_key);
  ASSERT_EQ(got.code, 0) << got.err;
  EXPECT_THAT(got.out, HasSubstr("Token ID      " + id + "\n"));
  EXPECT_THAT(got.out, HasSubstr("State         active\n"));
  EXPECT_THAT(got.out, HasSubstr("Tag           spring\n"));
  EXPECT_EQ(Parse(Ctl({"--json", "get", id}, org.api_key).out)["id"], id);
  Result missing = Ctl({"get", "AAAAAAAAAAAAAAAAAAAAAA"}, org.api_key);
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, IsOneLine());
  EXPECT_THAT(missing.err, HasSubstr("(NOT_FOUND); check the ID"));

  // list
  Issue(org, "grp-2", "summer");
  Result listed = Ctl({"list", "--tag", "spring"}, org.api_key);
  ASSERT_EQ(listed.code, 0) << listed.err;
  std::vector<std::string> lines = Lines(listed.out);
  ASSERT_EQ(lines.size(), 3u) << listed.out;  // header + 2 spring tokens
  EXPECT_THAT(lines[0], StartsWith("ID"));
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(Col(lines[i], "entire stream group"), Col(lines[0], "TARGET"));
    EXPECT_EQ(Col(lines[i], "active"), Col(lines[0], "STATE"));
    EXPECT_EQ(Col(lines[i], "spring"), Col(lines[0], "TAG"));
  }
  json all = Parse(Ctl({"--json", "list"}, org.api_key).out);
  EXPECT_EQ(all["tokens"].size(), 3u);
  json by_group =
      Parse(Ctl({"--json", "list", "--group", "grp-2"}, org.api_key).out);
  EXPECT_EQ(by_group["tokens"].size(), 1u);
  json paged = Parse(Ctl({"--json", "list", "--limit", "2"}, org.api_key).out);
  EXPECT_EQ(paged["tokens"].size(), 2u);
  EXPECT_NE(paged["next_page_token"], "");
  json followed =
      Parse(Ctl({"--json", "list", "--limit", "2", "--all"}, org.api_key).out);
  EXPECT_EQ(followed["tokens"].size(), 3u);
  EXPECT_EQ(Ctl({"list", "--state", "revoked"}, org.api_key).out,
            "No tokens match.\n");
  EXPECT_EQ(Ctl({"list", "--state", "sleepy"}, org.api_key).code, 2);

  // decode (argument and stdin)
  Result decoded = Ctl({"decode", jwt}, org.api_key);
  ASSERT_EQ(decoded.code, 0) << decoded.err;
  EXPECT_THAT(decoded.out, HasSubstr("  Token ID      " + id + "\n"));
  EXPECT_THAT(decoded.out, HasSubstr("  Signature     valid\n"));
  EXPECT_THAT(decoded.out, HasSubstr("Header   {\"alg\":\"ES256\""));
  json d = Parse(Ctl({"--json", "decode", "-"}, org.api_key, jwt + "\n").out);
  EXPECT_EQ(d["token_id"], id);
  EXPECT_EQ(d["signature_valid"], true);
  EXPECT_EQ(d["header"]["alg"], "ES256");
  EXPECT_EQ(d["payload"]["tag"], "spring");
  EXPECT_EQ(d["offline"], false);

  // revoke
  Result revoked = Ctl({"revoke", id, "--reason", "leaked"}, org.api_key);
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_THAT(revoked.out, HasSubstr("State         revoked\n"));
  EXPECT_THAT(revoked.out, HasSubstr("Reason        leaked\n"));
  json again = Parse(Ctl({"--json", "revoke", id}, org.api_key).out);
  EXPECT_EQ(again["state"], "revoked");  // idempotent
  json decoded_revoked = Parse(Ctl({"--json", "decode", jwt}, org.api_key).out);
  EXPECT_EQ(decoded_revoked["state"], "revoked");
}

TEST_F(TokenctlTest, VerifyOnlineAndOffline) {
  OrgCredentials org = NewOrg();
  const std::string verifier = VerifierKey();
  json j = Issue(org, "grp-1", "t");
  const std::string jwt = j["jwt"];

  Result ok =
      Ctl({"verify", jwt, "--org", org.organization_id, "--group", "grp-1"},
          verifier);
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, StartsWith("Result    allowed\n"));
  Result denied =
      Ctl({"verify", jwt, "--org", org.organization_id, "--group", "other"},
          verifier);
  EXPECT_EQ(denied.code, 3);
  EXPECT_THAT(denied.out, HasSubstr("Result    denied\n"));
  EXPECT_THAT(denied.out, HasSubstr("Reason    target-mismatch\n"));
  EXPECT_EQ(denied.err, "");
  Result denied_json = Ctl(
      {"--json", "verify", jwt, "--org", org.organization_id, "--stream", "x"},
      verifier);
  EXPECT_EQ(denied_json.code, 3);
  json v = Parse(denied_json.out);
  EXPECT_EQ(v["allowed"], false);
  EXPECT_EQ(v["reason"], "target-mismatch");

  // Offline: the JWK Set from `keys jwks`, no server, no key.
  Result jwks = Ctl({"keys", "jwks", "--org", org.organization_id}, verifier);
  ASSERT_EQ(jwks.code, 0) << jwks.err;
  EXPECT_EQ(Parse(jwks.out)["keys"].size(), 1u);
  const std::string jwks_file = dir_.File("jwks.json");
  WriteFile(jwks_file, jwks.out);
  Result offline = Tokenctl(dir_, {"verify", jwt, "--jwks", jwks_file, "--org",
                                   org.organization_id, "--group", "grp-1"});
  EXPECT_EQ(offline.code, 0) << offline.err << offline.out;
  EXPECT_THAT(offline.err, HasSubstr("verified offline"));  // a hint
  // Without --org: a usage error (the organisation is never the token's).
  Result unnamed =
      Tokenctl(dir_, {"verify", jwt, "--jwks", jwks_file, "--group", "grp-1"});
  EXPECT_EQ(unnamed.code, 2) << unnamed.err << unnamed.out;
  EXPECT_THAT(unnamed.err, HasSubstr("--org"));
  Result offline_denied =
      Tokenctl(dir_, {"--json", "verify", jwt, "--jwks", jwks_file, "--org",
                      org.organization_id, "--group", "grp-2"});
  EXPECT_EQ(offline_denied.code, 3);
  EXPECT_EQ(Parse(offline_denied.out)["offline"], true);
  Result decoded = Tokenctl(dir_, {"decode", jwt, "--jwks", jwks_file});
  EXPECT_EQ(decoded.code, 0) << decoded.err;
  EXPECT_THAT(decoded.out, HasSubstr("  Signature     valid\n"));
  EXPECT_THAT(decoded.err, HasSubstr("decoded offline"));
  // A token of another organisation does not verify with these keys.
  OrgCredentials other = NewOrg();
  const std::string foreign = Issue(other, "grp-1", "t")["jwt"];
  Result foreign_decoded =
      Tokenctl(dir_, {"--json", "decode", foreign, "--jwks", jwks_file, "--org",
                      org.organization_id});
  EXPECT_EQ(foreign_decoded.code, 3);  // invalid
  json fd = Parse(foreign_decoded.out);
  EXPECT_EQ(fd["signature_valid"], false);
  EXPECT_EQ(fd["state"], "invalid");
  EXPECT_FALSE(fd.contains("security_config"));
  EXPECT_FALSE(fd["problems"].empty());
  WriteFile(dir_.File("broken.json"), "{\"keys\": 3}");
  Result broken =
      Tokenctl(dir_, {"decode", jwt, "--jwks", dir_.File("broken.json")});
  EXPECT_EQ(broken.code, 2);
  EXPECT_THAT(broken.err, IsOneLine());
  EXPECT_EQ(Tokenctl(dir_, {"decode", jwt, "--jwks", dir_.File("nope")}).code,
            2);

  // Revoked: denied with the reason, exit 3.
  ASSERT_EQ(Ctl({"revoke", j["token_id"]}, org.api_key).code, 0);
  Result revoked =
      Ctl({"verify", jwt, "--org", org.organization_id, "--group", "grp-1"},
          verifier);
  EXPECT_EQ(revoked.code, 3);
  EXPECT_THAT(revoked.out, HasSubstr("Reason    revoked\n"));
}

TEST_F(TokenctlTest, KeysAndAudit) {
  OrgCredentials org = NewOrg();
  Result keys = Ctl({"keys", "list"}, org.api_key);
  ASSERT_EQ(keys.code, 0) << keys.err;
  std::vector<std::string> lines = Lines(keys.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], StartsWith("KEY ID"));
  EXPECT_EQ(Col(lines[1], "ES256"), Col(lines[0], "ALGORITHM"));
  EXPECT_EQ(Col(lines[1], "primary"), Col(lines[0], "STATE"));

  Result rotated = Ctl({"keys", "rotate", "--algorithm", "eddsa"}, org.api_key);
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  EXPECT_THAT(rotated.out, HasSubstr("Algorithm  EdDSA\n"));
  EXPECT_THAT(rotated.out, HasSubstr("State      primary\n"));
  EXPECT_EQ(Ctl({"keys", "rotate", "--algorithm", "rot13"}, org.api_key).code,
            2);
  json listed = Parse(Ctl({"--json", "keys", "list"}, org.api_key).out);
  EXPECT_EQ(listed["keys"].size(), 2u);
  json jwks = Parse(Ctl({"keys", "jwks"}, org.api_key).out);  // own org
  EXPECT_EQ(jwks["keys"].size(), 2u);

  json issued = Issue(org, "g", "audited");
  const std::string id = issued["token_id"];
  ASSERT_EQ(Ctl({"revoke", id}, org.api_key).code, 0);
  Result audit = Ctl({"audit", "--token", id}, org.api_key);
  ASSERT_EQ(audit.code, 0) << audit.err;
  lines = Lines(audit.out);
  ASSERT_GE(lines.size(), 3u) << audit.out;
  EXPECT_THAT(lines[0], StartsWith("TIME"));
  EXPECT_THAT(audit.out, HasSubstr("token.issued"));
  EXPECT_THAT(audit.out, HasSubstr("token.revoked"));
  json events = Parse(
      Ctl({"--json", "audit", "--action", "key.rotated"}, org.api_key).out);
  ASSERT_EQ(events["events"].size(), 1u);
  EXPECT_EQ(events["events"][0]["action"], "key.rotated");
  EXPECT_EQ(Ctl({"audit", "--since", "yesterday"}, org.api_key).code, 2);
  json since = Parse(Ctl({"--json", "audit", "--since", "2000-01-01T00:00:00Z",
                          "--tag", "audited"},
                         org.api_key)
                         .out);
  EXPECT_EQ(since["events"].size(), 2u);
}

TEST_F(TokenctlTest, DialogShowsDefaultsValidatesAndCreates) {
  OrgCredentials org = NewOrg();
  // Defaults need no server and no key.
  Result defaults = Tokenctl(dir_, {"dialog", "/stream/grp-5/code-snippets/"});
  ASSERT_EQ(defaults.code, 0) << defaults.err;
  EXPECT_THAT(defaults.out,
              StartsWith("Secure token for stream grp-5 (Code snippets)\n"));
  EXPECT_THAT(
      defaults.out,
      HasSubstr("stream_group  Entire stream group (grp-5)  --group\n"));
  EXPECT_THAT(defaults.out, HasSubstr("Lifetime    2w\n"));
  json dj = Parse(Tokenctl(dir_, {"--json", "dialog", "webcaster/grp-5"}).out);
  EXPECT_EQ(dj["page"], "webcaster/grp-5");
  EXPECT_EQ(dj["defaults"]["target"], "stream_group");
  EXPECT_EQ(dj["defaults"]["stream_group_id"], "grp-5");
  EXPECT_EQ(dj["defaults"]["lifetime"], "2w");
  EXPECT_EQ(dj["target_options"].size(), 3u);

  Result bad_path = Tokenctl(dir_, {"dialog", "settings/grp-5"});
  EXPECT_EQ(bad_path.code, 2);
  EXPECT_THAT(bad_path.err, IsOneLine());
  EXPECT_THAT(bad_path.err, HasSubstr("expected one of playout/<stream-id>"));

  // A not-before later than an explicit expiry (a lifetime would count
  // from the not-before time).
  auto in_hours = [](int h) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + absl::Hours(h),
                            absl::UTCTimeZone());
  };
  Result bad_form =
      Tokenctl(dir_, {"dialog", "playout/grp-5", "--expires", in_hours(48),
                      "--not-before", in_hours(72)});
  EXPECT_EQ(bad_form.code, 2);
  EXPECT_THAT(bad_form.err, IsOneLine());
  EXPECT_THAT(bad_form.err,
              HasSubstr("Not before must be earlier than the expiry"));

  Result created =
      Ctl({"dialog", "https://dash.example/playout/grp-5?x=1", "--create"},
          org.api_key);
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_THAT(created.out,
              HasSubstr("  Target        entire stream group grp-5\n"));
  EXPECT_THAT(created.out, HasSubstr("(in 14 days)\n"));
  EXPECT_THAT(created.out, HasSubstr("h5live: { security: { jwtoken: "));

  Result streams =
      Ctl({"--json", "dialog", "stream/new/grp-5", "--streams", "main, backup",
           "--expires", "2999-01-01T00:00:00Z", "--tag", "t"},
          org.api_key);
  // 2999 is beyond the maximum lifetime: the dialog says so before sending.
  EXPECT_EQ(streams.code, 2);
  EXPECT_EQ(Parse(streams.out)["error"]["problems"][0]["field"], "expires");
  // Form flags without --create issue nothing.
  Result shown = Ctl({"--json", "dialog", "stream/new/grp-5", "--streams",
                      "main, backup", "--lifetime", "90m", "--tag", "t"},
                     org.api_key);
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_EQ(Parse(shown.out)["created"], false);
  EXPECT_EQ(
      Parse(Ctl({"--json", "list", "--tag", "t"}, org.api_key).out)["tokens"]
          .size(),
      0u);
  Result ok =
      Ctl({"--json", "dialog", "stream/new/grp-5", "--streams", "main, backup",
           "--lifetime", "90m", "--tag", "t", "--create"},
          org.api_key);
  ASSERT_EQ(ok.code, 0) << ok.err;
  json o = Parse(ok.out);
  EXPECT_EQ(o["target"], "streams main, backup");
  EXPECT_EQ(o["expires_relative"], "in 90 minutes");
  EXPECT_EQ(o["page"], "stream/new/grp-5");
  EXPECT_THAT(std::string(o["security_config"]["group"]["json"]),
              StartsWith("{\"security\":{\"jwtoken\":\"ey"));
}

TEST_F(TokenctlTest, ApiKeyFileAndTimeout) {
  OrgCredentials org = NewOrg();
  const std::string file = dir_.File("key");
  WriteFile(file, org.api_key + "\n");
  Result r = Ctl({"--api-key-file", file, "list"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Ctl({"--api-key-file", dir_.File("none"), "list"}).code, 2);
  EXPECT_EQ(Ctl({"--timeout", "soon", "list"}, org.api_key).code, 2);
  // The file wins over the environment.
  EXPECT_EQ(Ctl({"--api-key-file", file, "list"}, "wrong-key").code, 0);
  Result wrong = Ctl({"list"}, "wrong-key");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("(UNAUTHENTICATED); check the API key"));
}

}  // namespace
}  // namespace token_authority::client

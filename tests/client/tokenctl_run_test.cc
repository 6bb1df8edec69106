// tokenctl's Run() in-process, with a client factory over gmock stubs: what
// the global flags turn into, the prompt, exit codes. (The binary against a
// real server: tokenctl_test.cc; the conventions every command shares:
// tokenctl_cli_test.cc.)
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/tokenctl_run_fixture.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::client::tokenctl {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;

TEST_F(RunTest, GlobalFlagsBecomeConnectionOptionsAndMetadata) {
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* c, const auto&, auto*) {
        auto md =
            grpc::testing::ClientContextTestPeer(c).GetSendInitialMetadata();
        EXPECT_EQ(md.find("authorization")->second, "Bearer env-key");
        EXPECT_EQ(md.find("x-organization-id")->second, "org-9");
        EXPECT_EQ(absl::FromChrono(c->deadline()), kNow + absl::Seconds(90));
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"--server", "tokens.internal:7443", "--tls", "--as-org",
                 "org-9", "--timeout", "90s", "keys", "list"}),
            0)
      << err_.str();
  EXPECT_EQ(factory_calls_, 1);
  EXPECT_EQ(seen_.server, "tokens.internal:7443");
  EXPECT_TRUE(seen_.tls);
  EXPECT_EQ(seen_.api_key, "env-key");
  EXPECT_EQ(seen_.timeout, absl::Seconds(90));
  EXPECT_EQ(out_.str(), "No signing keys.\n");
}

TEST_F(RunTest, GlobalFlagsAlsoAfterTheCommand) {
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_EQ(Run({"keys", "list", "--json", "--server", "h:1"}), 0);
  EXPECT_EQ(seen_.server, "h:1");
  EXPECT_EQ(nlohmann::json::parse(out_.str())["keys"].size(), 0u);
}

TEST_F(RunTest, CommandsWithoutServerMakeNoClient) {
  EXPECT_EQ(Run({"dialog", "playout/abc"}), 0);
  EXPECT_EQ(Run({"issue", "--lifetime", "x"}), 2);
  EXPECT_EQ(factory_calls_, 0);
}

TEST_F(RunTest, ServerFailureIsOneLineAndExitOne) {
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                    "an auditor key may not do that")));
  EXPECT_EQ(Run({"get", "tok"}), 1);
  EXPECT_EQ(err_.str(),
            "tokenctl get: an auditor key may not do that "
            "(PERMISSION_DENIED); use an API key whose role allows this\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RunTest, JsonModeAlsoPrintsErrorsAsOneDocument) {
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "token tok not found")));
  EXPECT_EQ(Run({"--json", "get", "tok"}), 1);
  const nlohmann::json doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(doc["error"]["message"], "token tok not found");
  EXPECT_EQ(doc["error"]["exit_code"], 1);
  EXPECT_THAT(err_.str(), HasSubstr("(NOT_FOUND)"));

  EXPECT_EQ(Run({"--json", "list", "--state", "odd"}), 2);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"],
            "INVALID_ARGUMENT");

  // A form with problems: one error document listing them, field and flag.
  EXPECT_EQ(Run({"--json", "issue", "--lifetime", "0s", "--org-wide"}), 2);
  const nlohmann::json form = nlohmann::json::parse(out_.str());
  EXPECT_EQ(form["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_EQ(form["error"]["exit_code"], 2);
  EXPECT_EQ(form["error"]["problems"][0]["field"], "lifetime");
  EXPECT_EQ(form["error"]["problems"][0]["flag"], "--lifetime");
  EXPECT_EQ(form.size(), 1u);
}

TEST_F(RunTest, RevokeBulkAsksOnStderrAndReadsStdin) {
  v1::RevokeTokensResponse three;
  three.set_revoked_count(3);
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                     v1::RevokeTokensResponse* out) {
            EXPECT_TRUE(r.dry_run());
            EXPECT_EQ(r.user_id(), "u1");
            *out = three;
            return grpc::Status::OK;
          }))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                     v1::RevokeTokensResponse* out) {
            EXPECT_FALSE(r.dry_run());
            EXPECT_EQ(r.reason(), "abuse");
            *out = three;
            return grpc::Status::OK;
          }));
  in_.str("yes\n");
  EXPECT_EQ(Run({"revoke-bulk", "--user", "u1", "--reason", "abuse"}), 0)
      << err_.str();
  EXPECT_EQ(err_.str(), "3 tokens match (user=u1). Revoke them? [y/N] ");
  EXPECT_EQ(out_.str(), "Revoked 3 tokens (user=u1).\n");
}

TEST_F(RunTest, VerifyDeniedIsExitThree) {
  EXPECT_CALL(*tokens_, VerifyToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::VerifyTokenRequest& r,
                          v1::VerifyTokenResponse* out) {
        EXPECT_EQ(r.jwt(), "a.b.c");
        EXPECT_EQ(r.organization_id(), "org-1");
        EXPECT_EQ(r.client_ip(), "198.51.100.1");
        out->set_allowed(false);
        out->set_reason(v1::DENY_REASON_IP_MISMATCH);
        out->set_detail("The token is bound to 203.0.113.0/24.");
        return grpc::Status::OK;
      }));
  in_.str("Bearer a.b.c\n");
  EXPECT_EQ(Run({"verify", "-", "--org", "org-1", "--ip", "198.51.100.1"}), 3);
  EXPECT_THAT(out_.str(), HasSubstr("Reason    ip-mismatch\n"));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RunTest, ApiKeyFileBeatsTheEnvironment) {
  const ::token_authority::testing::TempDir dir;
  const std::string path = dir.File("tokenctl_run_key");
  {
    std::ofstream f(path);
    f << "  file-key \n";
  }
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_EQ(Run({"--api-key-file", path, "keys", "list"}), 0);
  EXPECT_EQ(seen_.api_key, "file-key");
  env_key_.clear();
  EXPECT_EQ(Run({"keys", "list"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("no API key"));
}

TEST_F(RunTest, ServerFromTheEnvironment) {
  env_server_ = "127.0.0.1:7001";
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_EQ(Run({"keys", "list"}), 0);
  EXPECT_EQ(seen_.server, "127.0.0.1:7001");
}

TEST_F(RunTest, ServerFlagBeatsTheEnvironment) {
  env_server_ = "127.0.0.1:7001";
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_EQ(Run({"--server", "127.0.0.1:7002", "keys", "list"}), 0);
  EXPECT_EQ(seen_.server, "127.0.0.1:7002");
}

// Tokens for the listing tests: `kind` "org" (organisation-wide), "group"
// or a stream name.
v1::Token MakeToken(const std::string& id, const std::string& kind,
                    v1::TokenState state, int64_t issued) {
  v1::Token t;
  t.set_id(id);
  if (kind == "org") {
    t.mutable_target()->set_organization(true);
  } else if (kind == "group") {
    t.mutable_target()->set_stream_group_id("g1");
  } else {
    t.mutable_target()->mutable_stream_names()->add_names(kind);
  }
  t.set_state(state);
  t.mutable_issued_at()->set_seconds(issued);
  t.mutable_expires_at()->set_seconds(issued + 3600);
  t.mutable_expires_at()->set_nanos(250000000);
  return t;
}

TEST_F(RunTest, ListStatesUtcHeaderAndHintOnStderr) {
  EXPECT_CALL(*tokens_, ListTokens(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::ListTokensRequest& r,
                          v1::ListTokensResponse* out) {
        EXPECT_EQ(r.state(), v1::TOKEN_STATE_NOT_YET_VALID);
        *out->add_tokens() =
            MakeToken("t1", "cam", v1::TOKEN_STATE_NOT_YET_VALID, 1740830400);
        out->set_next_page_token("PAGE2");
        return grpc::Status::OK;
      }));
  // Any spelling is read; one is printed.
  ASSERT_EQ(Run({"list", "--state", "not_yet_valid"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            "ID  TARGET      STATE          EXPIRES (UTC)         USER  TAG\n"
            "t1  stream cam  not-yet-valid  2025-03-01T13:00:00Z  -     -\n");
  EXPECT_EQ(err_.str(),
            "next page: repeat with --page-token PAGE2 (or --all for every "
            "page)\n");
}

TEST_F(RunTest, ListByStreamIncludesOrgWideTokensOnlyWhenAsked) {
  EXPECT_CALL(*tokens_, ListTokens(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::ListTokensRequest& r,
                          v1::ListTokensResponse* out) {
        EXPECT_EQ(r.stream_name(), "cam");
        *out->add_tokens() =
            MakeToken("named", "cam", v1::TOKEN_STATE_ACTIVE, 200);
        return grpc::Status::OK;
      }))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::ListTokensRequest& r,
                          v1::ListTokensResponse* out) {
        // The organisation's tokens, every page: the client keeps the
        // organisation-wide ones.
        EXPECT_EQ(r.stream_name(), "");
        EXPECT_EQ(r.tag(), "spring");
        EXPECT_EQ(r.page_size(), 1000);
        *out->add_tokens() =
            MakeToken("org-new", "org", v1::TOKEN_STATE_ACTIVE, 300);
        *out->add_tokens() =
            MakeToken("named", "cam", v1::TOKEN_STATE_ACTIVE, 200);
        *out->add_tokens() =
            MakeToken("group", "group", v1::TOKEN_STATE_ACTIVE, 150);
        *out->add_tokens() =
            MakeToken("org-old", "org", v1::TOKEN_STATE_EXPIRED, 100);
        return grpc::Status::OK;
      }));
  ASSERT_EQ(Run({"--json", "list", "--stream", "cam", "--tag", "spring",
                 "--include-org-wide"}),
            0)
      << err_.str();
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j["tokens"].size(), 3u) << j.dump();
  EXPECT_EQ(j["tokens"][0]["id"], "org-new");  // newest first
  EXPECT_EQ(j["tokens"][1]["id"], "named");
  EXPECT_EQ(j["tokens"][2]["id"], "org-old");
  EXPECT_EQ(j["tokens"][2]["state"], "expired");

  // Only with --stream or --group.
  EXPECT_EQ(Run({"list", "--include-org-wide"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("goes with --stream or --group"));
  EXPECT_EQ(Run({"list", "--stream", "cam", "--include-org-wide",
                 "--page-token", "P"}),
            2);
}

TEST_F(RunTest, RevokeBulkByStreamCountsAndRevokesOrgWideTokensWhenAsked) {
  std::vector<std::string> revoked_ids;
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                    v1::RevokeTokensResponse* out) {
            EXPECT_TRUE(r.dry_run());
            EXPECT_EQ(r.stream_name(), "cam");
            out->set_revoked_count(2);
            return grpc::Status::OK;
          }))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                    v1::RevokeTokensResponse* out) {
            EXPECT_FALSE(r.dry_run());
            out->set_revoked_count(2);
            return grpc::Status::OK;
          }));
  EXPECT_CALL(*tokens_, ListTokens(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::ListTokensRequest&,
                          v1::ListTokensResponse* out) {
        *out->add_tokens() = MakeToken("o1", "org", v1::TOKEN_STATE_ACTIVE, 3);
        *out->add_tokens() =
            MakeToken("o2", "org", v1::TOKEN_STATE_NOT_YET_VALID, 2);
        // Not revocable, not counted.
        *out->add_tokens() = MakeToken("o3", "org", v1::TOKEN_STATE_EXPIRED, 1);
        *out->add_tokens() = MakeToken("o4", "org", v1::TOKEN_STATE_REVOKED, 1);
        *out->add_tokens() = MakeToken("g", "group", v1::TOKEN_STATE_ACTIVE, 1);
        return grpc::Status::OK;
      }));
  EXPECT_CALL(*tokens_, RevokeToken(_, _, _))
      .Times(2)
      .WillRepeatedly(
          Invoke([&](grpc::ClientContext*, const v1::RevokeTokenRequest& r,
                     v1::Token* out) {
            EXPECT_EQ(r.reason(), "leak");
            revoked_ids.push_back(r.token_id());
            out->set_id(r.token_id());
            return grpc::Status::OK;
          }));
  in_.str("y\n");
  ASSERT_EQ(Run({"revoke-bulk", "--stream", "cam", "--include-org-wide",
                 "--reason", "leak"}),
            0)
      << err_.str();
  EXPECT_THAT(err_.str(),
              HasSubstr("4 tokens match (stream=cam, organisation-wide "
                        "tokens included), 2 of them organisation-wide"));
  EXPECT_EQ(out_.str(),
            "Revoked 4 tokens (stream=cam, organisation-wide tokens "
            "included).\n");
  EXPECT_THAT(revoked_ids, ::testing::ElementsAre("o1", "o2"));
}

TEST_F(RunTest, RevokeBulkByStreamSaysOrgWideTokensAreLeftOut) {
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::RevokeTokensRequest&,
                          v1::RevokeTokensResponse* out) {
        out->set_revoked_count(1);
        return grpc::Status::OK;
      }));
  ASSERT_EQ(Run({"revoke-bulk", "--stream", "cam", "--dry-run"}), 0);
  EXPECT_EQ(out_.str(),
            "1 token matches (stream=cam); nothing was revoked (dry run).\n");
  EXPECT_THAT(err_.str(), HasSubstr("organisation-wide tokens play every "
                                    "stream and group too; they are not "
                                    "included (add --include-org-wide"));
}

TEST_F(RunTest, RevokeBulkNeverRevokesByFilterWhatItDidNotCount) {
  // The server counted no named token: only the listed organisation-wide
  // token is revoked (by ID); no bulk call could catch newer tokens.
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _))
      .WillOnce(
          Invoke([](grpc::ClientContext*, const v1::RevokeTokensRequest& r,
                    v1::RevokeTokensResponse* out) {
            EXPECT_TRUE(r.dry_run());
            out->set_revoked_count(0);
            return grpc::Status::OK;
          }));
  EXPECT_CALL(*tokens_, ListTokens(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::ListTokensRequest&,
                          v1::ListTokensResponse* out) {
        *out->add_tokens() = MakeToken("o1", "org", v1::TOKEN_STATE_ACTIVE, 3);
        return grpc::Status::OK;
      }));
  EXPECT_CALL(*tokens_, RevokeToken(_, _, _))
      .WillOnce(Return(grpc::Status::OK));
  ASSERT_EQ(Run({"--json", "revoke-bulk", "--group", "g1", "--include-org-wide",
                 "--yes"}),
            0)
      << err_.str();
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["matched"], 1);
  EXPECT_EQ(j["org_wide"], 1);
  EXPECT_EQ(j["revoked_count"], 1);
}

TEST_F(RunTest, DialogWithoutCreateIssuesNothing) {
  // Form flags only show the form and its validation: no client at all.
  ASSERT_EQ(Run({"dialog", "playout/abc", "--streams", "a,b", "--tag", "t"}), 0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("\nForm\n"));
  EXPECT_THAT(out_.str(), HasSubstr("Target      streams a,b\n"));
  EXPECT_THAT(out_.str(), HasSubstr("Tag         t\n"));
  EXPECT_THAT(err_.str(), HasSubstr("nothing was created: add --create"));
  ASSERT_EQ(Run({"--json", "dialog", "playout/abc", "--org-wide"}), 0);
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["form"]["target"], "organization");
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["created"], false);
  EXPECT_FALSE(j.contains("jwt"));
  // Problems: exit 2, still nothing issued.
  EXPECT_EQ(Run({"dialog", "playout/abc", "--lifetime", "0s"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("(--lifetime)"));
  EXPECT_EQ(factory_calls_, 0);
}

TEST_F(RunTest, DialogGroupOtherThanThePageWarnsAndAsks) {
  ASSERT_EQ(Run({"dialog", "stream/abc", "--group", "xyz"}), 0);
  EXPECT_THAT(err_.str(), HasSubstr("warning: --group xyz is not this page's "
                                    "stream abc"));
  // --create asks; "no" issues nothing (StrictMock: no IssueToken).
  in_.str("n\n");
  EXPECT_EQ(Run({"dialog", "stream/abc", "--group", "xyz", "--create"}),
            kExitAborted);
  EXPECT_THAT(err_.str(), HasSubstr("[y/N] "));
  EXPECT_THAT(err_.str(), HasSubstr("aborted: not confirmed; nothing was "
                                    "created"));
  // With --json it never asks.
  EXPECT_EQ(
      Run({"--json", "dialog", "stream/abc", "--group", "xyz", "--create"}),
      kExitAborted);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"], "ABORTED");
  EXPECT_EQ(factory_calls_, 0);
  // The page's own stream: no warning.
  ASSERT_EQ(Run({"dialog", "stream/abc", "--group", "abc"}), 0);
  EXPECT_THAT(err_.str(), Not(HasSubstr("warning")));

  // --yes: issued for the group given.
  EXPECT_CALL(*tokens_, IssueToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::IssueTokenRequest& r,
                          v1::IssueTokenResponse* out) {
        EXPECT_EQ(r.spec().target().stream_group_id(), "xyz");
        out->set_jwt("h.p.s");
        out->mutable_token()->mutable_target()->set_stream_group_id("xyz");
        return grpc::Status::OK;
      }));
  ASSERT_EQ(Run({"dialog", "stream/abc", "--group", "xyz", "--create", "-y"}),
            0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("entire stream group xyz"));
}

TEST_F(RunTest, DecodeOfAnInvalidTokenSaysInvalidExitsThreeNoSnippets) {
  for (bool server_knows_invalid : {true, false}) {
    SCOPED_TRACE(server_knows_invalid);
    FreshStubs();
    EXPECT_CALL(*tokens_, DecodeToken(_, _, _))
        .WillOnce(
            Invoke([&](grpc::ClientContext*, const v1::DecodeTokenRequest&,
                       v1::DecodeTokenResponse* out) {
              out->set_signature_valid(false);
              // A server that predates TOKEN_STATE_INVALID says what the times
              // say.
              out->set_state(server_knows_invalid ? v1::TOKEN_STATE_INVALID
                                                  : v1::TOKEN_STATE_ACTIVE);
              out->mutable_token()->set_id("forged");
              out->add_problems("The signature does not verify.");
              return grpc::Status::OK;
            }));
    EXPECT_EQ(Run({"decode", "h.p.s"}), kExitDenied);
    EXPECT_THAT(out_.str(), HasSubstr("  State       invalid\n"));
    EXPECT_THAT(out_.str(), HasSubstr("Do not paste it into a player"));
    EXPECT_THAT(out_.str(), Not(HasSubstr("jwtoken")));
    EXPECT_THAT(out_.str(), Not(HasSubstr("active")));
  }
  FreshStubs();
  EXPECT_CALL(*tokens_, DecodeToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const v1::DecodeTokenRequest&,
                          v1::DecodeTokenResponse* out) {
        out->set_state(v1::TOKEN_STATE_INVALID);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(Run({"--json", "decode", "h.p.s"}), kExitDenied);
  const nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["state"], "invalid");
  EXPECT_FALSE(j.contains("security_config"));
}

}  // namespace
}  // namespace token_authority::client::tokenctl

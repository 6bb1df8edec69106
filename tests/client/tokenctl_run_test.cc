// tokenctl's Run() in-process, with a client factory over gmock stubs: what
// the global flags turn into, the prompt, exit codes. (The binary against a
// real server: tokenctl_test.cc.)
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "client/tokenctl/tokenctl.h"
#include "gmock/gmock.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tokenauthority/v1/key_service_mock.grpc.pb.h"
#include "tokenauthority/v1/token_service_mock.grpc.pb.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::StrictMock;

const absl::Time kNow = absl::FromUnixSeconds(1740830400);

class RunTest : public ::testing::Test {
 protected:
  RunTest() : clock_(kNow) {
    env_.in = &in_;
    env_.out = &out_;
    env_.err = &err_;
    env_.clock = &clock_;
    env_.getenv =
        [this](const std::string& name) -> std::optional<std::string> {
      if (name == "TOKENCTL_API_KEY" && !env_key_.empty()) return env_key_;
      if (name == "TOKENCTL_SERVER" && !env_server_.empty()) {
        return env_server_;
      }
      return std::nullopt;
    };
    env_.client_factory = [this](const ConnectionOptions& c)
        -> absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> {
      ++factory_calls_;
      seen_ = c;
      TokenAuthorityClient::Stubs stubs;
      stubs.tokens = std::move(tokens_owned_);
      stubs.keys = std::move(keys_owned_);
      ClientOptions o;
      o.api_key = c.api_key;
      o.organization_id = c.as_organization;
      o.default_deadline = c.timeout;
      o.clock = &clock_;
      o.sleep = [](absl::Duration) {};
      return TokenAuthorityClient::CreateWithStubs(std::move(stubs), o);
    };
    tokens_owned_ = std::make_unique<StrictMock<v1::MockTokenServiceStub>>();
    keys_owned_ = std::make_unique<StrictMock<v1::MockKeyServiceStub>>();
    tokens_ = tokens_owned_.get();
    keys_ = keys_owned_.get();
  }

  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return tokenctl::Run(args, env_);
  }

  FakeClock clock_;
  std::istringstream in_;
  std::ostringstream out_, err_;
  Environment env_;
  std::string env_key_ = "env-key";
  std::string env_server_;
  int factory_calls_ = 0;
  ConnectionOptions seen_;
  std::unique_ptr<StrictMock<v1::MockTokenServiceStub>> tokens_owned_;
  std::unique_ptr<StrictMock<v1::MockKeyServiceStub>> keys_owned_;
  StrictMock<v1::MockTokenServiceStub>* tokens_;
  StrictMock<v1::MockKeyServiceStub>* keys_;
};

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
  EXPECT_EQ(nlohmann::json::parse(out_.str())["error"]["code"], "USAGE");

  // A form with problems prints the problems, not a second document.
  EXPECT_EQ(Run({"--json", "issue", "--lifetime", "0s", "--org-wide"}), 2);
  const nlohmann::json problems = nlohmann::json::parse(out_.str());
  EXPECT_EQ(problems["problems"][0]["field"], "lifetime");
  EXPECT_FALSE(problems.contains("error"));
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
  EXPECT_THAT(out_.str(), HasSubstr("Reason    ip_mismatch\n"));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(RunTest, ApiKeyFileBeatsTheEnvironment) {
  const std::string path = ::testing::TempDir() + "/tokenctl_run_key";
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

}  // namespace
}  // namespace token_authority::client::tokenctl

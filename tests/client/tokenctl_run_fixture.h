// The fixture of the in-process tokenctl tests: Run() with a client factory
// over gmock stubs (StrictMock: a call no test expects fails it), a fake
// clock, string streams and an injected environment.
#ifndef TESTS_CLIENT_TOKENCTL_RUN_FIXTURE_H_
#define TESTS_CLIENT_TOKENCTL_RUN_FIXTURE_H_

#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "client/tokenctl/tokenctl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tokenauthority/v1/key_service_mock.grpc.pb.h"
#include "tokenauthority/v1/token_service_mock.grpc.pb.h"

namespace token_authority::client::tokenctl {

namespace v1 = ::tokenauthority::v1;

inline const absl::Time kNow = absl::FromUnixSeconds(1740830400);

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
      auto it = env_vars_.find(name);
      if (it != env_vars_.end()) return it->second;
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
    FreshStubs();
  }

  // New mocks for the next client: each Run that reaches the server makes a
  // client, which takes the stubs (and verifies their expectations when the
  // run ends). Set a run's expectations after calling this.
  void FreshStubs() {
    tokens_owned_ =
        std::make_unique<::testing::StrictMock<v1::MockTokenServiceStub>>();
    keys_owned_ =
        std::make_unique<::testing::StrictMock<v1::MockKeyServiceStub>>();
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
  std::map<std::string, std::string> env_vars_;  // other variables
  int factory_calls_ = 0;
  ConnectionOptions seen_;
  std::unique_ptr<::testing::StrictMock<v1::MockTokenServiceStub>>
      tokens_owned_;
  std::unique_ptr<::testing::StrictMock<v1::MockKeyServiceStub>> keys_owned_;
  ::testing::StrictMock<v1::MockTokenServiceStub>* tokens_;
  ::testing::StrictMock<v1::MockKeyServiceStub>* keys_;
};

}  // namespace token_authority::client::tokenctl

#endif  // TESTS_CLIENT_TOKENCTL_RUN_FIXTURE_H_

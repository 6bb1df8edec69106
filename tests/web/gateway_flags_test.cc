#include "client/web/gateway_flags.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::client::web {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

class GatewayFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_file_ = dir_.File("issuer.key");
    std::ofstream(key_file_) << "  ta_k1_secret\n";
  }
  absl::StatusOr<GatewayFlags> Parse(std::vector<const char*> args) {
    args.insert(args.begin(), "token-dialogs");
    return ParseGatewayFlags(
        static_cast<int>(args.size()), args.data(),
        [this](const std::string& name) -> std::optional<std::string> {
          auto it = env_.find(name);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        });
  }
  testing::TempDir dir_;
  std::string key_file_;
  std::map<std::string, std::string> env_;
};

TEST_F(GatewayFlagsTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(GatewayFlags f,
                       Parse({"--api-key-file", key_file_.c_str()}));
  EXPECT_EQ(f.gateway.listen, "127.0.0.1:8080");
  EXPECT_EQ(f.authority, "127.0.0.1:50051");
  EXPECT_EQ(f.client.api_key, "ta_k1_secret");
  EXPECT_TRUE(f.client.insecure);
  EXPECT_EQ(f.gateway.limits.max_lifetime, absl::Hours(24 * 365));
  EXPECT_TRUE(f.gateway.tls_cert_file.empty());
}

TEST_F(GatewayFlagsTest, FlagsWinOverEnvironmentVariables) {
  env_ = {{"TD_LISTEN", "127.0.0.1:0"},
          {"TD_AUTHORITY", "10.0.0.1:1"},
          {"TD_API_KEY_FILE", key_file_},
          {"TD_MAX_LIFETIME", "30d"},
          {"TD_AUTHORITY_TLS", "true"}};
  ASSERT_OK_AND_ASSIGN(GatewayFlags f, Parse({"--authority", "a:2"}));
  EXPECT_EQ(f.gateway.listen, "127.0.0.1:0");
  EXPECT_EQ(f.authority, "a:2");
  EXPECT_EQ(f.gateway.limits.max_lifetime, absl::Hours(24 * 30));
  EXPECT_FALSE(f.client.insecure);
}

TEST_F(GatewayFlagsTest, ErrorsNameTheFlag) {
  EXPECT_THAT(Parse({}), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("--api-key-file")));
  EXPECT_THAT(Parse({"--api-key-file", "/nonexistent/key"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("--api-key-file")));
  EXPECT_THAT(
      Parse({"--api-key-file", key_file_.c_str(), "--max-lifetime", "forever"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("--max-lifetime")));
  EXPECT_THAT(Parse({"--bogus"}), StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string empty = dir_.File("empty.key");
  std::ofstream(empty) << "\n";
  EXPECT_THAT(
      Parse({"--api-key-file", empty.c_str()}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("empty")));
}

TEST_F(GatewayFlagsTest, HelpListsEveryFlagWithItsVariable) {
  ASSERT_OK_AND_ASSIGN(GatewayFlags f, Parse({"--help"}));
  for (const char* text : {"--listen", "TD_LISTEN", "--authority",
                           "--api-key-file", "--tls-cert", "--tls-key"}) {
    EXPECT_THAT(f.help, HasSubstr(text));
  }
}

}  // namespace
}  // namespace token_authority::client::web

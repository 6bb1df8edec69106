#include "token/player_config.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace token_authority::token {
namespace {

TEST(SecurityConfigTest, BothFormsAsJavaScriptAndJson) {
  const SecurityConfig c = MakeSecurityConfig("eyJh.eyJi.c2ln");
  EXPECT_EQ(c.group_js, "security: { jwtoken: \"eyJh.eyJi.c2ln\" }");
  EXPECT_EQ(c.entry_js,
            "h5live: { security: { jwtoken: \"eyJh.eyJi.c2ln\" } }");
  EXPECT_EQ(c.group_json, "{\"security\":{\"jwtoken\":\"eyJh.eyJi.c2ln\"}}");
  EXPECT_EQ(c.entry_json,
            "{\"h5live\":{\"security\":{\"jwtoken\":\"eyJh.eyJi.c2ln\"}}}");
  const auto group = nlohmann::json::parse(c.group_json);
  EXPECT_EQ(group["security"]["jwtoken"], "eyJh.eyJi.c2ln");
  const auto entry = nlohmann::json::parse(c.entry_json);
  EXPECT_EQ(entry["h5live"]["security"]["jwtoken"], "eyJh.eyJi.c2ln");
}

TEST(SecurityConfigTest, EscapesWhatIsNotAToken) {
  const SecurityConfig c = MakeSecurityConfig("a\"b\\c");
  EXPECT_EQ(c.group_js, "security: { jwtoken: \"a\\\"b\\\\c\" }");
  EXPECT_EQ(nlohmann::json::parse(c.group_json)["security"]["jwtoken"],
            "a\"b\\c");
}

}  // namespace
}  // namespace token_authority::token

#include "client/dialog_json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::client {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

TEST(FormJsonTest, RoundTripsEveryField) {
  DialogForm form;
  form.target = "streams";
  form.stream_group_id = "g";
  form.stream_names = "a, b";
  form.lifetime = "";
  form.expires = "2030-01-01T00:00:00Z";
  form.not_before = "2029-12-01T00:00:00Z";
  form.client_ip = "10.0.0.0/8";
  form.domain = "*.example.com";
  form.user_id = "<u>";
  form.tag = "\"t\"";
  const nlohmann::json j = FormToJson(form);
  EXPECT_EQ(j.size(), std::size(kFormFields));
  ASSERT_OK_AND_ASSIGN(DialogForm back, FormFromJson(j));
  EXPECT_EQ(FormToJson(back), j);
}

TEST(FormJsonTest, MissingKeysKeepTheDefaultsAndBadOnesAreNamed) {
  ASSERT_OK_AND_ASSIGN(DialogForm f,
                       FormFromJson({{"tag", "x"}, {"domain", nullptr}}));
  EXPECT_EQ(f.tag, "x");
  EXPECT_EQ(f.target, DialogForm().target);
  EXPECT_EQ(f.lifetime, "2w");
  EXPECT_THAT(FormFromJson({{"tag", 1}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("form.tag: must be a string")));
  EXPECT_THAT(
      FormFromJson({{"colour", "red"}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("form.colour")));
  EXPECT_THAT(FormFromJson(nlohmann::json::array()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProblemsJsonTest, CarryFieldLabelAndMessage) {
  const nlohmann::json j =
      ProblemsToJson({{"client_ip", "IP address must be ..."}, {"form", "x"}});
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["field"], "client_ip");
  EXPECT_EQ(j[0]["label"], "IP address");
  EXPECT_EQ(j[0]["message"], "IP address must be ...");
  EXPECT_EQ(j[1]["label"], "Form");
}

TEST(DialogJsonTest, PreselectsThePagesTargetAndLifetime) {
  const InlineDialog d = DialogForPage({DialogPage::kPlayout, "s9"});
  const nlohmann::json j = DialogToJson(d, DescribeForm());
  EXPECT_EQ(j["page"], "playout/s9");
  EXPECT_EQ(j["page_title"], "Playout");
  EXPECT_EQ(j["stream_id"], "s9");
  EXPECT_EQ(j["defaults"]["stream_group_id"], "s9");
  int selected = 0;
  for (const auto& o : j["target_options"]) {
    if (o["selected"] == true) {
      ++selected;
      EXPECT_EQ(o["value"], "stream_group");
    }
  }
  EXPECT_EQ(selected, 1);
  selected = 0;
  for (const auto& c : j["lifetime_choices"]) {
    if (c["selected"] == true) {
      ++selected;
      EXPECT_EQ(c["value"], "2w");
      EXPECT_EQ(c["label"], "2 weeks");
    }
  }
  EXPECT_EQ(selected, 1);
  EXPECT_EQ(j["limits"]["max_lifetime"], "365 days");
  EXPECT_EQ(j["limits"]["max_stream_names"], 100);
  EXPECT_EQ(j["fields"][3]["name"], "lifetime");
  EXPECT_EQ(j["state_filters"].size(), 4u);
  EXPECT_EQ(j["invalid_token_warning"], std::string(kInvalidTokenWarning));
}

TEST(OverviewJsonTest, TheValueIsWhatOverviewToJsonWrites) {
  TokenOverview o;
  o.target = "entire stream group g";
  o.jwt = "a.b.c";
  o.security_config = MakeSecurityConfig("a.b.c");
  EXPECT_EQ(nlohmann::json::parse(OverviewToJson(o)), OverviewToJsonValue(o));
  EXPECT_TRUE(OverviewToJsonValue(o).contains("security_config"));
  o.invalid = true;
  EXPECT_FALSE(OverviewToJsonValue(o).contains("security_config"));
}

TEST(TokenRowJsonTest, HasEveryColumn) {
  TokenRow row;
  row.token_id = "t";
  row.revocable = true;
  const nlohmann::json j = TokenRowToJson(row);
  for (const char* key :
       {"token_id", "target", "state", "issued_at", "expires_at",
        "expires_relative", "user_id", "tag", "revocable"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["revocable"], true);
}

}  // namespace
}  // namespace token_authority::client

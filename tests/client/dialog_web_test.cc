#include "client/dialog_web.h"

#include <iterator>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/dialog.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::token_authority::testing::StatusIs;

TEST(DialogForWebPathTest, TheSecureTokenPageAndTheFivePages) {
  for (const char* path :
       {"secure/token", "/secure/token/", "/Secure/Token?x#y"}) {
    ASSERT_OK_AND_ASSIGN(InlineDialog d, DialogForWebPath(path));
    EXPECT_TRUE(d.standalone) << path;
    EXPECT_EQ(d.path, "secure/token");
    EXPECT_EQ(d.page_title, "Secure Token");
    EXPECT_EQ(d.defaults.target, "stream_group");
    EXPECT_EQ(d.defaults.stream_group_id, "");
    EXPECT_EQ(d.defaults.lifetime, "2w");
    ASSERT_EQ(d.target_options.size(), 3u);
  }
  ASSERT_OK_AND_ASSIGN(InlineDialog s, DialogForWebPath("/stream/new/x1"));
  EXPECT_FALSE(s.standalone);
  EXPECT_EQ(s.path, "stream/new/x1");
  EXPECT_EQ(s.page_title, "New stream");
  EXPECT_EQ(s.defaults.stream_group_id, "x1");
  EXPECT_THAT(DialogForWebPath("/secure/tokens"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("or secure/token")));
}

TEST(DescribeFormTest, DescribesEveryFieldInFormOrder) {
  const FormDescription d = DescribeForm();
  ASSERT_EQ(d.fields.size(), std::size(kFormFields));
  for (size_t i = 0; i < d.fields.size(); ++i) {
    EXPECT_EQ(d.fields[i].name, kFormFields[i]);
    EXPECT_EQ(d.fields[i].label, FormFieldLabel(kFormFields[i]));
  }
  EXPECT_EQ(d.fields[1].shown_for_target, "stream_group");
  EXPECT_EQ(d.fields[1].max_length, 128u);
  EXPECT_EQ(d.fields[2].shown_for_target, "streams");
  EXPECT_EQ(d.fields[8].max_length, 128u);  // user_id
  EXPECT_TRUE(d.fields[5].optional);        // not_before
  EXPECT_FALSE(d.fields[0].optional);
  // The lifetime counts from the not-before date: said next to both.
  EXPECT_THAT(d.fields[3].hint, HasSubstr("Not before"));
  EXPECT_THAT(d.fields[5].hint, HasSubstr("lifetime counts from"));
  EXPECT_EQ(d.default_lifetime, "2w");
  EXPECT_EQ(d.max_lifetime_text, "365 days");
  EXPECT_EQ(d.lifetime_label, "Token lifetime");
  ASSERT_GE(d.lifetime_choices.size(), 3u);
  EXPECT_EQ(d.lifetime_choices.back().kind, "expiry");
  EXPECT_EQ(d.lifetime_choices[d.lifetime_choices.size() - 2].kind, "custom");
}

TEST(DescribeFormTest, PresetsBeyondTheLimitAreLeftOut) {
  token::TokenLimits limits;
  limits.max_lifetime = absl::Hours(24 * 14);
  const FormDescription d = DescribeForm(limits);
  std::vector<std::string> presets;
  for (const LifetimeChoice& c : d.lifetime_choices) {
    if (c.kind == "preset") presets.push_back(c.value);
  }
  EXPECT_THAT(presets, ElementsAre("1h", "1d", "1w", "2w"));
  EXPECT_EQ(d.max_lifetime_text, "2 weeks");
  // Every preset is a lifetime the form accepts.
  for (const std::string& p : presets) {
    DialogForm form;
    form.stream_group_id = "g";
    form.lifetime = p;
    EXPECT_TRUE(ValidateForm(form, absl::Now(), limits).ok()) << p;
  }
}

TEST(DurationTextTest, UsesTheLargestWholeUnit) {
  EXPECT_EQ(DurationText(absl::Hours(24 * 14)), "2 weeks");
  EXPECT_EQ(DurationText(absl::Hours(24 * 7)), "1 week");
  EXPECT_EQ(DurationText(absl::Hours(24 * 365)), "365 days");
  EXPECT_EQ(DurationText(absl::Hours(24 * 56)), "56 days");
  EXPECT_EQ(DurationText(absl::Hours(1)), "1 hour");
  EXPECT_EQ(DurationText(absl::Minutes(90)), "90 minutes");
  EXPECT_EQ(DurationText(absl::Seconds(45)), "45 seconds");
}

TEST(SecurePackageTest, UpgradeNeededWithoutThePackage) {
  EXPECT_EQ(SecurePackageState(true, "o1").state, "enabled");
  EXPECT_TRUE(SecurePackageState(true).message.empty());
  const SecurePackage off = SecurePackageState(false, "o1");
  EXPECT_EQ(off.state, "Upgrade needed");
  EXPECT_EQ(off.organization_id, "o1");
  EXPECT_THAT(off.message, HasSubstr("contact us"));
}

TEST(TokenRowTest, RowOfAToken) {
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  v1::Token t;
  t.set_id("tok1");
  t.mutable_target()->set_stream_group_id("g1");
  t.set_state(v1::TOKEN_STATE_ACTIVE);
  *t.mutable_expires_at() = convert::ToProtoTimestamp(now + absl::Hours(48));
  t.set_user_id("u<1>");
  t.set_tag("t\"1");
  const TokenRow row = TokenRowOf(t, now);
  EXPECT_EQ(row.token_id, "tok1");
  EXPECT_THAT(row.target, HasSubstr("g1"));
  EXPECT_EQ(row.state, "active");
  EXPECT_EQ(row.expires_at, "2026-01-03T00:00:00Z");
  EXPECT_EQ(row.expires_relative, "in 2 days");
  EXPECT_EQ(row.issued_at, "");
  EXPECT_EQ(row.user_id, "u<1>");
  EXPECT_EQ(row.tag, "t\"1");
  EXPECT_TRUE(row.revocable);
  t.set_state(v1::TOKEN_STATE_REVOKED);
  EXPECT_FALSE(TokenRowOf(t, now).revocable);
}

TEST(StateFilterTest, ReadsTheFourStates) {
  EXPECT_THAT(StateFilterChoices(),
              ElementsAre("active", "not-yet-valid", "expired", "revoked"));
  for (const std::string& s : StateFilterChoices()) {
    EXPECT_TRUE(ParseStateFilter(s).ok()) << s;
  }
  EXPECT_EQ(*ParseStateFilter(""), v1::TOKEN_STATE_UNSPECIFIED);
  EXPECT_EQ(*ParseStateFilter(" Not_Yet_Valid "),
            v1::TOKEN_STATE_NOT_YET_VALID);
  EXPECT_THAT(ParseStateFilter("gone"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("state")));
}

}  // namespace
}  // namespace token_authority::client

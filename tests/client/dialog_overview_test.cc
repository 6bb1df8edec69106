// The Secure Token Overview (client/dialog_overview.cc): relative times,
// the overview of an issued and of a decoded token, its table and JSON, and
// invalid tokens (no snippets).
#include <string>

#include "absl/time/time.h"
#include "client/dialog.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/dialog_samples.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1740830400);

// Snippets, relative times, overview ------------------------------------------

TEST(RelativeTimeTest, RoundsToTheNearestUnit) {
  EXPECT_EQ(RelativeTime(kNow, kNow), "now");
  EXPECT_EQ(RelativeTime(kNow + absl::Seconds(4), kNow), "now");
  EXPECT_EQ(RelativeTime(kNow + absl::Seconds(30), kNow), "in 30 seconds");
  EXPECT_EQ(RelativeTime(kNow - absl::Seconds(30), kNow), "30 seconds ago");
  EXPECT_EQ(RelativeTime(kNow + absl::Minutes(1), kNow), "in 60 seconds");
  EXPECT_EQ(RelativeTime(kNow + absl::Minutes(15), kNow), "in 15 minutes");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(1), kNow), "in 60 minutes");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(2), kNow), "in 2 hours");
  EXPECT_EQ(RelativeTime(kNow - absl::Hours(35), kNow), "35 hours ago");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(36), kNow), "in 2 days");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(24 * 14) - absl::Seconds(1), kNow),
            "in 14 days");
  EXPECT_EQ(RelativeTime(kNow - absl::Hours(24), kNow), "24 hours ago");
  EXPECT_EQ(RelativeTime(kNow - absl::Hours(24 * 3), kNow), "3 days ago");
}

TEST(OverviewTest, FromIssueHasEveryField) {
  const TokenOverview o =
      OverviewFromIssue(SampleIssued(kNow), kNow + absl::Milliseconds(300));
  EXPECT_EQ(o.target, "entire stream group grp-1");
  EXPECT_EQ(o.not_before, kNow);
  EXPECT_EQ(o.not_before_relative, "now");
  EXPECT_EQ(o.expires_at, kNow + absl::Hours(24 * 14));
  EXPECT_EQ(o.expires_relative, "in 14 days");
  EXPECT_EQ(o.client_ip, "203.0.113.0/24");
  EXPECT_EQ(o.domain, "*.example.com");
  EXPECT_EQ(o.user_id, "viewer-42");
  EXPECT_EQ(o.tag, "spring");
  EXPECT_EQ(o.token_id, "Zm9vYmFyYmF6cXV4cXV1eA");
  EXPECT_EQ(o.key_id, "kid-abc");
  EXPECT_EQ(o.algorithm, "ES256");
  EXPECT_EQ(o.state, "active");
  EXPECT_FALSE(o.signature_valid.has_value());
  // The client's snippet agrees with the server's.
  EXPECT_EQ(o.security_config.group_js, SampleIssued(kNow).security_config());
  EXPECT_EQ(o.security_config.entry_js,
            "h5live: { security: { jwtoken: \"eyJh.eyJi.c2ln\" } }");
}

TEST(OverviewTest, TableIsAlignedAndCarriesBothSnippets) {
  const std::string text =
      FormatOverview(OverviewFromIssue(SampleIssued(kNow), kNow));
  EXPECT_THAT(text, HasSubstr("  Target        entire stream group grp-1\n"));
  EXPECT_THAT(text, HasSubstr("  Not before    2025-03-01T12:00:00Z (now)\n"));
  EXPECT_THAT(text,
              HasSubstr("  Expiry        2025-03-15T12:00:00Z (in 14 days)\n"));
  EXPECT_THAT(text, HasSubstr("  IP address    203.0.113.0/24\n"));
  EXPECT_THAT(text, HasSubstr("  Domain        *.example.com\n"));
  EXPECT_THAT(text, HasSubstr("  User ID       viewer-42\n"));
  EXPECT_THAT(text, HasSubstr("  Tag           spring\n"));
  EXPECT_THAT(text, HasSubstr("  Token ID      Zm9vYmFyYmF6cXV4cXV1eA\n"));
  EXPECT_THAT(text, HasSubstr("  Key ID        kid-abc\n"));
  EXPECT_THAT(text, HasSubstr("  Organisation  org-1\n"));
  EXPECT_THAT(text, HasSubstr("security: { jwtoken: \"eyJh.eyJi.c2ln\" }"));
  EXPECT_THAT(text,
              HasSubstr("{\"security\":{\"jwtoken\":\"eyJh.eyJi.c2ln\"}}"));
  EXPECT_THAT(
      text, HasSubstr("h5live: { security: { jwtoken: \"eyJh.eyJi.c2ln\" } }"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "{\"h5live\":{\"security\":{\"jwtoken\":\"eyJh.eyJi.c2ln\"}}}"));

  TokenOverview empty = OverviewFromIssue(SampleIssued(kNow), kNow);
  empty.client_ip = empty.domain = empty.user_id = empty.tag = "";
  const std::string none = FormatOverview(empty);
  EXPECT_THAT(none, HasSubstr("  IP address    (any)\n"));
  EXPECT_THAT(none, HasSubstr("  Domain        (any)\n"));
  EXPECT_THAT(none, HasSubstr("  User ID       (none)\n"));
  EXPECT_THAT(none, HasSubstr("  Tag           (none)\n"));
}

TEST(OverviewTest, JsonForm) {
  const auto j = nlohmann::json::parse(
      OverviewToJson(OverviewFromIssue(SampleIssued(kNow), kNow)));
  EXPECT_EQ(j["target"], "entire stream group grp-1");
  EXPECT_EQ(j["not_before"], "2025-03-01T12:00:00Z");
  EXPECT_EQ(j["expires_at"], "2025-03-15T12:00:00Z");
  EXPECT_EQ(j["expires_relative"], "in 14 days");
  EXPECT_EQ(j["token_id"], "Zm9vYmFyYmF6cXV4cXV1eA");
  EXPECT_EQ(j["key_id"], "kid-abc");
  EXPECT_EQ(j["jwt"], "eyJh.eyJi.c2ln");
  EXPECT_EQ(j["security_config"]["group"]["javascript"],
            "security: { jwtoken: \"eyJh.eyJi.c2ln\" }");
  EXPECT_EQ(j["security_config"]["entry"]["json"],
            "{\"h5live\":{\"security\":{\"jwtoken\":\"eyJh.eyJi.c2ln\"}}}");
  EXPECT_FALSE(j.contains("signature_valid"));
}

TEST(OverviewTest, FromDecodeTakesKidFromTheHeaderAndListsProblems) {
  tokenauthority::v1::DecodeTokenResponse d;
  d.mutable_token()->mutable_target()->mutable_stream_names()->add_names("a");
  d.mutable_token()->mutable_target()->mutable_stream_names()->add_names("b");
  *d.mutable_token()->mutable_expires_at() =
      convert::ToProtoTimestamp(kNow - absl::Hours(3));
  d.set_header_json(R"({"alg":"ES256","typ":"JWT","kid":"k-9"})");
  d.set_state(tokenauthority::v1::TOKEN_STATE_EXPIRED);
  d.set_signature_valid(true);
  d.add_problems("The token expired at 2025-03-01T09:00:00Z.");
  const TokenOverview o = OverviewFromDecode(d, "x.y.z", kNow);
  EXPECT_EQ(o.target, "streams a, b");
  EXPECT_EQ(o.key_id, "k-9");
  EXPECT_EQ(o.algorithm, "ES256");
  EXPECT_EQ(o.state, "expired");
  EXPECT_FALSE(o.invalid);
  EXPECT_EQ(o.expires_relative, "3 hours ago");
  EXPECT_FALSE(o.not_before.has_value());
  ASSERT_TRUE(o.signature_valid.has_value());
  EXPECT_TRUE(*o.signature_valid);
  const std::string text = FormatOverview(o);
  EXPECT_THAT(text, HasSubstr("  Not before  (unknown)\n"));
  EXPECT_THAT(text, HasSubstr("  Signature   valid\n"));
  EXPECT_THAT(text,
              HasSubstr("  - The token expired at 2025-03-01T09:00:00Z.\n"));
  EXPECT_THAT(text, HasSubstr("security: { jwtoken: \"x.y.z\" }"));
  // A header that is not JSON does not break anything.
  d.set_header_json("\xff{");
  EXPECT_EQ(OverviewFromDecode(d, "x.y.z", kNow).key_id, "");
}

// A token whose signature does not verify is invalid, whatever its times
// say, and gets no snippets: TOKEN_STATE_INVALID from the server, or
// signature_valid false from one that predates that state.
TEST(OverviewTest, InvalidTokenSaysSoAndHasNoSnippets) {
  for (auto state : {tokenauthority::v1::TOKEN_STATE_INVALID,
                     tokenauthority::v1::TOKEN_STATE_ACTIVE}) {
    SCOPED_TRACE(state);
    tokenauthority::v1::DecodeTokenResponse d;
    d.mutable_token()->mutable_target()->set_stream_group_id("g");
    *d.mutable_token()->mutable_expires_at() =
        convert::ToProtoTimestamp(kNow + absl::Hours(3));
    d.set_header_json(R"({"alg":"ES256","kid":"k-9"})");
    d.set_state(state);
    d.set_signature_valid(false);
    d.add_problems("The signature does not verify with key k-9.");
    const TokenOverview o = OverviewFromDecode(d, "x.y.z", kNow);
    EXPECT_TRUE(o.invalid);
    EXPECT_EQ(o.state, "invalid");
    EXPECT_EQ(o.security_config.group_js, "");
    const std::string text = FormatOverview(o);
    EXPECT_THAT(text, HasSubstr("  State       invalid\n"));
    EXPECT_THAT(text, HasSubstr("  Signature   NOT valid\n"));
    EXPECT_THAT(text, HasSubstr("Do not paste it into a player"));
    EXPECT_THAT(text, Not(HasSubstr("jwtoken")));
    EXPECT_THAT(text, Not(HasSubstr("Security config")));
    const auto j = nlohmann::json::parse(OverviewToJson(o));
    EXPECT_EQ(j["state"], "invalid");
    EXPECT_FALSE(j.contains("security_config"));
    EXPECT_EQ(j["signature_valid"], false);
  }
}

}  // namespace
}  // namespace token_authority::client

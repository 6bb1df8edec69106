#include "client/web/http_policy.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::client::web {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

TEST(SecurityHeadersTest, ForbidInlineScriptSniffingAndForeignFrames) {
  std::string csp, nosniff;
  for (const auto& [name, value] : SecurityHeaders()) {
    if (name == "Content-Security-Policy") csp = value;
    if (name == "X-Content-Type-Options") nosniff = value;
  }
  EXPECT_THAT(csp, HasSubstr("default-src 'none'"));
  EXPECT_THAT(csp, HasSubstr("script-src 'self';"));
  EXPECT_THAT(csp, HasSubstr("frame-ancestors 'self'"));
  EXPECT_THAT(csp, ::testing::Not(HasSubstr("unsafe")));
  EXPECT_EQ(nosniff, "nosniff");
}

TEST(CheckSameOriginTest, AcceptsTheGatewaysOwnPages) {
  EXPECT_THAT(
      CheckSameOrigin(
          {"http://127.0.0.1:8080", "same-origin", "127.0.0.1:8080"}, "http"),
      IsOk());
  EXPECT_THAT(CheckSameOrigin({"", "same-origin", "h:1"}, "http"), IsOk());
  EXPECT_THAT(CheckSameOrigin({"https://h:1", "", "h:1"}, "https"), IsOk());
}

TEST(CheckSameOriginTest, RefusesOtherOriginsAndSites) {
  EXPECT_THAT(CheckSameOrigin({"", "", "h:1"}, "http"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(
      CheckSameOrigin({"http://evil", "", "h:1"}, "http"),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("http://evil")));
  EXPECT_THAT(CheckSameOrigin({"http://h:1", "", "h:1"}, "https"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(
      CheckSameOrigin({"http://h:1", "cross-site", "h:1"}, "http"),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("cross-site")));
  EXPECT_THAT(CheckSameOrigin({"", "same-site", "h:1"}, "http"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(CheckSameOrigin({"http://", "", ""}, "http"),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

}  // namespace
}  // namespace token_authority::client::web

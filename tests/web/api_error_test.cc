#include "client/web/api_error.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::client::web {
namespace {

using ::testing::HasSubstr;

TEST(ApiErrorTest, HasOneShape) {
  ApiError e;
  e.status = 422;
  e.code = "invalid_form";
  e.message = "nothing was created";
  e.problems = {{"tag", "Tag must be at most 128 characters."}};
  const nlohmann::json j = ApiErrorToJson(e);
  EXPECT_EQ(j["error"]["status"], 422);
  EXPECT_EQ(j["error"]["code"], "invalid_form");
  EXPECT_EQ(j["error"]["message"], "nothing was created");
  ASSERT_EQ(j["error"]["problems"].size(), 1u);
  EXPECT_EQ(j["error"]["problems"][0]["field"], "tag");
  EXPECT_EQ(j["error"]["problems"][0]["label"], "Tag");
  EXPECT_TRUE(ApiErrorToJson(BadRequest("bad_json", "x"))["error"]["problems"]
                  .is_array());
}

TEST(ApiErrorTest, MapsTheAuthoritysStatuses) {
  struct Case {
    absl::Status status;
    int http;
    const char* code;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("domain: bad"), 400, "invalid_argument"},
      {absl::NotFoundError("no token"), 404, "not_found"},
      {absl::FailedPreconditionError("no secure"), 409, "upgrade_needed"},
      {absl::AlreadyExistsError("x"), 409, "conflict"},
      {absl::ResourceExhaustedError("x"), 429, "too_many_requests"},
      {absl::UnauthenticatedError("x"), 502, "gateway_not_authorized"},
      {absl::PermissionDeniedError("x"), 502, "gateway_not_authorized"},
      {absl::UnavailableError("x"), 503, "authority_unavailable"},
      {absl::DeadlineExceededError("x"), 504, "authority_timeout"},
      {absl::InternalError("x"), 500, "internal"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    const ApiError e = ApiErrorFromStatus(c.status);
    EXPECT_EQ(e.status, c.http);
    EXPECT_EQ(e.code, c.code);
    EXPECT_FALSE(e.message.empty());
  }
  const ApiError bad = ApiErrorFromStatus(absl::InvalidArgumentError(
      "domain: must be a host name; tag: at most 128 characters"));
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0].field, "domain");
  EXPECT_EQ(bad.problems[1].field, "tag");
  EXPECT_THAT(ApiErrorFromStatus(absl::FailedPreconditionError("x")).message,
              HasSubstr("Upgrade needed"));
}

}  // namespace
}  // namespace token_authority::client::web

#include "token/validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

TEST(ViolationsTest, ListsEveryViolation) {
  EXPECT_THAT(ViolationsToStatus({}), IsOk());
  absl::Status st = ViolationsToStatus(
      {{"tag", "at most 128 characters (got 130)"}, {"domain", "bad"}});
  EXPECT_THAT(st,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tag: at most 128 characters (got 130); domain: bad"));
  EXPECT_EQ(FormatViolation({"lifetime", "x"}), "lifetime: x");
}

TEST(StreamNameTest, Rules) {
  EXPECT_THAT(ValidateStreamName("cam-1.main_HD"), IsOk());
  EXPECT_THAT(ValidateStreamName(std::string(128, 'a')), IsOk());
  EXPECT_THAT(ValidateStreamName(std::string(129, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("128")));
  EXPECT_THAT(ValidateStreamName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  for (const char* bad : {"a b", "a/b", "a:b", "ä", "a\n", "a*", "a%20"}) {
    EXPECT_THAT(
        ValidateStreamName(bad),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not allowed")))
        << bad;
  }
}

TEST(IdTest, GroupAndOrganizationIds) {
  EXPECT_THAT(ValidateStreamGroupId("0f8e-ab:12/x"), IsOk());
  EXPECT_THAT(ValidateStreamGroupId(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateStreamGroupId("a b"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateStreamGroupId(std::string(129, 'g')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateOrganizationId("org-1"), IsOk());
  EXPECT_THAT(ValidateOrganizationId("org\x01"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateOrganizationId("\xc3\xa4"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PrintableTextTest, CountsCharactersNotBytes) {
  EXPECT_THAT(ValidatePrintableText("", 128), IsOk());
  EXPECT_THAT(ValidatePrintableText("user@example.com Jürgen 日本", 128),
              IsOk());
  std::string umlauts;
  for (int i = 0; i < 128; ++i) umlauts += "\xc3\xa4";  // 128 chars, 256 bytes
  EXPECT_THAT(ValidatePrintableText(umlauts, 128), IsOk());
  EXPECT_THAT(ValidatePrintableText(umlauts + "a", 128),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "at most 128 characters (got 129)"));
}

TEST(PrintableTextTest, RefusesControlsAndBadUtf8) {
  for (const char* bad : {"a\tb", "a\nb", "\x7f", "\xc2\x85", "\x1b[31m"}) {
    EXPECT_THAT(ValidatePrintableText(bad, 128),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("control character")))
        << bad;
  }
  for (const char* bad : {"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf"}) {
    EXPECT_THAT(
        ValidatePrintableText(bad, 128),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")))
        << bad;
  }
  EXPECT_THAT(ValidatePrintableText(absl::string_view("a\0b", 3), 128),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(QuoteUntrustedTest, EscapesAndCuts) {
  EXPECT_EQ(QuoteUntrusted("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(QuoteUntrusted(std::string(70, 'x')),
            "\"" + std::string(64, 'x') + "\"...");
}

}  // namespace
}  // namespace token_authority::token

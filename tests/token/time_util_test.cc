#include "token/time_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TEST(ParseDurationTest, AcceptsEveryUnit) {
  EXPECT_THAT(ParseDuration("90s"), IsOkAndHolds(absl::Seconds(90)));
  EXPECT_THAT(ParseDuration("15m"), IsOkAndHolds(absl::Minutes(15)));
  EXPECT_THAT(ParseDuration("36h"), IsOkAndHolds(absl::Hours(36)));
  EXPECT_THAT(ParseDuration("14d"), IsOkAndHolds(absl::Hours(14 * 24)));
  EXPECT_THAT(ParseDuration("2w"), IsOkAndHolds(absl::Hours(14 * 24)));
  EXPECT_THAT(ParseDuration("250ms"), IsOkAndHolds(absl::Milliseconds(250)));
  EXPECT_THAT(ParseDuration("0s"), IsOkAndHolds(absl::ZeroDuration()));
  EXPECT_THAT(ParseDuration("365d"), IsOkAndHolds(absl::Hours(365 * 24)));
}

TEST(ParseDurationTest, RefusesEverythingElse) {
  for (const char* bad :
       {"", "s", "90", "-5s", "+5s", "1.5h", "1h30m", " 5s", "5s ", "5 s", "5S",
        "5sec", "05s", "5y", "1e3s", "0x10s"}) {
    EXPECT_THAT(ParseDuration(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(ParseDurationTest, RefusesOverflow) {
  EXPECT_THAT(
      ParseDuration("99999999999999999999d"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
  EXPECT_THAT(
      ParseDuration("16000w"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too large")));
  EXPECT_THAT(ParseDuration("15000w"),
              IsOkAndHolds(absl::Hours(15000 * 7 * 24)));
}

TEST(FormatDurationTest, PicksLargestExactUnit) {
  EXPECT_EQ(token::FormatDuration(absl::Hours(14 * 24)), "14d");
  EXPECT_EQ(token::FormatDuration(absl::Hours(365 * 24)), "365d");
  EXPECT_EQ(token::FormatDuration(absl::Hours(36)), "36h");
  EXPECT_EQ(token::FormatDuration(absl::Seconds(90)), "90s");
  EXPECT_EQ(token::FormatDuration(absl::Minutes(15)), "15m");
  EXPECT_EQ(token::FormatDuration(absl::Milliseconds(1500)), "1500ms");
  EXPECT_EQ(token::FormatDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(token::FormatDuration(-absl::Seconds(60)), "-1m");
  EXPECT_EQ(token::FormatDuration(absl::InfiniteDuration()), "inf");
}

TEST(FormatDurationTest, RoundTrips) {
  for (absl::Duration d :
       {absl::Seconds(1), absl::Seconds(59), absl::Minutes(61), absl::Hours(25),
        absl::Hours(24 * 400), absl::Milliseconds(7)}) {
    EXPECT_THAT(ParseDuration(token::FormatDuration(d)), IsOkAndHolds(d));
  }
}

TEST(Rfc3339Test, ParsesUtcOffsetsAndFractions) {
  const absl::Time t = absl::FromUnixSeconds(1740830400);  // 2025-03-01T12:00Z
  EXPECT_THAT(ParseRfc3339("2025-03-01T12:00:00Z"), IsOkAndHolds(t));
  EXPECT_THAT(ParseRfc3339("2025-03-01t12:00:00z"), IsOkAndHolds(t));
  EXPECT_THAT(ParseRfc3339("2025-03-01T13:00:00+01:00"), IsOkAndHolds(t));
  EXPECT_THAT(ParseRfc3339("2025-03-01T07:30:00-04:30"), IsOkAndHolds(t));
  EXPECT_THAT(ParseRfc3339("2025-03-01T12:00:00.250Z"),
              IsOkAndHolds(t + absl::Milliseconds(250)));
}

TEST(Rfc3339Test, RefusesOtherShapes) {
  for (const char* bad :
       {"", "2025-03-01", "2025-03-01 12:00:00Z", "2025-03-01T12:00:00",
        " 2025-03-01T12:00:00Z", "2025-03-01T12:00:00Z ", "25-03-01T12:00:00Z",
        "2025-3-01T12:00:00Z", "2025-03-01T12:00Z", "2025-03-01T12:00:00.Z",
        "2025-03-01T12:00:00+0100", "2025-13-01T12:00:00Z",
        "2025-02-30T12:00:00Z", "+2025-03-01T12:00:00Z"}) {
    EXPECT_THAT(ParseRfc3339(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(absl::FromUnixSeconds(1740830400)),
            "2025-03-01T12:00:00Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(absl::FromUnixMillis(1740830400250)),
            "2025-03-01T12:00:00.25Z");
  EXPECT_EQ(FormatRfc3339(absl::InfiniteFuture()), "infinite-future");
  const absl::Time t = absl::FromUnixMicros(1740830400123456);
  EXPECT_THAT(ParseRfc3339(FormatRfc3339(t)), IsOkAndHolds(t));
}

}  // namespace
}  // namespace token_authority::token

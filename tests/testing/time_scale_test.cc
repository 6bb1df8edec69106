#include "tests/testing/time_scale.h"

#include <chrono>

#include "absl/time/time.h"
#include "gtest/gtest.h"

#ifndef TA_EXPECTED_TIME_SCALE
#error "TA_EXPECTED_TIME_SCALE must be cmake's TA_TEST_TIME_SCALE"
#endif

namespace token_authority::testing {
namespace {

// The factor the tests' waits use is the one ctest's timeouts use: a
// sanitizer build that the header failed to recognise (or a new TA_SANITIZE
// mode) fails here instead of timing out elsewhere.
TEST(TimeScaleTest, MatchesTheCmakeTimeScale) {
  static_assert(SanitizerTimeScale() >= 1);
  EXPECT_EQ(SanitizerTimeScale(), TA_EXPECTED_TIME_SCALE);
}

TEST(TimeScaleTest, ScalesDurations) {
  const int k = SanitizerTimeScale();
  EXPECT_EQ(Scaled(absl::Seconds(2)), absl::Seconds(2 * k));
  EXPECT_EQ(Scaled(std::chrono::milliseconds(250)),
            std::chrono::milliseconds(250 * k));
  const auto before = std::chrono::system_clock::now();
  const auto deadline = DeadlineIn(std::chrono::seconds(10));
  EXPECT_GE(deadline - before, std::chrono::seconds(10 * k));
  EXPECT_LT(deadline - before, std::chrono::seconds(10 * k + 5));
}

}  // namespace
}  // namespace token_authority::testing

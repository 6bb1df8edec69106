// GoogleTest matchers for absl::Status / absl::StatusOr (abseil 20220623 has
// none public): IsOk(), StatusIs(code), StatusIs(code, message_matcher),
// IsOkAndHolds(matcher), and ASSERT_OK / EXPECT_OK / ASSERT_OK_AND_ASSIGN.
#ifndef TESTS_TESTING_STATUS_MATCHERS_H_
#define TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace internal

MATCHER(IsOk, "is OK") {
  const absl::Status& s = internal::GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code,
          "has code " + std::string(absl::StatusCodeToString(code))) {
  const absl::Status& s = internal::GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + std::string(absl::StatusCodeToString(code)) +
               " and a matching message") {
  const absl::Status& s = internal::GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace token_authority::testing

#define TA_TESTING_CONCAT_INNER_(a, b) a##b
#define TA_TESTING_CONCAT_(a, b) TA_TESTING_CONCAT_INNER_(a, b)

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::token_authority::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::token_authority::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(TA_TESTING_CONCAT_(ta_so_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(so, lhs, rexpr)   \
  auto so = (rexpr);                                 \
  ASSERT_TRUE(so.ok()) << "status: " << so.status(); \
  lhs = *std::move(so)

#endif  // TESTS_TESTING_STATUS_MATCHERS_H_

// How much longer a test may wait in this build. Sanitizers slow a program
// down 2-15x (README), so a deadline that is generous in the plain build can
// expire under AddressSanitizer or ThreadSanitizer. Every fixed wait of a
// test (a call's deadline, a child's start or exit, a stream's next event)
// goes through Scaled(), so a slow build waits longer while a regression
// that hangs still ends in a failure rather than in the ctest timeout.
//
// The factor is the one ta_cc_test applies to the ctest TIMEOUT of
// sanitizer builds (cmake/TaTargets.cmake, TA_TEST_TIME_SCALE); it is read
// from the compiler's own sanitizer macros, so it also holds for code that
// is not a ta_cc_test (libraries of tests/, the soak program), and
// time_scale_test checks that both agree.
#ifndef TESTS_TESTING_TIME_SCALE_H_
#define TESTS_TESTING_TIME_SCALE_H_

#include <chrono>
#include <cstdint>

#include "absl/time/time.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TA_TESTING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TA_TESTING_SANITIZED 1
#endif
#endif

namespace token_authority::testing {

// 3 in AddressSanitizer and ThreadSanitizer builds, else 1.
constexpr int SanitizerTimeScale() {
#ifdef TA_TESTING_SANITIZED
  return 3;
#else
  return 1;
#endif
}

// `d` times SanitizerTimeScale().
inline absl::Duration Scaled(absl::Duration d) {
  return d * SanitizerTimeScale();
}
template <typename Rep, typename Period>
constexpr std::chrono::duration<Rep, Period> Scaled(
    std::chrono::duration<Rep, Period> d) {
  return d * SanitizerTimeScale();
}

// A gRPC deadline `d` (scaled) from now.
template <typename Rep, typename Period>
std::chrono::system_clock::time_point DeadlineIn(
    std::chrono::duration<Rep, Period> d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             Scaled(d));
}

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_TIME_SCALE_H_

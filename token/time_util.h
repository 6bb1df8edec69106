// Durations and timestamps as people write them: durations "90s", "15m",
// "36h", "14d", "2w" (flags, CLI, README) and RFC 3339 timestamps
// ("2025-03-01T12:00:00Z").
#ifndef TOKEN_TIME_UTIL_H_
#define TOKEN_TIME_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace token_authority::token {

// Parses a non-negative whole number followed by exactly one unit: "ms", "s",
// "m", "h", "d" (24 h) or "w" (7 d). Examples: "90s", "15m", "36h", "14d",
// "2w", "0s". No sign, spaces, fractions or combinations ("1h30m").
// InvalidArgumentError on anything else or on overflow (more than ~292 years).
// Thread-safe.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

// Call it qualified (token::FormatDuration): absl has an absl::FormatDuration
// that argument-dependent lookup would also find for an unqualified call.
//
// Formats `d` in the largest of the units d, h, m, s, ms that divides it
// exactly, so that ParseDuration(FormatDuration(d)) == d for every duration
// that is a whole number of milliseconds: 14 days -> "14d", 90 s -> "90s",
// 36 h -> "36h", 0 -> "0s". Negative durations get a leading '-' (which
// ParseDuration refuses); a remainder below 1 ms is rounded toward zero;
// infinite durations print "inf" / "-inf".
std::string FormatDuration(absl::Duration d);

// Parses an RFC 3339 timestamp: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|
// -HH:MM)", 'T'/'Z' in either case. InvalidArgumentError otherwise.
absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text);

// Formats `t` in UTC as "YYYY-MM-DDTHH:MM:SSZ", with a fraction of up to 9
// digits only when `t` is not a whole second. Infinite times print
// "infinite-future" / "infinite-past".
std::string FormatRfc3339(absl::Time t);

}  // namespace token_authority::token

#endif  // TOKEN_TIME_UTIL_H_

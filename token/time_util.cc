#include "token/time_util.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace token_authority::token {
namespace {

constexpr int64_t kNsPerMs = 1000000;

struct Unit {
  absl::string_view name;
  int64_t ms;
};
// Largest first; "w" is accepted when parsing but never produced.
constexpr Unit kFormatUnits[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "duration \"", absl::CEscape(text), "\": ", why,
        " (write a whole number and one unit: ms, s, m, h, d or w, e.g. "
        "\"90s\", \"15m\", \"36h\", \"14d\", \"2w\")"));
  };
  size_t i = 0;
  while (i < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0) return bad("must start with a number");
  if (i > 1 && text[0] == '0') return bad("leading zeros are not allowed");
  absl::string_view digits = text.substr(0, i);
  absl::string_view unit = text.substr(i);
  int64_t unit_ms;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60000;
  } else if (unit == "h") {
    unit_ms = 3600000;
  } else if (unit == "d") {
    unit_ms = 86400000;
  } else if (unit == "w") {
    unit_ms = 7 * 86400000LL;
  } else if (unit.empty()) {
    return bad("the unit is missing");
  } else {
    return bad("unknown unit");
  }
  // Limit: the result in nanoseconds fits in int64 (about 292 years).
  const int64_t max_units = INT64_MAX / kNsPerMs / unit_ms;
  int64_t value = 0;
  for (char c : digits) {
    int64_t d = c - '0';
    if (value > (max_units - d) / 10) return bad("too large");
    value = value * 10 + d;
  }
  return absl::Milliseconds(value * unit_ms);
}

std::string FormatDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "inf";
  if (d == -absl::InfiniteDuration()) return "-inf";
  if (d < absl::ZeroDuration())
    return absl::StrCat("-", token::FormatDuration(-d));
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms == 0) return "0s";
  for (const Unit& u : kFormatUnits) {
    if (ms % u.ms == 0) return absl::StrCat(ms / u.ms, u.name);
  }
  return absl::StrCat(ms, "ms");
}

absl::StatusOr<absl::Time> ParseRfc3339(absl::string_view text) {
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp \"", absl::CEscape(text),
                     "\" is not RFC 3339 (e.g. \"2025-03-01T12:00:00Z\" or "
                     "\"2025-03-01T13:00:00+01:00\")"));
  };
  // absl::ParseTime is lenient about some things RFC 3339 forbids (leading
  // whitespace, signs and widths of the year); check the fixed shape first.
  if (text.size() < 20) return bad();
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return bad();
  }
  if (text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return bad();
  }
  size_t i = 19;
  if (text[i] == '.') {
    ++i;
    size_t start = i;
    while (i < text.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == start) return bad();
  }
  absl::string_view zone = text.substr(i);
  if (!(zone == "Z" || zone == "z" ||
        (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
         absl::ascii_isdigit(static_cast<unsigned char>(zone[1])) &&
         absl::ascii_isdigit(static_cast<unsigned char>(zone[2])) &&
         zone[3] == ':' &&
         absl::ascii_isdigit(static_cast<unsigned char>(zone[4])) &&
         absl::ascii_isdigit(static_cast<unsigned char>(zone[5]))))) {
    return bad();
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return bad();
  return t;
}

std::string FormatRfc3339(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "infinite-future";
  if (t == absl::InfinitePast()) return "infinite-past";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

}  // namespace token_authority::token

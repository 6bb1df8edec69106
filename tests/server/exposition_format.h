// A checker of Prometheus' text exposition format (version 0.0.4), written
// from the format's specification, for the metrics tests: every rule a
// scraper relies on, each problem reported with its line. Also a parser of
// sample values, so that tests can read what a scrape says.
#ifndef TESTS_SERVER_EXPOSITION_FORMAT_H_
#define TESTS_SERVER_EXPOSITION_FORMAT_H_

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace token_authority::testing {

// One sample line: name, labels in order, value text.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped
  std::string value;
};

inline bool IsMetricName(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok =
        absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        c == ':' ||
        (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

inline bool IsLabelName(absl::string_view s) {
  return IsMetricName(s) && s.find(':') == absl::string_view::npos &&
         !absl::StartsWith(s, "__");
}

// A value: a float, or NaN, +Inf, -Inf.
inline bool IsSampleValue(absl::string_view v) {
  if (v == "NaN" || v == "+Inf" || v == "-Inf") return true;
  double d;
  return absl::SimpleAtod(v, &d);
}

// Parses `line` (a sample line) into `out`; the problem otherwise.
inline std::string ParseSample(absl::string_view line, Sample* out) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  out->name = std::string(line.substr(0, i));
  if (!IsMetricName(out->name)) return "bad metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == absl::string_view::npos) return "label without '='";
      std::string name(line.substr(i, eq - i));
      if (!IsLabelName(name)) return absl::StrCat("bad label name ", name);
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      ++i;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\n') return "raw newline in a label value";
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return "dangling backslash";
          const char e = line[i + 1];
          if (e == 'n') {
            value.push_back('\n');
          } else if (e == '\\' || e == '"') {
            value.push_back(e);
          } else {
            return "bad escape in a label value";
          }
          i += 2;
          continue;
        }
        value.push_back(line[i++]);
      }
      if (i >= line.size()) return "unterminated label value";
      ++i;  // closing quote
      out->labels.emplace_back(std::move(name), std::move(value));
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return "unterminated label set";
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return "no value";
  std::vector<std::string> rest =
      absl::StrSplit(line.substr(i + 1), ' ', absl::SkipEmpty());
  if (rest.empty() || rest.size() > 2) return "bad value/timestamp";
  if (!IsSampleValue(rest[0])) return absl::StrCat("bad value ", rest[0]);
  int64_t ts;
  if (rest.size() == 2 && !absl::SimpleAtoi(rest[1], &ts)) {
    return "bad timestamp";
  }
  out->value = rest[0];
  return "";
}

// Every problem of `text` (empty: it follows the format). Checks: the text
// ends with a newline; HELP and TYPE at most once per family and before its
// samples; known types; a family's samples together; names and label names
// valid, label values escaped; no series twice; counters not negative;
// histograms with an le label on each bucket, bounds increasing, counts
// cumulative (non-decreasing), a +Inf bucket equal to _count, and a _sum.
inline std::vector<std::string> CheckExposition(const std::string& text) {
  std::vector<std::string> problems;
  auto problem = [&](int n, const std::string& what) {
    problems.push_back(absl::StrCat("line ", n, ": ", what));
  };
  if (text.empty() || text.back() != '\n') {
    problems.push_back("the text does not end with a newline");
  }
  std::map<std::string, std::string> types;
  std::set<std::string> helped, finished, series;
  std::string current;  // the family whose samples are being read
  // Histogram state per series (labels but le).
  std::map<std::string, std::pair<double, double>> last_bucket;  // le, count
  std::map<std::string, double> inf_bucket, counts;
  std::set<std::string> sums;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (line.empty()) continue;
    if (absl::StartsWith(line, "#")) {
      std::vector<std::string> f =
          absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (f.size() < 3 || (f[1] != "HELP" && f[1] != "TYPE")) continue;
      const std::string& name = f[2];
      if (!IsMetricName(name)) problem(n, "bad metric name in " + f[1]);
      if (finished.count(name) || (name != current && series.count(name))) {
        problem(n, f[1] + " after the family's samples: " + name);
      }
      if (f[1] == "HELP") {
        if (!helped.insert(name).second) problem(n, "second HELP " + name);
      } else {
        const std::string type = f.size() > 3 ? f[3] : "";
        if (type != "counter" && type != "gauge" && type != "histogram" &&
            type != "summary" && type != "untyped") {
          problem(n, "unknown type " + type);
        }
        if (!types.emplace(name, type).second)
          problem(n, "second TYPE " + name);
      }
      if (name != current && !current.empty()) finished.insert(current);
      current = name;
      continue;
    }
    Sample s;
    const std::string bad = ParseSample(line, &s);
    if (!bad.empty()) {
      problem(n, bad + ": " + std::string(line));
      continue;
    }
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base =
          absl::EndsWith(s.name, suffix)
              ? s.name.substr(0, s.name.size() - std::strlen(suffix))
              : "";
      if (!base.empty() && types.count(base) &&
          (types[base] == "histogram" || types[base] == "summary")) {
        family = base;
      }
    }
    if (family != current) {
      if (finished.count(family)) problem(n, "family split: " + family);
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    std::string key = s.name + "{";
    std::string key_but_le = family + "{";
    std::optional<std::string> le;
    for (const auto& [k, v] : s.labels) {
      absl::StrAppend(&key, k, "=", v, ",");
      if (k == "le") {
        le = v;
      } else {
        absl::StrAppend(&key_but_le, k, "=", v, ",");
      }
    }
    if (!series.insert(key).second) problem(n, "series twice: " + key);
    series.insert(s.name);
    const double value = s.value == "+Inf" ? HUGE_VAL
                         : s.value == "-Inf"
                             ? -HUGE_VAL
                             : std::strtod(s.value.c_str(), nullptr);
    const std::string type = types.count(family) ? types[family] : "untyped";
    if (type == "counter" && value < 0) problem(n, "negative counter");
    if (type != "histogram") continue;
    if (absl::EndsWith(s.name, "_bucket")) {
      if (!le) {
        problem(n, "bucket without le");
        continue;
      }
      const double bound =
          *le == "+Inf" ? HUGE_VAL : std::strtod(le->c_str(), nullptr);
      auto it = last_bucket.find(key_but_le);
      if (it != last_bucket.end()) {
        if (bound <= it->second.first)
          problem(n, "bucket bounds not increasing");
        if (value < it->second.second) problem(n, "bucket counts decrease");
      }
      last_bucket[key_but_le] = {bound, value};
      if (*le == "+Inf") inf_bucket[key_but_le] = value;
    } else if (absl::EndsWith(s.name, "_count")) {
      counts[key_but_le] = value;
    } else if (absl::EndsWith(s.name, "_sum")) {
      sums.insert(key_but_le);
    }
  }
  for (const auto& [k, count] : counts) {
    auto it = inf_bucket.find(k);
    if (it == inf_bucket.end()) {
      problems.push_back("histogram without +Inf bucket: " + k);
    } else if (it->second != count) {
      problems.push_back("+Inf bucket != _count: " + k);
    }
    if (!sums.count(k)) problems.push_back("histogram without _sum: " + k);
  }
  for (const auto& [k, v] : inf_bucket) {
    if (!counts.count(k)) problems.push_back("histogram without _count: " + k);
  }
  return problems;
}

// The value of the sample `name` with exactly `labels` (in any order), or
// nullopt.
inline std::optional<double> SampleValue(
    const std::string& text, const std::string& name,
    std::map<std::string, std::string> labels = {}) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    if (!ParseSample(line, &s).empty() || s.name != name) continue;
    std::map<std::string, std::string> got(s.labels.begin(), s.labels.end());
    if (got != labels) continue;
    if (s.value == "+Inf") return HUGE_VAL;
    return std::strtod(s.value.c_str(), nullptr);
  }
  return std::nullopt;
}

}  // namespace token_authority::testing

#endif  // TESTS_SERVER_EXPOSITION_FORMAT_H_

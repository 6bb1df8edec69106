#include "client/dialog.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/proto_text.h"
#include "convert/proto_convert.h"
#include "nlohmann/json.hpp"
#include "token/target.h"
#include "token/time_util.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

constexpr absl::string_view kExpectedPaths =
    "expected one of playout/<stream-id>, stream/<stream-id>, "
    "stream/<stream-id>/code-snippets, stream/new/<stream-id>, "
    "webcaster/<stream-id>";

bool IsPageName(absl::string_view segment) {
  return absl::EqualsIgnoreCase(segment, "playout") ||
         absl::EqualsIgnoreCase(segment, "stream") ||
         absl::EqualsIgnoreCase(segment, "webcaster");
}

bool LooksLikeHost(absl::string_view segment) {
  return absl::StrContains(segment, '.') || absl::StrContains(segment, ':') ||
         absl::EqualsIgnoreCase(segment, "localhost");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          "a '%' is not followed by two hexadecimal digits");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::Status PathError(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page path \"", absl::CEscape(path), "\": ", what, "; ", kExpectedPaths));
}

std::string Sentence(std::string s) {
  if (!s.empty()) {
    s[0] = absl::ascii_toupper(static_cast<unsigned char>(s[0]));
    if (s.back() != '.' && s.back() != '?' && s.back() != '!') s.push_back('.');
  }
  return s;
}

// Splits "a, b,c" into trimmed names; empty entries (a trailing comma) are
// dropped.
std::vector<std::string> SplitNames(absl::string_view text) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) names.emplace_back(part);
  }
  return names;
}

std::optional<TargetChoice> ParseTargetChoice(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  for (char& c : t) {
    if (c == '-' || c == ' ') c = '_';
  }
  if (t == "stream_group" || t == "group" || t == "entire_stream_group" ||
      t == "streamgroup") {
    return TargetChoice::kStreamGroup;
  }
  if (t == "streams" || t == "stream_names" || t == "stream") {
    return TargetChoice::kStreamNames;
  }
  if (t == "organization" || t == "organisation" || t == "org" ||
      t == "org_wide" || t == "orgawide" || t == "entire_organisation" ||
      t == "entire_organization") {
    return TargetChoice::kOrganization;
  }
  return std::nullopt;
}

// The form field a core violation belongs to.
std::string FormFieldOf(const token::FieldViolation& v) {
  if (v.field == "expires_at") return "expires";
  if (v.field == "target") {
    // Problems of the group id come under "target" in the core.
    const std::string& d = v.description;
    if (absl::StartsWith(d, "the stream group id") ||
        absl::StartsWith(d, "at most") || absl::StartsWith(d, "character")) {
      return "stream_group_id";
    }
  }
  return v.field;
}

size_t FieldOrder(absl::string_view field) {
  for (size_t i = 0; i < std::size(kFormFields); ++i) {
    if (kFormFields[i] == field) return i;
  }
  return std::size(kFormFields);
}

std::string FormatTime(const std::optional<absl::Time>& t) {
  return t.has_value() ? token::FormatRfc3339(*t) : std::string();
}

}  // namespace

// Page paths ------------------------------------------------------------------

absl::StatusOr<PageLocation> ParsePagePath(absl::string_view path) {
  const absl::string_view original = path;
  path = absl::StripAsciiWhitespace(path);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("page path is empty; ", kExpectedPaths));
  }
  // Fragment and query string.
  path = path.substr(0, path.find('#'));
  path = path.substr(0, path.find('?'));
  // Scheme and host.
  if (const size_t scheme = path.find("://");
      scheme != absl::string_view::npos) {
    path.remove_prefix(scheme + 3);
    const size_t slash = path.find('/');
    path = slash == absl::string_view::npos ? absl::string_view()
                                            : path.substr(slash);
  }
  while (absl::ConsumePrefix(&path, "/")) {
  }
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  if (segments.size() > 1 && !IsPageName(segments[0]) &&
      LooksLikeHost(segments[0])) {
    segments.erase(segments.begin());  // "dash.example.com/playout/x"
  }
  if (segments.empty() || segments[0].empty()) {
    return PathError(original, "no page in it");
  }
  for (absl::string_view s : segments) {
    if (s.empty()) return PathError(original, "it has an empty segment (//)");
  }

  PageLocation location;
  absl::string_view id;
  const std::string page = absl::AsciiStrToLower(segments[0]);
  const size_t n = segments.size();
  if (page == "playout" || page == "webcaster") {
    location.page =
        page == "playout" ? DialogPage::kPlayout : DialogPage::kWebcaster;
    if (n == 1) {
      return PathError(
          original, absl::StrCat("the stream ID is missing after ", page, "/"));
    }
    if (n != 2) {
      return PathError(original, absl::StrCat("unexpected segments after ",
                                              page, "/<stream-id>"));
    }
    id = segments[1];
  } else if (page == "stream") {
    const bool is_new = n >= 2 && absl::EqualsIgnoreCase(segments[1], "new");
    if (n == 1 || (n == 2 && is_new)) {
      return PathError(original,
                       absl::StrCat("the stream ID is missing after ",
                                    is_new ? "stream/new/" : "stream/"));
    }
    if (n == 2) {
      location.page = DialogPage::kStream;
      id = segments[1];
    } else if (n == 3 && is_new) {
      location.page = DialogPage::kStreamNew;
      id = segments[2];
    } else if (n == 3 && absl::EqualsIgnoreCase(segments[2], "code-snippets")) {
      location.page = DialogPage::kStreamCodeSnippets;
      id = segments[1];
    } else {
      return PathError(original, "this is not a page with a token dialog");
    }
  } else {
    return PathError(original, absl::StrCat("\"", absl::CEscape(segments[0]),
                                            "\" is not a page with a token "
                                            "dialog"));
  }
  absl::StatusOr<std::string> decoded = PercentDecode(id);
  if (!decoded.ok()) {
    return PathError(original, absl::StrCat("the stream ID is not valid: ",
                                            decoded.status().message()));
  }
  if (absl::Status st = token::ValidateStreamGroupId(*decoded); !st.ok()) {
    return PathError(
        original, absl::StrCat("the stream ID is not valid: ", st.message()));
  }
  location.stream_id = *std::move(decoded);
  return location;
}

namespace {

// `id` as one path segment that ParsePagePath reads back as `id`: every
// byte outside [A-Za-z0-9._~+-] is percent-encoded ('/', '?', '#', '%' would
// otherwise be read as syntax), and on the stream pages an id spelled "new"
// (any casing) gets its first letter encoded so that it is not read as the
// "stream/new/<id>" page.
std::string PathSegment(absl::string_view id, bool after_stream) {
  std::string out;
  out.reserve(id.size());
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    const bool plain = absl::ascii_isalnum(c) || c == '.' || c == '_' ||
                       c == '~' || c == '+' || c == '-';
    const bool is_new =
        after_stream && i == 0 && absl::EqualsIgnoreCase(id, "new");
    if (plain && !is_new) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

std::string PagePath(const PageLocation& location) {
  const std::string& id = location.stream_id;
  switch (location.page) {
    case DialogPage::kPlayout:
      return absl::StrCat("playout/", PathSegment(id, false));
    case DialogPage::kStream:
      return absl::StrCat("stream/", PathSegment(id, true));
    case DialogPage::kStreamCodeSnippets:
      return absl::StrCat("stream/", PathSegment(id, true), "/code-snippets");
    case DialogPage::kStreamNew:
      return absl::StrCat("stream/new/", PathSegment(id, false));
    case DialogPage::kWebcaster:
      return absl::StrCat("webcaster/", PathSegment(id, false));
  }
  return id;
}

absl::string_view PageTitle(DialogPage page) {
  switch (page) {
    case DialogPage::kPlayout:
      return "Playout";
    case DialogPage::kStream:
      return "Stream";
    case DialogPage::kStreamCodeSnippets:
      return "Code snippets";
    case DialogPage::kStreamNew:
      return "New stream";
    case DialogPage::kWebcaster:
      return "Webcaster";
  }
  return "Page";
}

absl::string_view TargetChoiceValue(TargetChoice choice) {
  switch (choice) {
    case TargetChoice::kStreamGroup:
      return "stream_group";
    case TargetChoice::kStreamNames:
      return "streams";
    case TargetChoice::kOrganization:
      return "organization";
  }
  return "";
}

absl::string_view FormFieldLabel(absl::string_view field) {
  if (field == "target") return "Target";
  if (field == "stream_group_id") return "Stream group ID";
  if (field == "stream_names") return "Stream names";
  if (field == "lifetime") return "Lifetime";
  if (field == "expires") return "Expiry";
  if (field == "not_before") return "Not before";
  if (field == "client_ip") return "IP address";
  if (field == "domain") return "Domain";
  if (field == "user_id") return "User ID";
  if (field == "tag") return "Tag";
  return "Form";
}

InlineDialog DialogForPage(const PageLocation& location) {
  InlineDialog dialog;
  dialog.location = location;
  dialog.title = absl::StrCat("Secure token for stream ", location.stream_id,
                              " (", PageTitle(location.page), ")");
  dialog.defaults.stream_group_id = location.stream_id;
  dialog.target_options = {
      {TargetChoice::kStreamGroup,
       std::string(TargetChoiceValue(TargetChoice::kStreamGroup)),
       absl::StrCat("Entire stream group (", location.stream_id, ")")},
      {TargetChoice::kStreamNames,
       std::string(TargetChoiceValue(TargetChoice::kStreamNames)),
       "Stream names"},
      {TargetChoice::kOrganization,
       std::string(TargetChoiceValue(TargetChoice::kOrganization)),
       "Entire organisation"},
  };
  return dialog;
}

// Validation ------------------------------------------------------------------

FormProblem PersonProblem(const token::FieldViolation& violation) {
  const std::string field = FormFieldOf(violation);
  const std::string& d = violation.description;
  const std::string label(FormFieldLabel(field));
  FormProblem p{field, ""};
  if (field == "target") {
    p.message =
        "Choose what the token is for: the entire stream group, stream names "
        "or the entire organisation.";
  } else if (field == "stream_group_id" &&
             absl::StrContains(d, "must not be empty")) {
    p.message = "Enter the stream group ID.";
  } else if (field == "stream_names" && absl::StrContains(d, "at least one")) {
    p.message = "Enter at least one stream name.";
  } else if (field == "stream_names" && absl::StartsWith(d, "name ")) {
    p.message = Sentence(absl::StrCat("Stream ", d));
  } else if (field == "stream_names" && absl::StartsWith(d, "at most")) {
    p.message = Sentence(absl::StrCat("Give ", d));
  } else if (field == "not_before" && absl::StrContains(d, "expir")) {
    // "must be before the expiry (<time>), got <time>"
    const size_t open = d.find('(');
    const size_t close = d.find(')', open);
    p.message =
        open != std::string::npos && close != std::string::npos
            ? absl::StrCat("Not before must be earlier than the expiry ",
                           d.substr(open, close - open + 1), ".")
            : "Not before must be earlier than the expiry.";
  } else if (field == "expires" && absl::StrContains(d, "lifetime")) {
    p.message = "Give either a lifetime or an expiry, not both.";
  } else if (field == "client_ip") {
    p.message =
        "IP address must be an IPv4 or IPv6 address, or a network such as "
        "203.0.113.0/24 or 2001:db8::/32.";
  } else if (field == "domain") {
    p.message =
        "Domain must be a host name such as example.com, or *.example.com "
        "for all of its subdomains.";
  } else if (absl::StartsWith(d, "at most") ||
             absl::StartsWith(d, "at least")) {
    p.message = Sentence(absl::StrCat(label, " must be ", d));
  } else if (absl::StartsWith(d, "must ")) {
    p.message = Sentence(absl::StrCat(label, " ", d));
  } else {
    p.message = Sentence(absl::StrCat(label, ": ", d));
  }
  return p;
}

FormCheck ValidateForm(const DialogForm& form, absl::Time now,
                       const token::TokenLimits& limits) {
  FormCheck check;
  std::vector<std::string> parse_failed;  // fields already reported
  auto fail = [&](absl::string_view field, std::string message) {
    check.problems.push_back({std::string(field), std::move(message)});
    parse_failed.emplace_back(field);
  };

  token::TokenSpec spec;
  const std::optional<TargetChoice> choice = ParseTargetChoice(form.target);
  if (!choice.has_value()) {
    fail("target",
         absl::StripAsciiWhitespace(form.target).empty()
             ? "Choose what the token is for: the entire stream group, stream "
               "names or the entire organisation."
             : absl::StrCat("Target \"", absl::CEscape(form.target),
                            "\" is not a choice: use the entire stream group, "
                            "stream names or the entire organisation."));
  } else {
    switch (*choice) {
      case TargetChoice::kStreamGroup:
        spec.target = token::Target::StreamGroup(
            std::string(absl::StripAsciiWhitespace(form.stream_group_id)));
        break;
      case TargetChoice::kStreamNames:
        spec.target = token::Target::Streams(SplitNames(form.stream_names));
        break;
      case TargetChoice::kOrganization:
        spec.target = token::Target::Organization();
        break;
    }
  }

  const absl::string_view lifetime = absl::StripAsciiWhitespace(form.lifetime);
  if (!lifetime.empty()) {
    absl::StatusOr<absl::Duration> d = token::ParseDuration(lifetime);
    if (d.ok()) {
      spec.lifetime = *d;
    } else {
      fail("lifetime", absl::StrCat("Lifetime \"", absl::CEscape(lifetime),
                                    "\" is not a duration: write a number and "
                                    "a unit, such as 90m, 36h, 14d or 2w."));
    }
  }
  const absl::string_view expires = absl::StripAsciiWhitespace(form.expires);
  if (!expires.empty()) {
    absl::StatusOr<absl::Time> t = token::ParseRfc3339(expires);
    if (t.ok()) {
      spec.expires_at = *t;
    } else {
      fail("expires", absl::StrCat("Expiry \"", absl::CEscape(expires),
                                   "\" is not a date and time: write it as "
                                   "2025-03-01T12:00:00Z (RFC 3339)."));
    }
  }
  const absl::string_view not_before =
      absl::StripAsciiWhitespace(form.not_before);
  if (!not_before.empty()) {
    absl::StatusOr<absl::Time> t = token::ParseRfc3339(not_before);
    if (t.ok()) {
      spec.not_before = *t;
    } else {
      fail("not_before",
           absl::StrCat("Not before \"", absl::CEscape(not_before),
                        "\" is not a date and time: write it as "
                        "2025-03-01T12:00:00Z (RFC 3339)."));
    }
  }
  spec.client_ip = std::string(absl::StripAsciiWhitespace(form.client_ip));
  spec.domain = std::string(absl::StripAsciiWhitespace(form.domain));
  spec.user_id = std::string(absl::StripAsciiWhitespace(form.user_id));
  spec.tag = std::string(absl::StripAsciiWhitespace(form.tag));

  const bool window_unparsed =
      std::find_if(parse_failed.begin(), parse_failed.end(),
                   [](const std::string& f) {
                     return f == "lifetime" || f == "expires";
                   }) != parse_failed.end();
  for (const token::FieldViolation& v :
       token::ValidateTokenSpec(spec, limits, now)) {
    FormProblem p = PersonProblem(v);
    if (std::find(parse_failed.begin(), parse_failed.end(), p.field) !=
        parse_failed.end()) {
      continue;  // already reported as unreadable
    }
    // The expiry could not be read, so a comparison with it means nothing.
    if (window_unparsed && p.field == "not_before" &&
        absl::StrContains(v.description, "expir")) {
      continue;
    }
    if (std::find(check.problems.begin(), check.problems.end(), p) ==
        check.problems.end()) {
      check.problems.push_back(std::move(p));
    }
  }
  std::stable_sort(check.problems.begin(), check.problems.end(),
                   [](const FormProblem& a, const FormProblem& b) {
                     return FieldOrder(a.field) < FieldOrder(b.field);
                   });
  if (check.ok()) check.spec = convert::ToProtoSpec(spec);
  return check;
}

std::vector<FormProblem> ProblemsFromServerError(const absl::Status& status) {
  std::vector<FormProblem> problems;
  for (absl::string_view part :
       absl::StrSplit(status.message(), "; ", absl::SkipEmpty())) {
    const size_t colon = part.find(": ");
    const absl::string_view field =
        colon == absl::string_view::npos ? "" : part.substr(0, colon);
    const bool known = field == "expires_at" ||
                       std::find(std::begin(kFormFields), std::end(kFormFields),
                                 field) != std::end(kFormFields);
    if (known) {
      problems.push_back(PersonProblem(token::FieldViolation{
          std::string(field), std::string(part.substr(colon + 2))}));
    } else {
      problems.push_back({"form", Sentence(std::string(part))});
    }
  }
  if (problems.empty()) {
    problems.push_back({"form", Sentence(std::string(status.message()))});
  }
  return problems;
}

std::string FormatProblems(const std::vector<FormProblem>& problems) {
  std::string out;
  for (const FormProblem& p : problems) {
    absl::StrAppend(&out, p.message, "\n");
  }
  return out;
}

// Overview --------------------------------------------------------------------

std::string RelativeTime(absl::Time t, absl::Time now) {
  const absl::Duration d = t - now;
  const absl::Duration a = absl::AbsDuration(d);
  if (a < absl::Seconds(5)) return "now";
  double value;
  const char* unit;
  if (a < absl::Seconds(90)) {
    value = absl::ToDoubleSeconds(a);
    unit = "second";
  } else if (a < absl::Minutes(90)) {
    value = absl::ToDoubleMinutes(a);
    unit = "minute";
  } else if (a < absl::Hours(36)) {
    value = absl::ToDoubleHours(a);
    unit = "hour";
  } else {
    value = absl::ToDoubleHours(a) / 24.0;
    unit = "day";
  }
  const int64_t n = static_cast<int64_t>(std::llround(value));
  const std::string amount = absl::StrCat(n, " ", unit, n == 1 ? "" : "s");
  return d > absl::ZeroDuration() ? absl::StrCat("in ", amount)
                                  : absl::StrCat(amount, " ago");
}

namespace {

void FillFromToken(const v1::Token& token, absl::Time now, TokenOverview* o) {
  o->target = DescribeTarget(token.target());
  if (token.has_issued_at())
    o->issued_at = convert::FromProtoTimestamp(token.issued_at());
  if (token.has_not_before()) {
    o->not_before = convert::FromProtoTimestamp(token.not_before());
    o->not_before_relative = RelativeTime(*o->not_before, now);
  }
  if (token.has_expires_at()) {
    o->expires_at = convert::FromProtoTimestamp(token.expires_at());
    o->expires_relative = RelativeTime(*o->expires_at, now);
  }
  o->client_ip = token.client_ip();
  o->domain = token.domain();
  o->user_id = token.user_id();
  o->tag = token.tag();
  o->token_id = token.id();
  o->key_id = token.key_id();
  o->algorithm = token.algorithm() == v1::ALGORITHM_UNSPECIFIED
                     ? ""
                     : AlgorithmText(token.algorithm());
  o->organization_id = token.organization_id();
  o->state = token.state() == v1::TOKEN_STATE_UNSPECIFIED
                 ? ""
                 : TokenStateText(token.state());
}

}  // namespace

TokenOverview OverviewFromIssue(const v1::IssueTokenResponse& response,
                                absl::Time now) {
  TokenOverview o;
  FillFromToken(response.token(), now, &o);
  o.jwt = response.jwt();
  o.security_config = MakeSecurityConfig(response.jwt());
  return o;
}

TokenOverview OverviewFromDecode(const v1::DecodeTokenResponse& response,
                                 absl::string_view jwt, absl::Time now) {
  TokenOverview o;
  FillFromToken(response.token(), now, &o);
  if (response.state() != v1::TOKEN_STATE_UNSPECIFIED) {
    o.state = TokenStateText(response.state());
  }
  if (o.key_id.empty() || o.algorithm.empty()) {
    const nlohmann::json header =
        nlohmann::json::parse(response.header_json(), nullptr,
                              /*allow_exceptions=*/false);
    if (header.is_object()) {
      auto kid = header.find("kid");
      if (o.key_id.empty() && kid != header.end() && kid->is_string()) {
        o.key_id = kid->get<std::string>();
      }
      auto alg = header.find("alg");
      if (o.algorithm.empty() && alg != header.end() && alg->is_string()) {
        o.algorithm = alg->get<std::string>();
      }
    }
  }
  o.signature_valid = response.signature_valid();
  o.problems.assign(response.problems().begin(), response.problems().end());
  o.jwt = std::string(jwt);
  o.security_config = MakeSecurityConfig(jwt);
  return o;
}

std::string FormatOverview(const TokenOverview& o) {
  auto or_text = [](const std::string& s, absl::string_view none) {
    return s.empty() ? std::string(none) : s;
  };
  auto when = [](const std::optional<absl::Time>& t,
                 const std::string& relative) {
    if (!t.has_value()) return std::string("(unknown)");
    return absl::StrCat(token::FormatRfc3339(*t), " (", relative, ")");
  };
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Target", or_text(o.target, "(none)")},
      {"Not before", when(o.not_before, o.not_before_relative)},
      {"Expiry", when(o.expires_at, o.expires_relative)},
      {"IP address", or_text(o.client_ip, "(any)")},
      {"Domain", or_text(o.domain, "(any)")},
      {"User ID", or_text(o.user_id, "(none)")},
      {"Tag", or_text(o.tag, "(none)")},
      {"Token ID", or_text(o.token_id, "(unknown)")},
      {"Key ID", or_text(o.key_id, "(unknown)")},
  };
  if (!o.algorithm.empty()) rows.push_back({"Algorithm", o.algorithm});
  if (!o.organization_id.empty()) {
    rows.push_back({"Organisation", o.organization_id});
  }
  if (!o.state.empty()) rows.push_back({"State", o.state});
  if (o.signature_valid.has_value()) {
    rows.push_back({"Signature", *o.signature_valid ? "valid" : "NOT valid"});
  }
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::string out = "Secure Token Overview\n";
  for (const auto& r : rows) {
    absl::StrAppend(&out, "  ", r.first,
                    std::string(width - r.first.size(), ' '), "  ", r.second,
                    "\n");
  }
  if (!o.problems.empty()) {
    absl::StrAppend(&out, "\nProblems\n");
    for (const std::string& p : o.problems)
      absl::StrAppend(&out, "  - ", p, "\n");
  }
  absl::StrAppend(&out,
                  "\nSecurity config for the group object (JavaScript)\n  ",
                  o.security_config.group_js,
                  "\nSecurity config for the group object (JSON)\n  ",
                  o.security_config.group_json,
                  "\nSecurity config for an entries element (JavaScript)\n  ",
                  o.security_config.entry_js,
                  "\nSecurity config for an entries element (JSON)\n  ",
                  o.security_config.entry_json, "\n");
  return out;
}

std::string OverviewToJson(const TokenOverview& o, int indent) {
  nlohmann::json j = nlohmann::json::object();
  j["target"] = o.target;
  j["issued_at"] = FormatTime(o.issued_at);
  j["not_before"] = FormatTime(o.not_before);
  j["not_before_relative"] = o.not_before_relative;
  j["expires_at"] = FormatTime(o.expires_at);
  j["expires_relative"] = o.expires_relative;
  j["client_ip"] = o.client_ip;
  j["domain"] = o.domain;
  j["user_id"] = o.user_id;
  j["tag"] = o.tag;
  j["token_id"] = o.token_id;
  j["key_id"] = o.key_id;
  j["algorithm"] = o.algorithm;
  j["organization_id"] = o.organization_id;
  j["state"] = o.state;
  if (o.signature_valid.has_value()) j["signature_valid"] = *o.signature_valid;
  j["problems"] = o.problems;
  j["jwt"] = o.jwt;
  j["security_config"] = {{"group",
                           {{"javascript", o.security_config.group_js},
                            {"json", o.security_config.group_json}}},
                          {"entry",
                           {{"javascript", o.security_config.entry_js},
                            {"json", o.security_config.entry_json}}}};
  // Replace invalid UTF-8 (a pasted foreign token may carry any bytes).
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Network
// -----------------------------------------------------------------------

absl::StatusOr<DialogOutcome> CreateTokenFromForm(
    TokenAuthorityClient& client, const DialogForm& form, const Clock& clock,
    const token::TokenLimits& limits) {
  DialogOutcome outcome;
  FormCheck check = ValidateForm(form, clock.Now(), limits);
  if (!check.ok()) {
    outcome.problems = std::move(check.problems);
    return outcome;
  }
  v1::IssueTokenRequest request;
  *request.mutable_spec() = std::move(check.spec);
  absl::StatusOr<v1::IssueTokenResponse> response =
      client.IssueToken(std::move(request));
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kInvalidArgument) {
      outcome.problems = ProblemsFromServerError(response.status());
      return outcome;
    }
    return response.status();
  }
  outcome.overview = OverviewFromIssue(*response, clock.Now());
  return outcome;
}

absl::StatusOr<TokenOverview> OverviewForJwt(TokenAuthorityClient& client,
                                             absl::string_view jwt,
                                             const Clock& clock) {
  jwt = absl::StripAsciiWhitespace(jwt);
  if (absl::StartsWithIgnoreCase(jwt, "bearer ")) {
    jwt.remove_prefix(7);
    jwt = absl::StripAsciiWhitespace(jwt);
  }
  if (jwt.empty()) {
    return absl::InvalidArgumentError("jwt: paste a token (it is empty)");
  }
  v1::DecodeTokenRequest request;
  request.set_jwt(std::string(jwt));
  absl::StatusOr<v1::DecodeTokenResponse> response =
      client.DecodeToken(request);
  if (!response.ok()) return response.status();
  return OverviewFromDecode(*response, jwt, clock.Now());
}

}  // namespace token_authority::client

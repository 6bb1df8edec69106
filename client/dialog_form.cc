// The form of the inline token dialogs (dialog.h): the target choices, the
// validation of what a person typed (parsing here, the rules in the token
// core) and the wording of every problem for people.
#include <algorithm>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/dialog.h"
#include "convert/proto_convert.h"
#include "token/target.h"
#include "token/time_util.h"

namespace token_authority::client {
namespace {

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

// What reading the typed text gave so far: a problem for each field that
// could not be read, and those fields (the core's violations of them are not
// reported again).
struct FormReading {
  std::vector<FormProblem> problems;
  std::vector<std::string> parse_failed;  // fields already reported

  void Fail(absl::string_view field, std::string message) {
    problems.push_back({std::string(field), std::move(message)});
    parse_failed.emplace_back(field);
  }
  bool Failed(absl::string_view field) const {
    return std::find(parse_failed.begin(), parse_failed.end(), field) !=
           parse_failed.end();
  }
};

// Reads the target choice (and the group or the names it needs) into `spec`.
void ReadTarget(const DialogForm& form, token::TokenSpec* spec,
                FormReading* reading) {
  const std::optional<TargetChoice> choice = ParseTargetChoice(form.target);
  if (!choice.has_value()) {
    reading->Fail(
        "target",
        absl::StripAsciiWhitespace(form.target).empty()
            ? "Choose what the token is for: the entire stream group, stream "
              "names or the entire organisation."
            : absl::StrCat("Target \"", absl::CEscape(form.target),
                           "\" is not a choice: use the entire stream group, "
                           "stream names or the entire organisation."));
    return;
  }
  switch (*choice) {
    case TargetChoice::kStreamGroup:
      spec->target = token::Target::StreamGroup(
          std::string(absl::StripAsciiWhitespace(form.stream_group_id)));
      break;
    case TargetChoice::kStreamNames:
      spec->target = token::Target::Streams(SplitNames(form.stream_names));
      break;
    case TargetChoice::kOrganization:
      spec->target = token::Target::Organization();
      break;
  }
}

// Reads the RFC 3339 time `typed` of form field `field` (shown as `label`)
// into `out`; nothing when empty.
void ReadTime(absl::string_view field, absl::string_view label,
              absl::string_view typed, std::optional<absl::Time>* out,
              FormReading* reading) {
  const absl::string_view text = absl::StripAsciiWhitespace(typed);
  if (text.empty()) return;
  absl::StatusOr<absl::Time> t = token::ParseRfc3339(text);
  if (t.ok()) {
    *out = *t;
  } else {
    reading->Fail(field, absl::StrCat(label, " \"", absl::CEscape(text),
                                      "\" is not a date and time: write it as "
                                      "2025-03-01T12:00:00Z (RFC 3339)."));
  }
}

// Reads the lifetime, the expiry and the not-before time into `spec`.
void ReadWindow(const DialogForm& form, token::TokenSpec* spec,
                FormReading* reading) {
  const absl::string_view lifetime = absl::StripAsciiWhitespace(form.lifetime);
  if (!lifetime.empty()) {
    absl::StatusOr<absl::Duration> d = token::ParseDuration(lifetime);
    if (d.ok()) {
      spec->lifetime = *d;
    } else {
      reading->Fail("lifetime",
                    absl::StrCat("Lifetime \"", absl::CEscape(lifetime),
                                 "\" is not a duration: write a number and "
                                 "a unit, such as 90m, 36h, 14d or 2w."));
    }
  }
  ReadTime("expires", "Expiry", form.expires, &spec->expires_at, reading);
  ReadTime("not_before", "Not before", form.not_before, &spec->not_before,
           reading);
}

// Adds the core's violations of `spec`, worded for people, once each; not
// those of fields already reported as unreadable.
void AddViolations(const token::TokenSpec& spec,
                   const token::TokenLimits& limits, absl::Time now,
                   FormReading* reading) {
  const bool window_unparsed =
      reading->Failed("lifetime") || reading->Failed("expires");
  for (const token::FieldViolation& v :
       token::ValidateTokenSpec(spec, limits, now)) {
    FormProblem p = PersonProblem(v);
    if (reading->Failed(p.field)) {
      continue;  // already reported as unreadable
    }
    // The expiry could not be read, so a comparison with it means nothing.
    if (window_unparsed && p.field == "not_before" &&
        absl::StrContains(v.description, "expir")) {
      continue;
    }
    std::vector<FormProblem>& problems = reading->problems;
    if (std::find(problems.begin(), problems.end(), p) == problems.end()) {
      problems.push_back(std::move(p));
    }
  }
}
}  // namespace

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
  FormReading reading;
  token::TokenSpec spec;
  ReadTarget(form, &spec, &reading);
  ReadWindow(form, &spec, &reading);
  spec.client_ip = std::string(absl::StripAsciiWhitespace(form.client_ip));
  spec.domain = std::string(absl::StripAsciiWhitespace(form.domain));
  spec.user_id = std::string(absl::StripAsciiWhitespace(form.user_id));
  spec.tag = std::string(absl::StripAsciiWhitespace(form.tag));
  AddViolations(spec, limits, now, &reading);

  FormCheck check;
  check.problems = std::move(reading.problems);
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

}  // namespace token_authority::client

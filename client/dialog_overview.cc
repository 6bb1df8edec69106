// The Secure Token Overview of the inline token dialogs (dialog.h): built
// from an issued or a decoded token, shown as a table for terminals or as
// JSON.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/dialog.h"
#include "client/dialog_json.h"
#include "client/proto_text.h"
#include "convert/proto_convert.h"
#include "nlohmann/json.hpp"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

std::string FormatTime(const std::optional<absl::Time>& t) {
  return t.has_value() ? UtcSecondsText(*t) : std::string();
}

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
  // Also without TOKEN_STATE_INVALID (a server that predates it): a
  // signature that does not verify makes the token invalid.
  o.invalid = response.state() == v1::TOKEN_STATE_INVALID ||
              !response.signature_valid();
  if (o.invalid) {
    o.state = TokenStateText(v1::TOKEN_STATE_INVALID);
  } else {
    o.security_config = MakeSecurityConfig(jwt);
  }
  return o;
}

std::string FormatOverview(const TokenOverview& o) {
  auto or_text = [](const std::string& s, absl::string_view none) {
    return s.empty() ? std::string(none) : s;
  };
  auto when = [](const std::optional<absl::Time>& t,
                 const std::string& relative) {
    if (!t.has_value()) return std::string("(unknown)");
    return absl::StrCat(UtcSecondsText(*t), " (", relative, ")");
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
  if (o.invalid) {
    absl::StrAppend(&out, "\n", kInvalidTokenWarning, "\n");
    return out;
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

nlohmann::json OverviewToJsonValue(const TokenOverview& o) {
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
  if (o.invalid) return j;
  j["security_config"] = {{"group",
                           {{"javascript", o.security_config.group_js},
                            {"json", o.security_config.group_json}}},
                          {"entry",
                           {{"javascript", o.security_config.entry_js},
                            {"json", o.security_config.entry_json}}}};
  return j;
}

std::string OverviewToJson(const TokenOverview& o, int indent) {
  // Replace invalid UTF-8 (a pasted foreign token may carry any bytes).
  return OverviewToJsonValue(o).dump(indent, ' ', false,
                                     nlohmann::json::error_handler_t::replace);
}

}  // namespace token_authority::client

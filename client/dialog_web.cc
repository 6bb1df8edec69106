// The web side of the inline token dialogs (dialog_web.h): the standalone
// Secure Token page, the form's description, the "secure" package state and
// token list rows.
#include "client/dialog_web.h"

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/proto_text.h"
#include "convert/proto_convert.h"
#include "token/time_util.h"
#include "token/validation.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

constexpr v1::TokenState kFilterStates[] = {
    v1::TOKEN_STATE_ACTIVE, v1::TOKEN_STATE_NOT_YET_VALID,
    v1::TOKEN_STATE_EXPIRED, v1::TOKEN_STATE_REVOKED};

constexpr absl::string_view kFromNotBefore =
    "The lifetime counts from Not before when one is given, else from the "
    "time of issue.";

// "secure/token" with or without slashes, a query string or a fragment.
bool IsSecureTokenPath(absl::string_view path) {
  path = absl::StripAsciiWhitespace(path);
  path = path.substr(0, path.find_first_of("?#"));
  while (absl::ConsumePrefix(&path, "/")) {
  }
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  return absl::EqualsIgnoreCase(path, kSecureTokenPath);
}

FieldDescription Field(absl::string_view name, absl::string_view kind,
                       bool optional, size_t max_length,
                       absl::string_view placeholder, absl::string_view hint,
                       absl::string_view shown_for_target = "") {
  return {std::string(name), std::string(FormFieldLabel(name)),
          std::string(kind), optional,
          max_length,        std::string(placeholder),
          std::string(hint), std::string(shown_for_target)};
}

std::string UtcOrEmpty(const google::protobuf::Timestamp& t, bool has) {
  return has ? UtcSecondsText(convert::FromProtoTimestamp(t)) : std::string();
}

}  // namespace

InlineDialog SecureTokenDialog() {
  InlineDialog dialog;
  dialog.standalone = true;
  dialog.path = std::string(kSecureTokenPath);
  dialog.page_title = "Secure Token";
  dialog.title = "Create Secure Token";
  dialog.defaults.stream_group_id.clear();
  dialog.target_options = TargetOptions("Entire stream group");
  return dialog;
}

absl::StatusOr<InlineDialog> DialogForWebPath(absl::string_view path) {
  if (IsSecureTokenPath(path)) return SecureTokenDialog();
  absl::StatusOr<PageLocation> location = ParsePagePath(path);
  if (!location.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(location.status().message(), ", or secure/token"));
  }
  return DialogForPage(*location);
}

std::string DurationText(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(d);
  struct Unit {
    int64_t seconds;
    const char* name;
  };
  constexpr int64_t kWeek = int64_t{7} * 86400;
  static constexpr Unit kUnits[] = {
      {kWeek, "week"}, {86400, "day"}, {3600, "hour"}, {60, "minute"}};
  for (const Unit& u : kUnits) {
    if (s <= 0 || s % u.seconds != 0) continue;
    const int64_t n = s / u.seconds;
    if (u.seconds == kWeek && n >= 8) continue;  // "56 days", not weeks
    return absl::StrCat(n, " ", u.name, n == 1 ? "" : "s");
  }
  return absl::StrCat(s, " second", s == 1 ? "" : "s");
}

FormDescription DescribeForm(const token::TokenLimits& limits) {
  FormDescription d;
  d.max_lifetime = limits.max_lifetime;
  d.max_lifetime_text = DurationText(limits.max_lifetime);
  d.max_stream_names = token::kMaxStreamNames;
  d.max_stream_name_length = token::kMaxStreamNameLength;
  d.default_lifetime = DialogForm().lifetime;
  d.lifetime_label = "Token lifetime";
  const std::string lifetime_hint =
      absl::StrCat("At most ", d.max_lifetime_text, ". ", kFromNotBefore);
  d.fields = {
      Field("target", "choice", false, 0, "", ""),
      Field("stream_group_id", "text", false, token::kMaxStreamGroupIdLength,
            "my-stream-group", "", "stream_group"),
      Field("stream_names", "list", false, 0, "stream-a, stream-b",
            absl::StrCat("Separate names with commas; at most ",
                         token::kMaxStreamNames, " names of up to ",
                         token::kMaxStreamNameLength, " characters."),
            "streams"),
      Field("lifetime", "duration", false, 0, "36h",
            absl::StrCat("A number and a unit: 90m, 36h, 14d, 2w. ",
                         lifetime_hint)),
      Field("expires", "datetime", false, 0, "2025-03-01T12:00:00Z",
            absl::StrCat("RFC 3339, instead of a lifetime; at most ",
                         d.max_lifetime_text, " from now.")),
      Field("not_before", "datetime", true, 0, "2025-03-01T12:00:00Z",
            absl::StrCat("Optional, RFC 3339. ", kFromNotBefore)),
      Field("client_ip", "ip", true, 0, "203.0.113.0/24",
            "Optional: an IPv4 or IPv6 address or network (CIDR)."),
      Field("domain", "domain", true, 0, "example.com",
            "Optional: a host name, or *.example.com for its subdomains."),
      Field("user_id", "text", true, token::kMaxTextLength, "",
            "Optional: identifies the viewer."),
      Field("tag", "text", true, token::kMaxTextLength, "",
            "Optional: one tag to track the token."),
  };
  static constexpr const char* kPresets[] = {"1h",  "1d",  "1w",  "2w",
                                             "30d", "90d", "365d"};
  for (const char* preset : kPresets) {
    absl::StatusOr<absl::Duration> p = token::ParseDuration(preset);
    if (!p.ok() || *p > limits.max_lifetime) continue;
    d.lifetime_choices.push_back({"preset", preset, DurationText(*p)});
  }
  d.lifetime_choices.push_back({"custom", "", "Custom lifetime"});
  d.lifetime_choices.push_back({"expiry", "", "Explicit expiry date"});
  return d;
}

SecurePackage SecurePackageState(bool enabled,
                                 absl::string_view organization_id) {
  SecurePackage p;
  p.organization_id = std::string(organization_id);
  p.enabled = enabled;
  if (enabled) {
    p.state = "enabled";
  } else {
    p.state = "Upgrade needed";
    p.message =
        "Secure playback tokens need the \"secure\" package, which is not "
        "enabled for this organisation (Enabled Packages shows \"Upgrade "
        "needed\"). Please contact us to activate it.";
  }
  return p;
}

absl::StatusOr<SecurePackage> FetchSecurePackage(TokenAuthorityClient& client,
                                                 absl::Duration timeout) {
  CallOptions call;
  call.deadline = timeout;
  absl::StatusOr<std::unique_ptr<OrganizationStateStream>> stream =
      client.WatchOrganizationStates(v1::WatchOrganizationStatesRequest(),
                                     call);
  if (!stream.ok()) return stream.status();
  v1::OrganizationStateEvent event;
  if (!(*stream)->Next(&event)) {
    absl::Status st = (*stream)->Finish();
    if (st.ok()) {
      st = absl::UnavailableError("the organisation state stream ended early");
    }
    return st;
  }
  (*stream)->Cancel();
  while ((*stream)->Next(&event)) {
  }
  (*stream)->Finish().IgnoreError();  // CANCELLED, as asked
  return SecurePackageState(event.secure_enabled(), event.organization_id());
}

TokenRow TokenRowOf(const v1::Token& token, absl::Time now) {
  TokenRow row;
  row.token_id = token.id();
  row.target = DescribeTarget(token.target());
  row.state = token.state() == v1::TOKEN_STATE_UNSPECIFIED
                  ? ""
                  : TokenStateText(token.state());
  row.issued_at = UtcOrEmpty(token.issued_at(), token.has_issued_at());
  row.expires_at = UtcOrEmpty(token.expires_at(), token.has_expires_at());
  if (token.has_expires_at()) {
    row.expires_relative =
        RelativeTime(convert::FromProtoTimestamp(token.expires_at()), now);
  }
  row.user_id = token.user_id();
  row.tag = token.tag();
  row.revocable = token.state() == v1::TOKEN_STATE_ACTIVE ||
                  token.state() == v1::TOKEN_STATE_NOT_YET_VALID;
  return row;
}

std::vector<std::string> StateFilterChoices() {
  std::vector<std::string> out;
  for (v1::TokenState s : kFilterStates) out.push_back(TokenStateText(s));
  return out;
}

absl::StatusOr<v1::TokenState> ParseStateFilter(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (t.empty()) return v1::TOKEN_STATE_UNSPECIFIED;
  for (char& c : t) {
    if (c == '_' || c == ' ') c = '-';
  }
  for (v1::TokenState s : kFilterStates) {
    if (TokenStateText(s) == t) return s;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("state: \"", text,
                   "\" is not a state; use active, not-yet-valid, expired or "
                   "revoked"));
}

}  // namespace token_authority::client

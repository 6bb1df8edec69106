// What a web page needs of the inline token dialog beyond dialog.h, still as
// pure logic: the standalone Secure Token page ("secure/token"), a
// structured description of the form (each field's label, kind, limits and
// hint, the lifetime choices), the organisation's "secure" package state
// ("Upgrade needed") and the rows of a token list. The gateway in
// client/web/ and its web component only show what this decides.
#ifndef CLIENT_DIALOG_WEB_H_
#define CLIENT_DIALOG_WEB_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/dialog.h"
#include "token/token_spec.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client {

// The path of the standalone Secure Token page.
inline constexpr absl::string_view kSecureTokenPath = "secure/token";

// The dialog of the standalone Secure Token page: target "stream_group"
// with an empty stream group ID to type, lifetime 2 weeks. Never fails.
InlineDialog SecureTokenDialog();

// The dialog of a web path: "secure/token" (also "/secure/token/", with a
// query string or fragment) is SecureTokenDialog(), anything else goes
// through ParsePagePath (its InvalidArgumentError, naming the Secure Token
// page too). Thread-safe.
absl::StatusOr<InlineDialog> DialogForWebPath(absl::string_view path);

// How one form field is shown.
struct FieldDescription {
  std::string name;   // one of kFormFields
  std::string label;  // FormFieldLabel(name)
  // "choice" (target), "text", "list" (comma-separated names), "duration",
  // "datetime" (RFC 3339), "ip", "domain".
  std::string kind;
  bool optional = false;
  // Longest accepted value in characters; 0: no limit of its own.
  size_t max_length = 0;
  std::string placeholder;  // an example value
  std::string hint;         // a sentence shown next to the field, or empty
  // The target choice this field belongs to ("stream_group", "streams");
  // empty: always shown.
  std::string shown_for_target;
};

// One entry of the Token lifetime choice: a preset ("2w", "2 weeks"), the
// custom lifetime (kind "custom": the "lifetime" field) or an explicit
// expiry date (kind "expiry": the "expires" field, lifetime empty).
struct LifetimeChoice {
  std::string kind;   // "preset", "custom", "expiry"
  std::string value;  // the lifetime for a preset, else empty
  std::string label;
};

// The whole form's description under `limits`.
struct FormDescription {
  std::vector<FieldDescription> fields;  // in the order of kFormFields
  std::vector<LifetimeChoice> lifetime_choices;
  std::string lifetime_label;     // "Token lifetime": the choice's label
  std::string default_lifetime;   // "2w": the preselected preset
  absl::Duration max_lifetime;    // limits.max_lifetime
  std::string max_lifetime_text;  // "365 days"
  size_t max_stream_names = 0;    // token::kMaxStreamNames
  size_t max_stream_name_length = 0;
};

// Presets longer than limits.max_lifetime are left out. Never fails.
FormDescription DescribeForm(const token::TokenLimits& limits = {});

// "2 weeks", "1 hour", "365 days", "90 minutes", "45 seconds": a duration in
// the largest unit that divides it (weeks only below 8 weeks).
std::string DurationText(absl::Duration d);

// The organisation's "secure" package, as the dashboard's Enabled Packages
// shows it.
struct SecurePackage {
  std::string organization_id;
  bool enabled = false;
  std::string state;    // "enabled" or "Upgrade needed"
  std::string message;  // what to do about it; empty when enabled
};

// The package state for `enabled`.
SecurePackage SecurePackageState(bool enabled,
                                 absl::string_view organization_id = "");

// Asks the authority (WatchOrganizationStates, the first snapshot event of
// the organisation the client's key acts for) whether the "secure" package
// is enabled, waiting at most `timeout`. The server's status on failure;
// DEADLINE_EXCEEDED when no event came in time.
absl::StatusOr<SecurePackage> FetchSecurePackage(
    TokenAuthorityClient& client, absl::Duration timeout = absl::Seconds(5));

// One row of a page's token list.
struct TokenRow {
  std::string token_id;
  std::string target;  // DescribeTarget
  std::string state;   // TokenStateText: "active", "revoked", ...
  std::string issued_at, expires_at;  // RFC 3339 UTC to the second, or ""
  std::string expires_relative;       // RelativeTime
  std::string user_id, tag;
  bool revocable = false;  // active or not yet valid
};

TokenRow TokenRowOf(const tokenauthority::v1::Token& token, absl::Time now);

// The states a token list can be filtered by, as ParseStateFilter reads
// them: "active", "not-yet-valid", "expired", "revoked".
std::vector<std::string> StateFilterChoices();

// A token list's state filter as typed ("active", "not-yet-valid",
// "expired", "revoked"; empty: any). InvalidArgumentError naming "state"
// otherwise.
absl::StatusOr<tokenauthority::v1::TokenState> ParseStateFilter(
    absl::string_view text);

}  // namespace token_authority::client

#endif  // CLIENT_DIALOG_WEB_H_

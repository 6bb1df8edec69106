// The inline token dialogs of the dashboard, as pure logic.
//
// Five dashboard pages show a "create secure token" dialog:
//   playout/<stream-id>, stream/<stream-id>, stream/<stream-id>/code-snippets,
//   stream/new/<stream-id>, webcaster/<stream-id>.
// For a page this header gives the default form and the target choices,
// validates what a person typed (every problem at once, per field, in words a
// person understands) and turns the answer of IssueToken (or DecodeToken for
// a pasted JWT) into the Secure Token Overview with the player's security
// config in both forms (group object and entries element, JavaScript and
// JSON).
//
// Parsing, validation and formatting never touch the network and take the
// current time as a parameter. The validation rules are the token core's
// (token::ValidateTokenSpec), so the dialog and the server agree; this file
// only parses the typed text and words the core's violations for people.
// Only CreateTokenFromForm and OverviewForJwt call the server.
#ifndef CLIENT_DIALOG_H_
#define CLIENT_DIALOG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client/client.h"
#include "token/player_config.h"
#include "token/token_spec.h"
#include "token/validation.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::client {

// The pages that carry the dialog.
enum class DialogPage {
  kPlayout,             // playout/<stream-id>
  kStream,              // stream/<stream-id>
  kStreamCodeSnippets,  // stream/<stream-id>/code-snippets
  kStreamNew,           // stream/new/<stream-id>
  kWebcaster,           // webcaster/<stream-id>
};

// A page and the stream (group) id in its path.
struct PageLocation {
  DialogPage page = DialogPage::kStream;
  std::string stream_id;

  friend bool operator==(const PageLocation& a, const PageLocation& b) {
    return a.page == b.page && a.stream_id == b.stream_id;
  }
};

// Parses a page path as the dashboard or a person gives it: with or without
// a leading slash, with a scheme and host ("https://dash.example.com/...")
// or just a host ("dash.example.com/..."), with trailing slashes, a query
// string and/or a fragment. The stream id may be percent-encoded; it must be
// a valid stream group id (1-128 printable ASCII characters, no spaces).
// InvalidArgumentError naming the expected forms otherwise. Thread-safe.
absl::StatusOr<PageLocation> ParsePagePath(absl::string_view path);

// The canonical path without a leading slash, e.g. "stream/new/abc".
std::string PagePath(const PageLocation& location);

// The page's name in the dashboard: "Playout", "Stream", "Code snippets",
// "New stream", "Webcaster".
absl::string_view PageTitle(DialogPage page);

// The three target choices of the dialog.
enum class TargetChoice { kStreamGroup, kStreamNames, kOrganization };

// The form value of a choice: "stream_group", "streams", "organization".
absl::string_view TargetChoiceValue(TargetChoice choice);

// One choice as offered on a page.
struct TargetOption {
  TargetChoice choice;
  std::string value;  // TargetChoiceValue(choice)
  std::string label;  // "Entire stream group (abc)", "Stream names", ...
};

// The three choices in their order, the stream group's labelled
// `stream_group_label` (the page's "Entire stream group (abc)", or without a
// group on the standalone page).
std::vector<TargetOption> TargetOptions(std::string stream_group_label);

// The fields of the dialog, as typed (strings, unvalidated).
struct DialogForm {
  // "stream_group", "streams" or "organization" (also accepted: "group",
  // "stream names", "org", "organisation", "org-wide", case-insensitive).
  std::string target = "stream_group";
  // The group of the "stream_group" choice; the page's stream id by default.
  std::string stream_group_id;
  // The "streams" choice: names separated by commas ("a, b,c").
  std::string stream_names;
  // "90m", "36h", "14d", "2w"... Empty with an empty expiry: the server's
  // default lifetime. Not together with `expires`.
  std::string lifetime = "2w";
  // RFC 3339 ("2025-03-01T12:00:00Z"), instead of a lifetime.
  std::string expires;
  // RFC 3339; empty: from the time of issue.
  std::string not_before;
  std::string client_ip;  // address or CIDR network
  std::string domain;     // host name or *.host name
  std::string user_id;
  std::string tag;
};

// Form field names, as used in FormProblem::field.
inline constexpr absl::string_view kFormFields[] = {
    "target",     "stream_group_id", "stream_names", "lifetime", "expires",
    "not_before", "client_ip",       "domain",       "user_id",  "tag"};

// A person's label of a form field: "Not before", "IP address", ...
absl::string_view FormFieldLabel(absl::string_view field);

// The dialog of one page.
struct InlineDialog {
  PageLocation location;  // stream_id empty on the standalone page
  // The canonical path without a leading slash ("stream/abc",
  // "secure/token") and the page's name ("Stream", "Secure Token").
  std::string path;
  std::string page_title;
  // The standalone Secure Token page (dialog_web.h): no stream id.
  bool standalone = false;
  std::string title;  // e.g. "Secure token for stream group abc (Playout)"
  DialogForm defaults;
  std::vector<TargetOption> target_options;
};

// The dialog of a page: the default form (target: the entire stream group of
// the page's stream id; lifetime 2 weeks; optional fields empty) and the
// target choices. Never fails.
InlineDialog DialogForPage(const PageLocation& location);

// One problem with one field, in words a person understands.
struct FormProblem {
  std::string field;    // one of kFormFields
  std::string message;  // a sentence, e.g. "Not before must be earlier..."

  friend bool operator==(const FormProblem& a, const FormProblem& b) {
    return a.field == b.field && a.message == b.message;
  }
};

// The outcome of validating a form: every problem, or the spec to send.
struct FormCheck {
  std::vector<FormProblem> problems;
  // The spec to send; meaningful only when ok().
  tokenauthority::v1::TokenSpec spec;
  bool ok() const { return problems.empty(); }
};

// Parses and validates `form` at time `now` against `limits` (the server's
// defaults unless told otherwise). Reports every problem at once, in the
// order of kFormFields. Thread-safe; never touches the network.
FormCheck ValidateForm(const DialogForm& form, absl::Time now,
                       const token::TokenLimits& limits = {});

// Words one core violation (token::ValidateTokenSpec) for people, under the
// form's field name.
FormProblem PersonProblem(const token::FieldViolation& violation);

// The problems in a server's INVALID_ARGUMENT message ("field: description;
// field: description", as token::ViolationsToStatus writes it), worded for
// people. Parts that name no known field become a problem of field "form".
std::vector<FormProblem> ProblemsFromServerError(const absl::Status& status);

// "Not before must be earlier than the expiry." style lines, one per
// problem, prefixed by the field label when the message does not start with
// it.
std::string FormatProblems(const std::vector<FormProblem>& problems);

// The player configuration, in both forms, as JavaScript and as JSON.
// The security config object (token/player_config.h), shown with the
// overview.
using token::MakeSecurityConfig;
using token::SecurityConfig;

// "now" (within 5 s), "in 14 days", "3 hours ago", ... rounded to the
// nearest unit of seconds (< 90 s), minutes (< 90 min), hours (< 36 h) or
// days.
std::string RelativeTime(absl::Time t, absl::Time now);

// The Secure Token Overview.
struct TokenOverview {
  std::string target;  // DescribeTarget, e.g. "entire stream group abc"
  std::optional<absl::Time> issued_at, not_before, expires_at;
  std::string not_before_relative, expires_relative;  // RelativeTime
  std::string client_ip, domain, user_id, tag;        // empty: none
  std::string token_id, key_id, algorithm, organization_id;
  std::string state;  // "active", "not-yet-valid", "expired", "invalid", ...
  // Decoded tokens: whether the signature verified, and every problem.
  std::optional<bool> signature_valid;
  // A decoded token whose signature does not verify (DecodeToken's
  // TOKEN_STATE_INVALID, or signature_valid false): state "invalid", and no
  // security config (such a token must not be pasted into a player).
  bool invalid = false;
  std::vector<std::string> problems;
  std::string jwt;
  SecurityConfig security_config;
};

// The overview of a freshly issued token, at time `now`.
TokenOverview OverviewFromIssue(
    const tokenauthority::v1::IssueTokenResponse& response, absl::Time now);

// The overview of a decoded token (`jwt` as pasted), at time `now`. The key
// id comes from the token record or, when empty, from the header's "kid".
// A token whose signature did not verify (state TOKEN_STATE_INVALID or
// signature_valid false) is `invalid`: state "invalid", no security config.
TokenOverview OverviewFromDecode(
    const tokenauthority::v1::DecodeTokenResponse& response,
    absl::string_view jwt, absl::Time now);

// What the overview says of an invalid token instead of the snippets.
inline constexpr absl::string_view kInvalidTokenWarning =
    "This token is invalid: its signature does not verify with the "
    "organisation's keys. Do not paste it into a player.";

// The overview as an aligned two-column table followed by the four
// snippets (for an invalid token: a warning instead), for terminals.
std::string FormatOverview(const TokenOverview& overview);

// The overview as one JSON object (times RFC 3339 UTC to the second,
// snippets under "security_config": {"group": {"javascript", "json"},
// "entry": {...}}, absent for an invalid token).
std::string OverviewToJson(const TokenOverview& overview, int indent = 2);

// What creating a token from the dialog gave: the problems (nothing was
// issued) or the overview.
struct DialogOutcome {
  std::vector<FormProblem> problems;
  std::optional<TokenOverview> overview;
};

// Validates `form` (no call when it has problems), issues the token and
// builds its overview. A server INVALID_ARGUMENT becomes problems too (its
// limits may be stricter than the defaults). Other server failures are
// returned as the status (with the server's code).
absl::StatusOr<DialogOutcome> CreateTokenFromForm(
    TokenAuthorityClient& client, const DialogForm& form, const Clock& clock,
    const token::TokenLimits& limits = {});

// The overview of any pasted JWT, through DecodeToken. Surrounding
// whitespace and a "Bearer " prefix are removed first. The server's status
// on failure.
absl::StatusOr<TokenOverview> OverviewForJwt(TokenAuthorityClient& client,
                                             absl::string_view jwt,
                                             const Clock& clock);

}  // namespace token_authority::client

#endif  // CLIENT_DIALOG_H_

#include "client/tokenctl/list_flags.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/proto_text.h"

namespace token_authority::client::tokenctl {

namespace v1 = ::tokenauthority::v1;

void ListFlags::AddTagAndUser(CLI::App* app) {
  app->add_option("--tag", tag, "Only those with this tag");
  app->add_option("--user", user, "Only those of this user ID");
}

void ListFlags::Add(CLI::App* app, bool with_state, const char* state_help) {
  app->add_option("--tag", tag, "Only tokens with this tag");
  app->add_option("--user", user, "Only tokens of this user ID");
  app->add_option("--stream", stream,
                  "Only tokens that name this stream (organisation-wide "
                  "tokens only with --include-org-wide)");
  app->add_option("--group", group,
                  "Only tokens for this stream group (organisation-wide "
                  "tokens only with --include-org-wide)");
  if (with_state) {
    app->add_option("--state", state, state_help);
  }
}

void ListFlags::AddIncludeOrgWide(CLI::App* app, const char* help) {
  app->add_flag("--include-org-wide", include_org_wide, help);
}

std::optional<int> CheckIncludeOrgWide(Context& context,
                                       const ListFlags& filters) {
  if (filters.include_org_wide && !filters.TargetFilter()) {
    return context.Usage(
        "--include-org-wide goes with --stream or --group (without them "
        "organisation-wide tokens are already included)",
        {{"--include-org-wide", "needs --stream or --group", ""}});
  }
  return std::nullopt;
}

bool ListFlags::AnyFilter() const {
  return !tag.empty() || !user.empty() || !stream.empty() || !group.empty();
}

std::string ListFlags::Describe() const {
  std::vector<std::string> parts;
  if (!tag.empty()) parts.push_back(absl::StrCat("tag=", tag));
  if (!user.empty()) parts.push_back(absl::StrCat("user=", user));
  if (!stream.empty()) parts.push_back(absl::StrCat("stream=", stream));
  if (!group.empty()) parts.push_back(absl::StrCat("group=", group));
  if (!state.empty()) {
    std::optional<v1::TokenState> parsed = ParseState(state);
    parts.push_back(absl::StrCat(
        "state=", parsed.has_value() ? TokenStateText(*parsed) : state));
  }
  if (include_org_wide) parts.push_back("organisation-wide tokens included");
  return absl::StrJoin(parts, ", ");
}

std::optional<v1::TokenState> ParseState(std::string text) {
  text = absl::AsciiStrToLower(text);
  for (char& c : text) {
    if (c == '-' || c == ' ') c = '_';
  }
  if (text == "active") return v1::TOKEN_STATE_ACTIVE;
  if (text == "not_yet_valid") return v1::TOKEN_STATE_NOT_YET_VALID;
  if (text == "expired") return v1::TOKEN_STATE_EXPIRED;
  if (text == "revoked") return v1::TOKEN_STATE_REVOKED;
  return std::nullopt;
}

void PageFlags::Add(CLI::App* app) {
  app->add_option("--limit", limit, "At most this many per page (1-1000)");
  app->add_option("--page-token", page_token, "Continue a previous listing");
  app->add_flag("--all", all_pages, "Follow every page");
}

}  // namespace token_authority::client::tokenctl

#include "client/tokenctl/list_flags.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace token_authority::client::tokenctl {

namespace v1 = ::tokenauthority::v1;

void ListFlags::Add(CLI::App* app, bool with_state, const char* state_help) {
  app->add_option("--tag", tag, "Only tokens with this tag");
  app->add_option("--user", user, "Only tokens of this user ID");
  app->add_option("--stream", stream, "Only tokens covering this stream name");
  app->add_option("--group", group, "Only tokens for this stream group");
  if (with_state) {
    app->add_option("--state", state, state_help);
  }
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
  if (!state.empty()) parts.push_back(absl::StrCat("state=", state));
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

// The flags of the listing commands (internal to tokenctl): the filters of
// `list`, `revoke-bulk` and `audit`, and the paging of `list` and `audit`.
#ifndef CLIENT_TOKENCTL_LIST_FLAGS_H_
#define CLIENT_TOKENCTL_LIST_FLAGS_H_

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/tokenctl/command.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client::tokenctl {

// --tag, --user, --stream, --group and (optionally) --state and
// --include-org-wide.
//
// --stream S and --group G match the tokens that name stream S in their
// stream list, or are for stream group G, as the server's filters do. An
// organisation-wide token plays every stream and group but names none: it is
// included only with --include-org-wide (which tokenctl implements by
// reading the organisation's tokens that match the other filters; the server
// has no filter for it).
struct ListFlags {
  std::string tag, user, stream, group, state;
  bool include_org_wide = false;

  // Adds the flags to `app` (--state with `state_help` when `with_state`);
  // the struct must outlive `app`'s parsing.
  void Add(CLI::App* app, bool with_state = true,
           const char* state_help =
               "Only tokens in this state: active, "
               "not-yet-valid, expired, revoked");
  // Adds only --tag and --user (audit events have no stream or state).
  void AddTagAndUser(CLI::App* app);
  // Adds --include-org-wide with `help`.
  void AddIncludeOrgWide(CLI::App* app, const char* help);
  // Whether --tag, --user, --stream or --group was given.
  bool AnyFilter() const;
  // Whether --stream or --group was given (what --include-org-wide extends).
  bool TargetFilter() const { return !stream.empty() || !group.empty(); }
  // "tag=x, user=y, ...": the given filters, --state (in its one spelling)
  // and --include-org-wide included.
  std::string Describe() const;
};

// The token filter of --include-org-wide: the flag without --stream or
// --group is a usage error (reported; its exit code), else nullopt.
std::optional<int> CheckIncludeOrgWide(Context& context,
                                       const ListFlags& filters);

// A token state as typed ("active", "not-yet-valid", also "not_yet_valid"
// and other casings); nullopt when it is none of the four states a stored
// token has.
std::optional<tokenauthority::v1::TokenState> ParseState(std::string text);

// --limit, --page-token and --all.
struct PageFlags {
  int limit = 0;
  std::string page_token;
  bool all_pages = false;

  // Adds the flags to `app`; the struct must outlive `app`'s parsing.
  void Add(CLI::App* app);
};

// Sends `request` (a ListTokens or ListAuditEvents request) with the paging
// flags through `fetch(client, request)` and gathers one page, or with --all
// every page, into `all`. Returns kExitOk or the exit code of the failure
// (already reported).
template <typename Request, typename Response, typename Fetch>
int CollectPages(Context& context, const PageFlags& paging, Request request,
                 Fetch fetch, Response* all) {
  if (paging.limit < 0 || paging.limit > 1000) {
    return context.Usage("--limit must be 1 to 1000 (0: the server's default)");
  }
  request.set_page_size(paging.limit);
  request.set_page_token(paging.page_token);
  absl::StatusOr<TokenAuthorityClient*> client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  while (true) {
    absl::StatusOr<Response> page = fetch(**client, request);
    if (!page.ok()) return context.ServerFailure(page.status());
    all->MergeFrom(*page);  // appends the page's items
    all->set_next_page_token(page->next_page_token());
    if (!paging.all_pages || page->next_page_token().empty()) return kExitOk;
    request.set_page_token(page->next_page_token());
  }
}

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_LIST_FLAGS_H_

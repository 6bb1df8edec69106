// The commands over many tokens: list and revoke-bulk (their filters in
// list_flags.h). Organisation-wide tokens play every stream and group but
// name none, so --stream and --group leave them out unless
// --include-org-wide is given; the server has no filter for them, so
// tokenctl reads the organisation's tokens matching the other filters and
// keeps the organisation-wide ones (and revokes those one by one, by ID).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/proto_text.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/list_flags.h"
#include "client/tokenctl/output.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

std::vector<std::string> TokenRow(const v1::Token& t) {
  return {t.id(),
          DescribeTarget(t.target()),
          TokenStateText(t.state()),
          TimeText(t.expires_at(), t.has_expires_at()),
          t.user_id(),
          t.tag()};
}

// --state as the request's state: UNSPECIFIED when not given; nullopt (and
// the usage error reported in `*rc`) when it is not a state.
std::optional<v1::TokenState> StateFilter(Context& context,
                                          const ListFlags& filters, int* rc) {
  if (filters.state.empty()) return v1::TOKEN_STATE_UNSPECIFIED;
  std::optional<v1::TokenState> state = ParseState(filters.state);
  if (!state.has_value()) {
    *rc = context.Usage(
        absl::StrCat("--state \"", filters.state,
                     "\" is not a state: use active, not-yet-valid, expired "
                     "or revoked"),
        {{"--state", "not a state", ""}});
  }
  return state;
}

// Every organisation-wide token matching the tag, user and state filters
// (`state` UNSPECIFIED: any), all pages, into `out` (newest first). Returns
// kExitOk or the exit code of the failure (already reported).
int CollectOrgWide(Context& context, const ListFlags& filters,
                   v1::TokenState state, v1::ListTokensResponse* out) {
  v1::ListTokensRequest request;
  request.set_tag(filters.tag);
  request.set_user_id(filters.user);
  request.set_state(state);
  PageFlags every_page;
  every_page.limit = 1000;
  every_page.all_pages = true;
  v1::ListTokensResponse all;
  const int rc = CollectPages(
      context, every_page, std::move(request),
      [&context](TokenAuthorityClient& c, const v1::ListTokensRequest& r) {
        return c.ListTokens(r, context.Call());
      },
      &all);
  if (rc != kExitOk) return rc;
  for (v1::Token& t : *all.mutable_tokens()) {
    if (t.target().kind_case() == v1::Target::kOrganization &&
        t.target().organization()) {
      *out->add_tokens() = std::move(t);
    }
  }
  return kExitOk;
}

// Merges the organisation-wide tokens into `named`, both newest first.
void MergeNewestFirst(const v1::ListTokensResponse& org_wide,
                      v1::ListTokensResponse* named) {
  std::vector<v1::Token> all(named->tokens().begin(), named->tokens().end());
  all.insert(all.end(), org_wide.tokens().begin(), org_wide.tokens().end());
  std::stable_sort(all.begin(), all.end(),
                   [](const v1::Token& a, const v1::Token& b) {
                     const int64_t sa = a.issued_at().seconds();
                     const int64_t sb = b.issued_at().seconds();
                     if (sa != sb) return sa > sb;
                     return a.issued_at().nanos() > b.issued_at().nanos();
                   });
  named->clear_tokens();
  for (v1::Token& t : all) *named->add_tokens() = std::move(t);
}

// list -----------------------------------------------------------------------

struct ListTokensFlags {
  ListFlags filters;
  PageFlags paging;
};

int List(Context& context, const ListTokensFlags& flags) {
  const ListFlags& filters = flags.filters;
  if (std::optional<int> rc = CheckIncludeOrgWide(context, filters)) {
    return *rc;
  }
  int rc = kExitOk;
  std::optional<v1::TokenState> state = StateFilter(context, filters, &rc);
  if (!state.has_value()) return rc;
  PageFlags paging = flags.paging;
  if (filters.include_org_wide) {
    if (!paging.page_token.empty()) {
      return context.Usage(
          "--page-token does not go with --include-org-wide (which lists "
          "every page)",
          {{"--page-token", "not with --include-org-wide", ""}});
    }
    paging.all_pages = true;
  }
  v1::ListTokensRequest request;
  request.set_tag(filters.tag);
  request.set_user_id(filters.user);
  request.set_stream_name(filters.stream);
  request.set_stream_group_id(filters.group);
  request.set_state(*state);
  v1::ListTokensResponse all;
  rc = CollectPages(
      context, paging, std::move(request),
      [&context](TokenAuthorityClient& c, const v1::ListTokensRequest& r) {
        return c.ListTokens(r, context.Call());
      },
      &all);
  if (rc != kExitOk) return rc;
  if (filters.include_org_wide) {
    v1::ListTokensResponse org_wide;
    rc = CollectOrgWide(context, filters, *state, &org_wide);
    if (rc != kExitOk) return rc;
    MergeNewestFirst(org_wide, &all);
  }
  Table table({"ID", "TARGET", "STATE", "EXPIRES (UTC)", "USER", "TAG"});
  for (const v1::Token& t : all.tokens()) table.AddRow(TokenRow(t));
  const int result = context.Emit(
      ProtoToJson(all), table.empty() ? "No tokens match.\n" : table.Render());
  if (!all.next_page_token().empty()) {
    context.Hint(absl::StrCat("next page: repeat with --page-token ",
                              all.next_page_token(),
                              " (or --all for every page)"));
  }
  return result;
}

// revoke-bulk ----------------------------------------------------------------

struct RevokeBulkFlags {
  ListFlags filters;
  std::string reason;
  bool yes = false;
  bool dry_run = false;
};

// What matches a revoke-bulk: the server's count for the filters, and the
// organisation-wide tokens listed (with --include-org-wide).
struct Matches {
  int64_t named = 0;
  std::vector<std::string> org_wide_ids;
  int64_t total() const {
    return named + static_cast<int64_t>(org_wide_ids.size());
  }
};

// The revocable organisation-wide tokens (active or not yet valid, or the
// one state asked) matching the other filters, into `m`. Returns kExitOk
// or the exit code of the failure (already reported).
int ListRevocableOrgWide(Context& context, const ListFlags& filters,
                         v1::TokenState state, Matches* m) {
  v1::ListTokensResponse org_wide;
  const int rc = CollectOrgWide(context, filters, state, &org_wide);
  if (rc != kExitOk) return rc;
  for (const v1::Token& t : org_wide.tokens()) {
    if (t.state() == v1::TOKEN_STATE_ACTIVE ||
        t.state() == v1::TOKEN_STATE_NOT_YET_VALID) {
      m->org_wide_ids.push_back(t.id());
    }
  }
  return kExitOk;
}

std::string CountText(int64_t n) {
  return absl::StrCat(n, n == 1 ? " token" : " tokens");
}

// Revokes what `m` counted: the server's bulk revocation (skipped when it
// counted none, so that tokens issued since are not revoked) and each
// listed organisation-wide token by ID. `*revoked` is how many were.
// Returns kExitOk or the exit code of the failure (already reported).
int RevokeMatches(Context& context, TokenAuthorityClient& client,
                  const v1::RevokeTokensRequest& bulk, const Matches& m,
                  int64_t* revoked) {
  *revoked = 0;
  if (m.named > 0) {
    absl::StatusOr<v1::RevokeTokensResponse> done =
        client.RevokeTokens(bulk, context.Call());
    if (!done.ok()) return context.ServerFailure(done.status());
    *revoked = done->revoked_count();
    if (*revoked > m.named) {
      // The server's filter matched tokens that came after the count; its
      // API cannot bound the revocation by the count yet.
      context.Hint(absl::StrCat(
          "warning: the server revoked ", CountText(*revoked), ", ",
          *revoked - m.named,
          " more than counted (tokens that matched only after the count)"));
    }
  }
  for (const std::string& id : m.org_wide_ids) {
    v1::RevokeTokenRequest one;
    one.set_token_id(id);
    one.set_reason(bulk.reason());
    absl::StatusOr<v1::Token> t = client.RevokeToken(one, context.Call());
    if (!t.ok()) {
      context.Hint(absl::StrCat("revoked ", CountText(*revoked),
                                " before this failure"));
      return context.ServerFailure(t.status());
    }
    ++*revoked;
  }
  return kExitOk;
}

// Counts what revoke-bulk would revoke into `m`. Returns kExitOk or the exit
// code of the failure (already reported).
int CountMatches(Context& context, TokenAuthorityClient& client,
                 const RevokeBulkFlags& flags,
                 const v1::RevokeTokensRequest& bulk, Matches* m) {
  v1::RevokeTokensRequest dry = bulk;
  dry.set_dry_run(true);
  absl::StatusOr<v1::RevokeTokensResponse> count =
      client.RevokeTokens(dry, context.Call());
  if (!count.ok()) return context.ServerFailure(count.status());
  m->named = count->revoked_count();
  if (flags.filters.include_org_wide) {
    return ListRevocableOrgWide(context, flags.filters, bulk.state(), m);
  }
  if (flags.filters.TargetFilter()) {
    context.Hint(
        "note: organisation-wide tokens play every stream and group too; "
        "they are not included (add --include-org-wide to revoke them as "
        "well)");
  }
  return kExitOk;
}

// The request of revoke-bulk from its flags; nullopt when they are bad (the
// usage error reported in `*rc`).
std::optional<v1::RevokeTokensRequest> BulkRequest(Context& context,
                                                   const RevokeBulkFlags& flags,
                                                   int* rc) {
  const ListFlags& filters = flags.filters;
  if (!filters.AnyFilter()) {
    *rc = context.Usage(
        "give at least one filter: --tag, --user, --stream or --group");
    return std::nullopt;
  }
  if (std::optional<int> bad = CheckIncludeOrgWide(context, filters)) {
    *rc = *bad;
    return std::nullopt;
  }
  // The server counts (dry run) and revokes with the same filter, --state
  // included.
  v1::RevokeTokensRequest bulk;
  bulk.set_tag(filters.tag);
  bulk.set_user_id(filters.user);
  bulk.set_stream_name(filters.stream);
  bulk.set_stream_group_id(filters.group);
  bulk.set_reason(flags.reason);
  if (!filters.state.empty()) {
    std::optional<v1::TokenState> state = ParseState(filters.state);
    if (!state.has_value() || *state == v1::TOKEN_STATE_REVOKED ||
        *state == v1::TOKEN_STATE_EXPIRED) {
      *rc = context.Usage(absl::StrCat("--state \"", filters.state,
                                       "\" cannot be revoked: use active or "
                                       "not-yet-valid"),
                          {{"--state", "use active or not-yet-valid", ""}});
      return std::nullopt;
    }
    bulk.set_state(*state);
  }
  return bulk;
}

int RevokeBulk(Context& context, const RevokeBulkFlags& flags) {
  const ListFlags& filters = flags.filters;
  int rc = kExitOk;
  const std::optional<v1::RevokeTokensRequest> request =
      BulkRequest(context, flags, &rc);
  if (!request.has_value()) return rc;
  const v1::RevokeTokensRequest& bulk = *request;
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  Matches m;
  rc = CountMatches(context, **client, flags, bulk, &m);
  if (rc != kExitOk) return rc;
  const std::string filter = filters.Describe();
  const int64_t matched = m.total();
  nlohmann::json doc = {{"dry_run", true},
                        {"matched", matched},
                        {"org_wide", m.org_wide_ids.size()},
                        {"revoked_count", 0},
                        {"filter", filter}};
  const std::string what = absl::StrCat(
      CountText(matched), matched == 1 ? " matches" : " match", " (", filter,
      ")",
      m.org_wide_ids.empty()
          ? ""
          : absl::StrCat(", ", m.org_wide_ids.size(),
                         " of them organisation-wide (they play every "
                         "stream)"));
  if (flags.dry_run) {
    return context.Emit(
        doc, absl::StrCat(what, "; nothing was revoked (dry run).\n"));
  }
  if (matched == 0) {
    doc["dry_run"] = false;
    return context.Emit(doc, absl::StrCat("No unrevoked tokens match (", filter,
                                          "); nothing to revoke.\n"));
  }
  if (!flags.yes &&
      !context.Confirm(
          absl::StrCat(what, ". Revoke ", matched == 1 ? "it" : "them", "?"))) {
    return context.Aborted(
        context.json()
            ? absl::StrCat("not confirmed: ", what,
                           "; nothing was revoked (pass --yes to revoke)")
            : "not confirmed; nothing was revoked (answer y, or pass --yes)",
        doc);
  }
  int64_t revoked = 0;
  rc = RevokeMatches(context, **client, bulk, m, &revoked);
  if (rc != kExitOk) return rc;
  doc["dry_run"] = false;
  doc["revoked_count"] = revoked;
  return context.Emit(
      doc, absl::StrCat("Revoked ", CountText(revoked), " (", filter, ").\n"));
}

}  // namespace

void AddListCommand(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<ListTokensFlags>();
  CLI::App* list =
      commands.Add(&app, "list", "List tokens, newest first",
                   [flags](Context& c) { return List(c, *flags); });
  flags->filters.Add(list);
  flags->filters.AddIncludeOrgWide(
      list,
      "With --stream or --group: also the organisation-wide tokens, which "
      "play every stream (reads every page)");
  flags->paging.Add(list);
}

void AddRevokeBulkCommand(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<RevokeBulkFlags>();
  CLI::App* bulk = commands.Add(
      &app, "revoke-bulk",
      "Revoke every token matching the filters (counts them and asks first)",
      [flags](Context& c) { return RevokeBulk(c, *flags); });
  flags->filters.Add(bulk, /*with_state=*/true,
                     "Only tokens in this state: active or not-yet-valid");
  flags->filters.AddIncludeOrgWide(
      bulk,
      "With --stream or --group: also revoke the organisation-wide tokens, "
      "which play every stream (their holders lose every stream)");
  bulk->add_option("--reason", flags->reason, "Why (kept in the audit log)");
  bulk->add_flag("--dry-run", flags->dry_run,
                 "Only count the matching tokens; revoke nothing");
  bulk->add_flag("--yes,-y", flags->yes,
                 "Do not ask for confirmation (with --json: required to "
                 "revoke)");
}

}  // namespace token_authority::client::tokenctl

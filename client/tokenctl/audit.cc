// The audit command: audit events, newest first.
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/list_flags.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {
namespace {

namespace v1 = ::tokenauthority::v1;

struct AuditFlags {
  ListFlags filters;  // --tag and --user only
  std::string token, action, since, until;
  PageFlags paging;
};

int Audit(Context& context, const AuditFlags& flags) {
  v1::ListAuditEventsRequest request;
  request.set_tag(flags.filters.tag);
  request.set_user_id(flags.filters.user);
  request.set_token_id(flags.token);
  request.set_action(flags.action);
  for (auto [flag, text, ts] :
       {std::make_tuple("--since", &flags.since, request.mutable_since()),
        std::make_tuple("--until", &flags.until, request.mutable_until())}) {
    if (text->empty()) continue;
    absl::StatusOr<absl::Time> t = token::ParseRfc3339(*text);
    if (!t.ok()) {
      return context.Usage(absl::StrCat(flag, " \"", *text,
                                        "\" is not a time: write it as "
                                        "2025-03-01T12:00:00Z (RFC 3339)"));
    }
    *ts = convert::ToProtoTimestamp(*t);
  }
  if (flags.since.empty()) request.clear_since();
  if (flags.until.empty()) request.clear_until();
  v1::ListAuditEventsResponse all;
  const int rc = CollectPages(
      context, flags.paging, std::move(request),
      [&context](TokenAuthorityClient& c, const v1::ListAuditEventsRequest& r) {
        return c.ListAuditEvents(r, context.Call());
      },
      &all);
  if (rc != kExitOk) return rc;
  Table table(
      {"TIME (UTC)", "ACTION", "ACTOR", "TOKEN", "TAG", "USER", "DETAIL"});
  for (const v1::AuditEvent& e : all.events()) {
    table.AddRow({TimeText(e.time(), e.has_time()), e.action(), e.actor(),
                  e.token_id(), e.tag(), e.user_id(), e.detail()});
  }
  const int result =
      context.Emit(ProtoToJson(all),
                   table.empty() ? "No audit events match.\n" : table.Render());
  if (!all.next_page_token().empty()) {
    context.Hint(absl::StrCat("next page: repeat with --page-token ",
                              all.next_page_token(),
                              " (or --all for every page)"));
  }
  return result;
}

}  // namespace

void AddAuditCommand(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<AuditFlags>();
  CLI::App* audit =
      commands.Add(&app, "audit", "List audit events, newest first",
                   [flags](Context& c) { return Audit(c, *flags); });
  flags->filters.AddTagAndUser(audit);
  audit->add_option("--token", flags->token, "Only events about this token");
  audit->add_option("--action", flags->action,
                    "Only this action, e.g. token.revoked");
  audit->add_option("--since", flags->since,
                    "Only events at or after (RFC 3339)");
  audit->add_option("--until", flags->until, "Only events before (RFC 3339)");
  flags->paging.Add(audit);
}

}  // namespace token_authority::client::tokenctl

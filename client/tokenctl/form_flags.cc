#include "client/tokenctl/form_flags.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace token_authority::client::tokenctl {

void FormFlags::Add(CLI::App* app) {
  group_opt = app->add_option("--group", group,
                              "Target: the entire stream group with this ID");
  streams_opt = app->add_option("--streams", streams,
                                "Target: these stream names, comma-separated");
  org_wide_opt =
      app->add_flag("--org-wide", org_wide, "Target: the entire organisation");
  group_opt->excludes(streams_opt)->excludes(org_wide_opt);
  streams_opt->excludes(org_wide_opt);
  lifetime_opt = app->add_option(
      "--lifetime", lifetime, "How long the token is valid: 90m, 36h, 14d, 2w");
  expires_opt =
      app->add_option("--expires", expires,
                      "Absolute expiry instead of a lifetime (RFC 3339, e.g. "
                      "2025-03-01T12:00:00Z)");
  app->add_option("--not-before", not_before,
                  "Not valid before this time (RFC 3339)");
  app->add_option("--ip", ip, "Bind to a viewer IP address or CIDR network");
  app->add_option("--domain", domain,
                  "Bind to a host name, or *.host for its subdomains");
  app->add_option("--user", user, "The viewer's user ID (recorded)");
  app->add_option("--tag", tag, "A tracking tag (for audits and revocation)");
}

bool FormFlags::AnyGiven(const CLI::App* app) const {
  for (const char* name :
       {"--group", "--streams", "--org-wide", "--lifetime", "--expires",
        "--not-before", "--ip", "--domain", "--user", "--tag"}) {
    if (app->count(name) > 0) return true;
  }
  return false;
}

void FormFlags::ApplyTo(DialogForm* form) const {
  if (group_opt->count() > 0) {
    form->target = "stream_group";
    form->stream_group_id = group;
  } else if (streams_opt->count() > 0) {
    form->target = "streams";
    form->stream_names = streams;
  } else if (org_wide_opt->count() > 0 && org_wide) {
    form->target = "organization";
  }
  if (lifetime_opt->count() > 0) form->lifetime = lifetime;
  if (expires_opt->count() > 0) {
    form->expires = expires;
    // An expiry replaces the default lifetime (but not a given one, which
    // the validation then reports).
    if (lifetime_opt->count() == 0) form->lifetime.clear();
  }
  if (!not_before.empty()) form->not_before = not_before;
  if (!ip.empty()) form->client_ip = ip;
  if (!domain.empty()) form->domain = domain;
  if (!user.empty()) form->user_id = user;
  if (!tag.empty()) form->tag = tag;
}

std::string FlagOf(const std::string& field) {
  if (field == "target") return "--group ID, --streams a,b,c or --org-wide";
  if (field == "stream_group_id") return "--group";
  if (field == "stream_names") return "--streams";
  if (field == "lifetime") return "--lifetime";
  if (field == "expires") return "--expires";
  if (field == "not_before") return "--not-before";
  if (field == "client_ip") return "--ip";
  if (field == "domain") return "--domain";
  if (field == "user_id") return "--user";
  if (field == "tag") return "--tag";
  return "";
}

int EmitProblems(Context& context, const std::vector<FormProblem>& problems,
                 absl::string_view what) {
  std::vector<Problem> listed;
  std::vector<std::string> parts;
  for (const FormProblem& p : problems) {
    const std::string flag = FlagOf(p.field);
    listed.push_back({p.field, p.message, flag});
    std::string m(absl::StripSuffix(p.message, "."));
    parts.push_back(flag.empty() ? absl::StrCat(m, ".")
                                 : absl::StrCat(m, " (", flag, ")."));
  }
  return context.Usage(absl::StrCat(what, ": ", absl::StrJoin(parts, " ")),
                       listed);
}

}  // namespace token_authority::client::tokenctl

// The dialog command: the inline token dialog of a dashboard page. Without
// --create it only shows the form (the page's defaults with the given flags)
// and its validation, and issues nothing; with --create it issues the token.
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/dialog.h"
#include "client/dialog_json.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/commands.h"
#include "client/tokenctl/form_flags.h"
#include "client/tokenctl/output.h"

namespace token_authority::client::tokenctl {
namespace {

struct DialogFlags {
  std::string path;
  FormFlags form;
  bool create = false;
  bool yes = false;
  const CLI::App* app = nullptr;  // the dialog command, for FormFlags::AnyGiven
};

// The form's target in words, as typed.
std::string TargetText(const DialogForm& f) {
  if (f.target == TargetChoiceValue(TargetChoice::kStreamNames)) {
    return absl::StrCat("streams ", f.stream_names);
  }
  if (f.target == TargetChoiceValue(TargetChoice::kOrganization)) {
    return "entire organisation";
  }
  return absl::StrCat("entire stream group ", f.stream_group_id);
}

// The --group of the form when it is not the page's stream id; empty when
// it is (or no --group was given).
std::string OtherGroup(const DialogFlags& flags, const PageLocation& location,
                       const DialogForm& form) {
  if (flags.form.group_opt->count() == 0 ||
      form.target != TargetChoiceValue(TargetChoice::kStreamGroup)) {
    return "";
  }
  const std::string group(absl::StripAsciiWhitespace(form.stream_group_id));
  return group == location.stream_id ? "" : group;
}

// Shows the dialog of `location` (title, target choices with the flag of
// each) with `form`: the page's defaults, or with the given flags applied
// (`given`). Problems of the form are reported (exit 2); nothing is issued.
int ShowDialog(Context& context, const PageLocation& location,
               const InlineDialog& dialog, const DialogForm& form, bool given,
               const FormCheck& check) {
  if (!check.ok() && context.json()) {
    return EmitProblems(context, check.problems, "nothing was created");
  }
  nlohmann::json doc = {{"page", PagePath(location)},
                        {"page_title", std::string(PageTitle(location.page))},
                        {"stream_id", location.stream_id},
                        {"title", dialog.title},
                        {"target_options", nlohmann::json::array()},
                        {"defaults", FormToJson(dialog.defaults)},
                        {"form", FormToJson(form)},
                        {"valid", check.ok()},
                        {"created", false}};
  Table choices({"CHOICE", "LABEL", "FLAG"});
  for (const TargetOption& o : dialog.target_options) {
    doc["target_options"].push_back({{"value", o.value}, {"label", o.label}});
    const char* flag = o.choice == TargetChoice::kStreamGroup ? "--group"
                       : o.choice == TargetChoice::kStreamNames
                           ? "--streams a,b,c"
                           : "--org-wide";
    choices.AddRow({o.value, o.label, flag});
  }
  std::string human =
      absl::StrCat(dialog.title, "\n\nTarget choices\n", choices.Render(),
                   given ? "\nForm\n" : "\nDefaults\n");
  absl::StrAppend(&human, RenderFields({{"Target", TargetText(form)},
                                        {"Lifetime", form.lifetime},
                                        {"Expiry", form.expires},
                                        {"Not before", form.not_before},
                                        {"IP address", form.client_ip},
                                        {"Domain", form.domain},
                                        {"User ID", form.user_id},
                                        {"Tag", form.tag}}));
  if (!check.ok()) {
    context.out() << human;
    return EmitProblems(context, check.problems, "nothing was created");
  }
  const int rc = context.Emit(doc, human);
  context.Hint(
      "nothing was created: add --create to create this token (form flags: "
      "--group, --streams, --org-wide, --lifetime, --expires, --not-before, "
      "--ip, --domain, --user, --tag)");
  return rc;
}

int Create(Context& context, const PageLocation& location,
           const DialogForm& form) {
  auto client = context.Client();
  if (!client.ok()) return context.Failure(client.status());
  absl::StatusOr<DialogOutcome> outcome =
      CreateTokenFromForm(**client, form, context.clock());
  if (!outcome.ok()) return context.ServerFailure(outcome.status());
  if (!outcome->problems.empty()) {
    return EmitProblems(context, outcome->problems,
                        "the server refused the token");
  }
  nlohmann::json doc =
      nlohmann::json::parse(OverviewToJson(*outcome->overview, -1));
  doc["page"] = PagePath(location);
  return context.Emit(doc, FormatOverview(*outcome->overview));
}

int Dialog(Context& context, const DialogFlags& flags) {
  absl::StatusOr<PageLocation> location = ParsePagePath(flags.path);
  if (!location.ok()) return context.Usage(location.status().message());
  const InlineDialog dialog = DialogForPage(*location);
  DialogForm form = dialog.defaults;
  flags.form.ApplyTo(&form);
  const FormCheck check = ValidateForm(form, context.clock().Now());
  const std::string other = OtherGroup(flags, *location, form);
  if (!other.empty()) {
    context.Hint(absl::StrCat("warning: --group ", other,
                              " is not this page's stream ",
                              location->stream_id, ": the token would play ",
                              other, ", not ", location->stream_id));
  }
  if (!flags.create) {
    return ShowDialog(context, *location, dialog, form,
                      flags.form.AnyGiven(flags.app), check);
  }
  if (!check.ok()) {
    return EmitProblems(context, check.problems, "nothing was created");
  }
  if (!other.empty() && !flags.yes &&
      !context.Confirm(absl::StrCat("Create a token for stream group ", other,
                                    " from the page of ", location->stream_id,
                                    "?"))) {
    return context.Aborted(
        absl::StrCat("not confirmed; nothing was created (--group ", other,
                     " is not the page's stream; answer y, or pass --yes)"));
  }
  return Create(context, *location, form);
}

}  // namespace

void AddDialogCommand(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<DialogFlags>();
  CLI::App* dialog = commands.Add(
      &app, "dialog",
      "The inline token dialog of a dashboard page: shows its form (the "
      "page's defaults with the given form flags) and checks it; issues the "
      "token only with --create",
      [flags](Context& c) { return Dialog(c, *flags); });
  flags->app = dialog;
  dialog
      ->add_option("PAGE_PATH", flags->path,
                   "playout/<stream-id>, stream/<stream-id>, "
                   "stream/<stream-id>/code-snippets, stream/new/<stream-id> "
                   "or webcaster/<stream-id>")
      ->required();
  flags->form.Add(dialog);
  dialog->add_flag("--create", flags->create,
                   "Issue the token (the page's defaults with the given form "
                   "flags); without it nothing is issued");
  dialog->add_flag("--yes,-y", flags->yes,
                   "With --create: do not ask when --group is not the page's "
                   "stream");
}

}  // namespace token_authority::client::tokenctl

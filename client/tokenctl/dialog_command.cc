// The dialog command: the inline token dialog of a dashboard page (shown as
// the page opens it, or run to create a token).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/dialog.h"
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
  const CLI::App* app = nullptr;  // the dialog command, for FormFlags::AnyGiven
};

// Shows the dialog of `location` as the page opens it: the title, the target
// choices with the flag of each, and the default form.
int ShowDialog(Context& context, const PageLocation& location,
               const InlineDialog& dialog) {
  nlohmann::json doc = {{"page", PagePath(location)},
                        {"page_title", std::string(PageTitle(location.page))},
                        {"stream_id", location.stream_id},
                        {"title", dialog.title},
                        {"target_options", nlohmann::json::array()}};
  Table choices({"CHOICE", "LABEL", "FLAG"});
  for (const TargetOption& o : dialog.target_options) {
    doc["target_options"].push_back({{"value", o.value}, {"label", o.label}});
    const char* flag = o.choice == TargetChoice::kStreamGroup ? "--group"
                       : o.choice == TargetChoice::kStreamNames
                           ? "--streams a,b,c"
                           : "--org-wide";
    choices.AddRow({o.value, o.label, flag});
  }
  const DialogForm& f = dialog.defaults;
  doc["defaults"] = {{"target", f.target},
                     {"stream_group_id", f.stream_group_id},
                     {"stream_names", f.stream_names},
                     {"lifetime", f.lifetime},
                     {"expires", f.expires},
                     {"not_before", f.not_before},
                     {"client_ip", f.client_ip},
                     {"domain", f.domain},
                     {"user_id", f.user_id},
                     {"tag", f.tag}};
  std::string human = absl::StrCat(dialog.title, "\n\nTarget choices\n",
                                   choices.Render(), "\nDefaults\n");
  absl::StrAppend(
      &human,
      RenderFields(
          {{"Target", absl::StrCat("entire stream group ", f.stream_group_id)},
           {"Lifetime", f.lifetime},
           {"Expiry", f.expires},
           {"Not before", f.not_before},
           {"IP address", f.client_ip},
           {"Domain", f.domain},
           {"User ID", f.user_id},
           {"Tag", f.tag}}),
      "\nCreate the token with: tokenctl dialog ", PagePath(location),
      " --create (or give --streams, --org-wide, --lifetime, --expires, "
      "--not-before, --ip, --domain, --user, --tag)\n");
  return context.Emit(doc, human);
}

int Dialog(Context& context, const DialogFlags& flags) {
  absl::StatusOr<PageLocation> location = ParsePagePath(flags.path);
  if (!location.ok()) return context.Usage(location.status().message());
  const InlineDialog dialog = DialogForPage(*location);
  if (!flags.create && !flags.form.AnyGiven(flags.app)) {
    return ShowDialog(context, *location, dialog);
  }
  DialogForm form = dialog.defaults;
  flags.form.ApplyTo(&form);
  const FormCheck check = ValidateForm(form, context.clock().Now());
  if (!check.ok()) {
    return EmitProblems(context, check.problems, "nothing was created");
  }
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
  doc["page"] = PagePath(*location);
  return context.Emit(doc, FormatOverview(*outcome->overview));
}

}  // namespace

void AddDialogCommand(CLI::App& app, CommandList& commands) {
  auto flags = std::make_shared<DialogFlags>();
  CLI::App* dialog = commands.Add(
      &app, "dialog",
      "Run the inline token dialog of a dashboard page: show its defaults, or "
      "create the token from the given form flags",
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
                   "Create the token with the defaults and the given flags");
}

}  // namespace token_authority::client::tokenctl

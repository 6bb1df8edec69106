// The inline token dialog as JSON values (dialog_json.h). The overview's
// value is in dialog_overview.cc, beside its text form.
#include "client/dialog_json.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"

namespace token_authority::client {
namespace {

// The member of DialogForm that holds form field `name`, or nullptr.
std::string* FormMember(DialogForm& form, const std::string& name) {
  if (name == "target") return &form.target;
  if (name == "stream_group_id") return &form.stream_group_id;
  if (name == "stream_names") return &form.stream_names;
  if (name == "lifetime") return &form.lifetime;
  if (name == "expires") return &form.expires;
  if (name == "not_before") return &form.not_before;
  if (name == "client_ip") return &form.client_ip;
  if (name == "domain") return &form.domain;
  if (name == "user_id") return &form.user_id;
  if (name == "tag") return &form.tag;
  return nullptr;
}

nlohmann::json FieldToJson(const FieldDescription& f) {
  nlohmann::json j = {{"name", f.name},
                      {"label", f.label},
                      {"kind", f.kind},
                      {"optional", f.optional},
                      {"placeholder", f.placeholder},
                      {"hint", f.hint},
                      {"shown_for_target", f.shown_for_target}};
  if (f.max_length > 0) j["max_length"] = f.max_length;
  return j;
}

}  // namespace

nlohmann::json FormToJson(const DialogForm& form) {
  nlohmann::json j = nlohmann::json::object();
  DialogForm copy = form;
  for (absl::string_view field : kFormFields) {
    const std::string name(field);
    j[name] = *FormMember(copy, name);
  }
  return j;
}

absl::StatusOr<DialogForm> FormFromJson(const nlohmann::json& json) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError("form: must be a JSON object");
  }
  DialogForm form;
  for (const auto& [key, value] : json.items()) {
    std::string* member = FormMember(form, key);
    if (member == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("form.", key, ": not a field of the dialog"));
    }
    if (value.is_null()) continue;
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("form.", key, ": must be a string"));
    }
    *member = value.get<std::string>();
  }
  return form;
}

nlohmann::json ProblemsToJson(const std::vector<FormProblem>& problems) {
  nlohmann::json j = nlohmann::json::array();
  for (const FormProblem& p : problems) {
    j.push_back({{"field", p.field},
                 {"label", std::string(FormFieldLabel(p.field))},
                 {"message", p.message}});
  }
  return j;
}

nlohmann::json DialogToJson(const InlineDialog& dialog,
                            const FormDescription& description) {
  nlohmann::json options = nlohmann::json::array();
  for (const TargetOption& o : dialog.target_options) {
    options.push_back({{"value", o.value},
                       {"label", o.label},
                       {"selected", o.value == dialog.defaults.target}});
  }
  nlohmann::json fields = nlohmann::json::array();
  for (const FieldDescription& f : description.fields) {
    fields.push_back(FieldToJson(f));
  }
  nlohmann::json choices = nlohmann::json::array();
  for (const LifetimeChoice& c : description.lifetime_choices) {
    choices.push_back({{"kind", c.kind},
                       {"value", c.value},
                       {"label", c.label},
                       {"selected", c.kind == "preset" &&
                                        c.value == dialog.defaults.lifetime}});
  }
  return {{"page", dialog.path},
          {"page_title", dialog.page_title},
          {"title", dialog.title},
          {"stream_id", dialog.location.stream_id},
          {"standalone", dialog.standalone},
          {"target_options", options},
          {"defaults", FormToJson(dialog.defaults)},
          {"fields", fields},
          {"lifetime_label", description.lifetime_label},
          {"lifetime_choices", choices},
          {"state_filters", StateFilterChoices()},
          {"invalid_token_warning", std::string(kInvalidTokenWarning)},
          {"limits",
           {{"max_lifetime_seconds",
             absl::ToInt64Seconds(description.max_lifetime)},
            {"max_lifetime", description.max_lifetime_text},
            {"max_stream_names", description.max_stream_names},
            {"max_stream_name_length", description.max_stream_name_length}}}};
}

nlohmann::json SecurePackageToJson(const SecurePackage& package) {
  return {{"organization_id", package.organization_id},
          {"enabled", package.enabled},
          {"state", package.state},
          {"message", package.message}};
}

nlohmann::json TokenRowToJson(const TokenRow& row) {
  return {{"token_id", row.token_id},
          {"target", row.target},
          {"state", row.state},
          {"issued_at", row.issued_at},
          {"expires_at", row.expires_at},
          {"expires_relative", row.expires_relative},
          {"user_id", row.user_id},
          {"tag", row.tag},
          {"revocable", row.revocable}};
}

}  // namespace token_authority::client

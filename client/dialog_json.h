// The inline token dialog as JSON values (nlohmann::json), for programs that
// hand it to a browser or a script: the form as typed and back, a page's
// dialog with its description and package state, problems, the overview and
// token list rows. One spelling of every field for the gateway
// (client/web/) and its tests.
#ifndef CLIENT_DIALOG_JSON_H_
#define CLIENT_DIALOG_JSON_H_

#include <vector>

#include "absl/status/statusor.h"
#include "client/dialog.h"
#include "client/dialog_web.h"
#include "nlohmann/json.hpp"

namespace token_authority::client {

// {"target": ..., "stream_group_id": ..., ... } with every kFormFields key.
nlohmann::json FormToJson(const DialogForm& form);

// A form from a JSON object whose keys are kFormFields. A missing key or
// null keeps DialogForm's default for it. InvalidArgumentError naming the
// key ("form.tag: must be a string") for a value that is not a string, an
// unknown key, or when `json` is not an object.
absl::StatusOr<DialogForm> FormFromJson(const nlohmann::json& json);

// [{"field": ..., "label": ..., "message": ...}, ...]
nlohmann::json ProblemsToJson(const std::vector<FormProblem>& problems);

// The page's dialog: {"page", "page_title", "title", "stream_id",
// "standalone", "target_options": [{"value", "label", "selected"}],
// "defaults": FormToJson, "fields": [FieldDescription...],
// "lifetime_label", "lifetime_choices": [...], "state_filters":
// StateFilterChoices(), "invalid_token_warning": kInvalidTokenWarning,
// "limits": {"max_lifetime_seconds", "max_lifetime", "max_stream_names",
// "max_stream_name_length"}}.
nlohmann::json DialogToJson(const InlineDialog& dialog,
                            const FormDescription& description);

// {"organization_id", "enabled", "state", "message"}
nlohmann::json SecurePackageToJson(const SecurePackage& package);

// The overview as OverviewToJson writes it, as a value.
nlohmann::json OverviewToJsonValue(const TokenOverview& overview);

// {"token_id", "target", "state", "issued_at", "expires_at",
// "expires_relative", "user_id", "tag", "revocable"}
nlohmann::json TokenRowToJson(const TokenRow& row);

}  // namespace token_authority::client

#endif  // CLIENT_DIALOG_JSON_H_

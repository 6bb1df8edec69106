#include "client/web/dialog_api.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/dialog.h"
#include "client/dialog_json.h"
#include "client/dialog_web.h"

namespace token_authority::client::web {
namespace {

namespace v1 = ::tokenauthority::v1;

constexpr int kDefaultPageSize = 20;
constexpr int kMaxPageSize = 100;

// The "form" member of a request body as a DialogForm.
absl::StatusOr<DialogForm> RequestForm(const nlohmann::json& body) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError("the body must be a JSON object");
  }
  auto form = body.find("form");
  if (form == body.end()) {
    return absl::InvalidArgumentError("form: missing");
  }
  return FormFromJson(*form);
}

// A string member of a request body: "" when absent; an error naming it
// when it is not a string.
absl::StatusOr<std::string> StringMember(const nlohmann::json& body,
                                         const char* name) {
  if (!body.is_object()) {
    return absl::InvalidArgumentError("the body must be a JSON object");
  }
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": must be a string"));
  }
  return it->get<std::string>();
}

ApiReply BadRequestReply(const absl::Status& status) {
  return ErrorReply(BadRequest("bad_request", std::string(status.message())));
}

ApiReply ProblemsReply(std::vector<FormProblem> problems) {
  ApiError e;
  e.status = 422;
  e.code = "invalid_form";
  e.message = "The form has problems; nothing was created.";
  e.problems = std::move(problems);
  return ErrorReply(e);
}

absl::StatusOr<int> PageSize(const std::string& text) {
  if (text.empty()) return kDefaultPageSize;
  int n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 1 || n > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: \"", text, "\" must be a number from 1 to ", kMaxPageSize));
  }
  return n;
}

}  // namespace

ApiReply ErrorReply(const ApiError& error) {
  return {error.status, ApiErrorToJson(error)};
}

DialogApi::DialogApi(TokenAuthorityClient& client, const Clock& clock,
                     token::TokenLimits limits, absl::Duration state_timeout)
    : client_(client),
      clock_(clock),
      limits_(limits),
      state_timeout_(state_timeout) {}

ApiReply DialogApi::Form(absl::string_view page) const {
  absl::StatusOr<InlineDialog> dialog = DialogForWebPath(page);
  if (!dialog.ok()) {
    return ErrorReply(
        BadRequest("bad_page", std::string(dialog.status().message())));
  }
  absl::StatusOr<SecurePackage> package =
      FetchSecurePackage(client_, state_timeout_);
  if (!package.ok()) return ErrorReply(ApiErrorFromStatus(package.status()));
  nlohmann::json body = DialogToJson(*dialog, DescribeForm(limits_));
  body["organization"] = SecurePackageToJson(*package);
  return {200, std::move(body)};
}

ApiReply DialogApi::Validate(const nlohmann::json& body) const {
  absl::StatusOr<DialogForm> form = RequestForm(body);
  if (!form.ok()) return BadRequestReply(form.status());
  const FormCheck check = ValidateForm(*form, clock_.Now(), limits_);
  return {
      200,
      {{"valid", check.ok()}, {"problems", ProblemsToJson(check.problems)}}};
}

ApiReply DialogApi::Create(const nlohmann::json& body) const {
  absl::StatusOr<DialogForm> form = RequestForm(body);
  if (!form.ok()) return BadRequestReply(form.status());
  absl::StatusOr<DialogOutcome> outcome =
      CreateTokenFromForm(client_, *form, clock_, limits_);
  if (!outcome.ok()) return ErrorReply(ApiErrorFromStatus(outcome.status()));
  if (!outcome->problems.empty()) {
    return ProblemsReply(std::move(outcome->problems));
  }
  return {201, {{"overview", OverviewToJsonValue(*outcome->overview)}}};
}

ApiReply DialogApi::Decode(const nlohmann::json& body) const {
  absl::StatusOr<std::string> jwt = StringMember(body, "jwt");
  if (!jwt.ok()) return BadRequestReply(jwt.status());
  absl::StatusOr<TokenOverview> overview =
      OverviewForJwt(client_, *jwt, clock_);
  if (!overview.ok()) {
    ApiError e = ApiErrorFromStatus(overview.status());
    if (e.status == 400) {
      e.problems = {{"jwt", std::string(overview.status().message())}};
    }
    return ErrorReply(e);
  }
  return {200,
          {{"overview", OverviewToJsonValue(*overview)},
           {"invalid", overview->invalid}}};
}

ApiReply DialogApi::ListTokens(const ListQuery& query) const {
  absl::StatusOr<InlineDialog> dialog = DialogForWebPath(query.page);
  if (!dialog.ok()) {
    return ErrorReply(
        BadRequest("bad_page", std::string(dialog.status().message())));
  }
  absl::StatusOr<v1::TokenState> state = ParseStateFilter(query.state);
  if (!state.ok()) return BadRequestReply(state.status());
  absl::StatusOr<int> page_size = PageSize(query.page_size);
  if (!page_size.ok()) return BadRequestReply(page_size.status());
  v1::ListTokensRequest request;
  request.set_stream_group_id(dialog->location.stream_id);
  request.set_tag(query.tag);
  request.set_user_id(query.user_id);
  request.set_state(*state);
  request.set_page_size(*page_size);
  request.set_page_token(query.page_token);
  absl::StatusOr<v1::ListTokensResponse> response = client_.ListTokens(request);
  if (!response.ok()) return ErrorReply(ApiErrorFromStatus(response.status()));
  nlohmann::json tokens = nlohmann::json::array();
  const absl::Time now = clock_.Now();
  for (const v1::Token& t : response->tokens()) {
    tokens.push_back(TokenRowToJson(TokenRowOf(t, now)));
  }
  return {200,
          {{"page", dialog->path},
           {"stream_id", dialog->location.stream_id},
           {"tokens", tokens},
           {"next_page_token", response->next_page_token()}}};
}

ApiReply DialogApi::Revoke(const nlohmann::json& body) const {
  absl::StatusOr<std::string> id = StringMember(body, "token_id");
  if (!id.ok()) return BadRequestReply(id.status());
  absl::StatusOr<std::string> reason = StringMember(body, "reason");
  if (!reason.ok()) return BadRequestReply(reason.status());
  if (id->empty()) {
    return BadRequestReply(absl::InvalidArgumentError("token_id: missing"));
  }
  v1::RevokeTokenRequest request;
  request.set_token_id(*id);
  request.set_reason(reason->empty() ? "revoked in the token dialog" : *reason);
  absl::StatusOr<v1::Token> token = client_.RevokeToken(request);
  if (!token.ok()) return ErrorReply(ApiErrorFromStatus(token.status()));
  return {200, {{"token", TokenRowToJson(TokenRowOf(*token, clock_.Now()))}}};
}

}  // namespace token_authority::client::web

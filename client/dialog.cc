// The inline token dialog of a page and the two calls that reach the server
// (dialog.h). Page paths: dialog_page.cc; the form and its wording:
// dialog_form.cc; the overview: dialog_overview.cc.
#include "client/dialog.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "token/jws.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

}  // namespace

std::vector<TargetOption> TargetOptions(std::string stream_group_label) {
  auto option = [](TargetChoice choice, std::string label) {
    return TargetOption{choice, std::string(TargetChoiceValue(choice)),
                        std::move(label)};
  };
  return {option(TargetChoice::kStreamGroup, std::move(stream_group_label)),
          option(TargetChoice::kStreamNames, "Stream names"),
          option(TargetChoice::kOrganization, "Entire organisation")};
}

InlineDialog DialogForPage(const PageLocation& location) {
  InlineDialog dialog;
  dialog.location = location;
  dialog.path = PagePath(location);
  dialog.page_title = std::string(PageTitle(location.page));
  dialog.title = absl::StrCat("Secure token for stream ", location.stream_id,
                              " (", PageTitle(location.page), ")");
  dialog.defaults.stream_group_id = location.stream_id;
  dialog.target_options = TargetOptions(
      absl::StrCat("Entire stream group (", location.stream_id, ")"));
  return dialog;
}

absl::StatusOr<DialogOutcome> CreateTokenFromForm(
    TokenAuthorityClient& client, const DialogForm& form, const Clock& clock,
    const token::TokenLimits& limits) {
  DialogOutcome outcome;
  FormCheck check = ValidateForm(form, clock.Now(), limits);
  if (!check.ok()) {
    outcome.problems = std::move(check.problems);
    return outcome;
  }
  v1::IssueTokenRequest request;
  *request.mutable_spec() = std::move(check.spec);
  absl::StatusOr<v1::IssueTokenResponse> response =
      client.IssueToken(std::move(request));
  if (!response.ok()) {
    if (response.status().code() == absl::StatusCode::kInvalidArgument) {
      outcome.problems = ProblemsFromServerError(response.status());
      return outcome;
    }
    return response.status();
  }
  outcome.overview = OverviewFromIssue(*response, clock.Now());
  return outcome;
}

absl::StatusOr<TokenOverview> OverviewForJwt(TokenAuthorityClient& client,
                                             absl::string_view jwt,
                                             const Clock& clock) {
  jwt = token::TrimPastedToken(jwt);
  if (jwt.empty()) {
    return absl::InvalidArgumentError("jwt: paste a token (it is empty)");
  }
  v1::DecodeTokenRequest request;
  request.set_jwt(std::string(jwt));
  absl::StatusOr<v1::DecodeTokenResponse> response =
      client.DecodeToken(request);
  if (!response.ok()) return response.status();
  return OverviewFromDecode(*response, jwt, clock.Now());
}

}  // namespace token_authority::client

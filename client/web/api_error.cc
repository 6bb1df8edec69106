#include "client/web/api_error.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/dialog_json.h"
#include "client/dialog_web.h"

namespace token_authority::client::web {

nlohmann::json ApiErrorToJson(const ApiError& error) {
  return {{"error",
           {{"status", error.status},
            {"code", error.code},
            {"message", error.message},
            {"problems", ProblemsToJson(error.problems)}}}};
}

ApiError ApiErrorFromStatus(const absl::Status& status) {
  ApiError e;
  e.message = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      e.status = 400;
      e.code = "invalid_argument";
      e.problems = ProblemsFromServerError(status);
      break;
    case absl::StatusCode::kNotFound:
      e.status = 404;
      e.code = "not_found";
      break;
    case absl::StatusCode::kFailedPrecondition:
      e.status = 409;
      e.code = "upgrade_needed";
      e.message = SecurePackageState(false).message;
      break;
    case absl::StatusCode::kAlreadyExists:
      e.status = 409;
      e.code = "conflict";
      break;
    case absl::StatusCode::kResourceExhausted:
      e.status = 429;
      e.code = "too_many_requests";
      break;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      e.status = 502;
      e.code = "gateway_not_authorized";
      e.message = absl::StrCat(
          "the dialog gateway's API key was refused by the authority: ",
          status.message());
      break;
    case absl::StatusCode::kUnavailable:
      e.status = 503;
      e.code = "authority_unavailable";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      e.status = 504;
      e.code = "authority_timeout";
      break;
    default:
      e.status = 500;
      e.code = "internal";
      break;
  }
  if (e.message.empty()) e.message = e.code;
  return e;
}

ApiError BadRequest(const std::string& code, const std::string& message) {
  ApiError e;
  e.status = 400;
  e.code = code;
  e.message = message;
  return e;
}

}  // namespace token_authority::client::web

// The one error shape of the dialog gateway's JSON API:
//   {"error": {"status": 422, "code": "invalid_form", "message": "...",
//              "problems": [{"field", "label", "message"}]}}
// and the HTTP status and code of each absl::Status the authority answers.
#ifndef CLIENT_WEB_API_ERROR_H_
#define CLIENT_WEB_API_ERROR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/dialog.h"
#include "nlohmann/json.hpp"

namespace token_authority::client::web {

struct ApiError {
  int status = 500;  // HTTP status
  std::string code;  // "bad_json", "invalid_form", "upgrade_needed", ...
  std::string message;
  std::vector<FormProblem> problems;  // per field; may be empty
};

// The JSON body of `error`.
nlohmann::json ApiErrorToJson(const ApiError& error);

// An answer of the authority (or of the dialog library) as an API error:
//   INVALID_ARGUMENT -> 400 invalid_argument (the message's "field: ..."
//     parts become problems), NOT_FOUND -> 404 not_found,
//   FAILED_PRECONDITION -> 409 upgrade_needed (the organisation has no
//     "secure" package), ALREADY_EXISTS -> 409 conflict,
//   RESOURCE_EXHAUSTED -> 429 too_many_requests,
//   UNAUTHENTICATED / PERMISSION_DENIED -> 502 gateway_not_authorized (the
//     gateway's own key; the browser has none),
//   UNAVAILABLE -> 503 authority_unavailable,
//   DEADLINE_EXCEEDED -> 504 authority_timeout, anything else -> 500.
ApiError ApiErrorFromStatus(const absl::Status& status);

// A 400 error with `code` and `message` and no problems.
ApiError BadRequest(const std::string& code, const std::string& message);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_API_ERROR_H_

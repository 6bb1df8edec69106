// The JSON API of the dialog gateway, without HTTP: each call takes the
// parsed request and answers an HTTP status and a JSON body (an error in
// api_error.h's shape when it fails). Every rule comes from the dialog
// library (client/dialog.h, dialog_web.h); this only maps requests and
// answers. Calls reach the authority through the TokenAuthorityClient the
// caller owns. Thread-safe (the client is).
//
//   Form(page)          the page's dialog, description, "secure" package state
//   Validate(body)      every problem of {"form"}; creates nothing
//   Create(body)        issues the token of {"form"}: overview + snippets
//   Decode(body)        the overview of {"jwt"}
//   ListTokens(query)   the page's stream's tokens, newest first, paged
//   Revoke(body)        revokes {"token_id"} (with an optional "reason")
#ifndef CLIENT_WEB_DIALOG_API_H_
#define CLIENT_WEB_DIALOG_API_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client/client.h"
#include "client/web/api_error.h"
#include "nlohmann/json.hpp"
#include "token/token_spec.h"

namespace token_authority::client::web {

struct ApiReply {
  int status = 200;
  nlohmann::json body;
};

ApiReply ErrorReply(const ApiError& error);

// The query of ListTokens, as given in the URL ("" when absent).
struct ListQuery {
  std::string page;  // the page path; its stream id is the filter
  std::string tag, user_id, state;
  std::string page_size;  // 1-100; empty: 20
  std::string page_token;
};

class DialogApi {
 public:
  // `client` and `clock` are not owned and must outlive the API. `limits`
  // are the authority's (its --max-lifetime); `state_timeout` bounds the
  // wait for the organisation's state.
  DialogApi(TokenAuthorityClient& client, const Clock& clock,
            token::TokenLimits limits,
            absl::Duration state_timeout = absl::Seconds(5));

  ApiReply Form(absl::string_view page) const;
  ApiReply Validate(const nlohmann::json& body) const;
  ApiReply Create(const nlohmann::json& body) const;
  ApiReply Decode(const nlohmann::json& body) const;
  ApiReply ListTokens(const ListQuery& query) const;
  ApiReply Revoke(const nlohmann::json& body) const;

 private:
  TokenAuthorityClient& client_;
  const Clock& clock_;
  const token::TokenLimits limits_;
  const absl::Duration state_timeout_;
};

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_DIALOG_API_H_

// The security config object a user pastes into the player (nanoStream
// H5Live): for the group object, `security: { jwtoken: "..." }`, and for an
// entries element, `h5live: { security: { jwtoken: "..." } }`, each as
// JavaScript and as JSON. Built here once for the server's IssueToken answer,
// the dialogs and tokenctl.
#ifndef TOKEN_PLAYER_CONFIG_H_
#define TOKEN_PLAYER_CONFIG_H_

#include <string>

#include "absl/strings/string_view.h"

namespace token_authority::token {

struct SecurityConfig {
  std::string group_js;    // security: { jwtoken: "<jwt>" }
  std::string group_json;  // {"security":{"jwtoken":"<jwt>"}}
  std::string entry_js;    // h5live: { security: { jwtoken: "<jwt>" } }
  std::string entry_json;  // {"h5live":{"security":{"jwtoken":"<jwt>"}}}
};

// The snippets for `jwt`, string-escaped as JSON (which is also valid
// JavaScript), so that even a value that is not a token stays one string.
// Never fails; thread-safe.
SecurityConfig MakeSecurityConfig(absl::string_view jwt);

}  // namespace token_authority::token

#endif  // TOKEN_PLAYER_CONFIG_H_

#include "token/player_config.h"

#include "absl/strings/str_cat.h"
#include "token/json.h"

namespace token_authority::token {

SecurityConfig MakeSecurityConfig(absl::string_view jwt) {
  std::string quoted;
  json::AppendQuoted(jwt, &quoted);
  SecurityConfig c;
  c.group_js = absl::StrCat("security: { jwtoken: ", quoted, " }");
  c.group_json = absl::StrCat("{\"security\":{\"jwtoken\":", quoted, "}}");
  c.entry_js = absl::StrCat("h5live: { security: { jwtoken: ", quoted, " } }");
  c.entry_json =
      absl::StrCat("{\"h5live\":{\"security\":{\"jwtoken\":", quoted, "}}}");
  return c;
}

}  // namespace token_authority::token

// CSRF tokens of the dialog gateway: a signed double submit. The gateway
// hands the page a random nonce in a cookie (HttpOnly, SameSite=Strict) and
// the token HMAC-SHA256(key, nonce) in the JSON of the form; a
// state-changing call must carry the cookie and the token in the
// X-CSRF-Token header. The key is random per gateway process, so a restart
// asks the page to load the form again.
#ifndef CLIENT_WEB_CSRF_H_
#define CLIENT_WEB_CSRF_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/random.h"

namespace token_authority::client::web {

inline constexpr absl::string_view kCsrfCookie = "td_csrf";
inline constexpr absl::string_view kCsrfHeader = "X-CSRF-Token";

class CsrfGuard {
 public:
  // A guard with a fresh 256-bit key from `random`; its error otherwise.
  static absl::StatusOr<std::unique_ptr<CsrfGuard>> Create(
      RandomSource& random);

  struct Pair {
    std::string nonce;  // for the cookie
    std::string token;  // for the page (X-CSRF-Token)
  };
  // A new nonce and its token. Thread-safe.
  absl::StatusOr<Pair> Issue(RandomSource& random) const;
  // The token of an existing nonce (a page reloaded with its cookie).
  std::string TokenFor(absl::string_view nonce) const;
  // Whether `token` is the token of `nonce` (constant time). Thread-safe.
  bool Check(absl::string_view nonce, absl::string_view token) const;

 private:
  explicit CsrfGuard(std::string key) : key_(std::move(key)) {}
  const std::string key_;
};

// The value of cookie `name` in a Cookie header ("a=1; td_csrf=xyz"), or "".
std::string CookieValue(absl::string_view cookie_header,
                        absl::string_view name);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_CSRF_H_

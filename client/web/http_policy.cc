#include "client/web/http_policy.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace token_authority::client::web {

std::vector<std::pair<std::string, std::string>> SecurityHeaders() {
  return {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'self'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "SAMEORIGIN"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
  };
}

absl::Status CheckSameOrigin(const OriginHeaders& headers,
                             absl::string_view scheme) {
  if (headers.origin.empty() && headers.sec_fetch_site.empty()) {
    return absl::PermissionDeniedError(
        "a state-changing call must come from the dialog's page (no Origin "
        "or Sec-Fetch-Site header)");
  }
  if (!headers.sec_fetch_site.empty() &&
      !absl::EqualsIgnoreCase(headers.sec_fetch_site, "same-origin")) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cross-site call refused (Sec-Fetch-Site: ", headers.sec_fetch_site,
        ")"));
  }
  if (!headers.origin.empty()) {
    const std::string expected = absl::StrCat(scheme, "://", headers.host);
    if (headers.host.empty() ||
        !absl::EqualsIgnoreCase(headers.origin, expected)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cross-origin call refused (Origin ", headers.origin, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace token_authority::client::web

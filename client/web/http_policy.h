// The HTTP rules of the dialog gateway that do not depend on the HTTP
// library: the security headers of every response and the same-origin check
// of state-changing calls.
#ifndef CLIENT_WEB_HTTP_POLICY_H_
#define CLIENT_WEB_HTTP_POLICY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace token_authority::client::web {

// Longest request body accepted (a form or a pasted JWT of at most 8 KiB
// fit many times); larger ones get 413.
inline constexpr size_t kMaxBodyBytes = size_t{64} * 1024;

// The headers every response carries: a Content-Security-Policy that allows
// scripts, styles and fetches from the gateway itself only (no inline
// script or style, no plug-ins, frame-ancestors 'self'), nosniff,
// X-Frame-Options SAMEORIGIN, no referrer, no caching.
std::vector<std::pair<std::string, std::string>> SecurityHeaders();

// The request headers the same-origin check reads ("" when absent).
struct OriginHeaders {
  std::string origin;          // Origin
  std::string sec_fetch_site;  // Sec-Fetch-Site
  std::string host;            // Host
};

// Whether a state-changing request comes from the gateway's own pages:
// Sec-Fetch-Site, when present, must be "same-origin"; Origin, when present,
// must be `scheme`://Host; at least one of them must be present (browsers
// send both on a fetch POST). PermissionDenied saying which failed.
absl::Status CheckSameOrigin(const OriginHeaders& headers,
                             absl::string_view scheme);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_HTTP_POLICY_H_

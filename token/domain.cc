#include "token/domain.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "token/public_suffix.h"

namespace token_authority::token {
namespace {

bool IsLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
}

}  // namespace

bool IsValidHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    size_t end = dot == absl::string_view::npos ? host.size() : dot;
    size_t len = end - start;
    if (len == 0 || len > 63) return false;
    if (host[start] == '-' || host[end - 1] == '-') return false;
    for (size_t i = start; i < end; ++i) {
      if (!IsLabelChar(host[i])) return false;
    }
    if (dot == absl::string_view::npos) return true;
    start = dot + 1;
  }
}

absl::Status ValidateDomainPattern(absl::string_view pattern) {
  if (pattern.empty()) {
    return absl::InvalidArgumentError("must not be empty");
  }
  absl::string_view host = pattern;
  if (absl::StartsWith(pattern, "*.")) {
    host = pattern.substr(2);
  } else if (pattern.find('*') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "a wildcard is only allowed as a leading \"*.\" (e.g. "
        "\"*.example.com\")");
  }
  if (!IsValidHostName(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", absl::CEscape(pattern),
        "\" is not a host name or \"*.\" + host name (labels of letters, "
        "digits and '-', separated by dots, no port, no scheme)"));
  }
  if (host.size() != pattern.size() && IsPublicSuffix(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", pattern, "\" would match every site under the public suffix \"",
        host, "\"; name the site's own domain (e.g. \"*.example.", host,
        "\")"));
  }
  return absl::OkStatus();
}

std::string CanonicalDomain(absl::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  return absl::AsciiStrToLower(domain);
}

bool DomainMatches(absl::string_view pattern, absl::string_view viewer_host) {
  const std::string host = CanonicalDomain(viewer_host);
  if (!IsValidHostName(host)) return false;
  if (absl::StartsWith(pattern, "*.")) {
    absl::string_view base = pattern.substr(1);  // ".example.com"
    return host.size() > base.size() && absl::EndsWithIgnoreCase(host, base);
  }
  return absl::EqualsIgnoreCase(pattern, host);
}

}  // namespace token_authority::token

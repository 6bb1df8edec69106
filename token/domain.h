// Host names and domain patterns for the "domain" claim.
//
// A pattern is either a host name ("example.com": matches exactly that host,
// case-insensitively) or "*." followed by a host name ("*.example.com":
// matches every subdomain at any depth, "a.example.com", "a.b.example.com",
// but never "example.com" itself and never "evil-example.com").
#ifndef TOKEN_DOMAIN_H_
#define TOKEN_DOMAIN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace token_authority::token {

// Whether `host` is a DNS host name: 1-253 characters in total, dot-separated
// labels of 1-63 characters each of [A-Za-z0-9-], a label neither starting
// nor ending with '-'. No trailing dot, no underscores, no ports.
bool IsValidHostName(absl::string_view host);

// OK if `pattern` is a host name or "*." + host name whose host name is not
// a public suffix (public_suffix.h: "*.com", "*.co.uk" would match every
// site of a registry); otherwise InvalidArgumentError with a sentence saying
// what is wrong (without a field prefix; callers add one).
absl::Status ValidateDomainPattern(absl::string_view pattern);

// The form a domain (a host name or a pattern) is stored, signed and compared
// in: ASCII letters lowercased and one trailing dot removed ("Example.COM."
// -> "example.com"). Nothing else changes, so an invalid name stays invalid.
// DomainMatches compares the viewer's host in this form. Pure.
std::string CanonicalDomain(absl::string_view domain);

// Whether the viewer's `host` matches the (valid) `pattern`, as described at
// the top. `host` may carry one trailing dot ("example.com."), which is
// ignored; a `host` that is not a valid host name never matches.
bool DomainMatches(absl::string_view pattern, absl::string_view host);

}  // namespace token_authority::token

#endif  // TOKEN_DOMAIN_H_

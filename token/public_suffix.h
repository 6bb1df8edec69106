// The Public Suffix List (publicsuffix.org) as Debian ships it: libpsl with
// the `publicsuffix` package's list (the newer of that file and libpsl's
// built-in copy). Used to refuse domain patterns that would match every site
// under a registry ("*.com", "*.co.uk", "*.github.io").
#ifndef TOKEN_PUBLIC_SUFFIX_H_
#define TOKEN_PUBLIC_SUFFIX_H_

#include "absl/strings/string_view.h"

namespace token_authority::token {

// Whether `domain` (a host name, any case) is a public suffix: an ICANN or
// private registry suffix of the list, or a single label the list does not
// know (its "*" rule: an unknown top-level domain). The list is loaded once,
// on the first call. Thread-safe.
bool IsPublicSuffix(absl::string_view domain);

}  // namespace token_authority::token

#endif  // TOKEN_PUBLIC_SUFFIX_H_

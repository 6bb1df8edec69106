// Opaque page tokens for keyset pagination. A token carries the position
// after the last row of a page and is bound to its query: the kind of list
// and an 8-byte digest of the organisation and filter. It is base64url
// text; it is not secret (it only says where to continue a query that is
// scoped to the caller's organisation anyway).
#ifndef STORAGE_PAGE_TOKEN_H_
#define STORAGE_PAGE_TOKEN_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace token_authority::storage {

enum class PageKind : uint8_t {
  kTokens = 1,
  kAuditEvents = 2,
  kOrganizations = 3,
};

// An 8-byte digest (SHA-256 prefix) of `parts`, each length-prefixed so that
// ("ab","c") and ("a","bc") differ.
std::string PageBinding(std::initializer_list<absl::string_view> parts);

// base64url(version 1 | kind | binding (8 bytes) | payload | check (4)).
std::string EncodePageToken(PageKind kind, absl::string_view binding,
                            absl::string_view payload);

// The payload of `token`. InvalidArgument "page_token: ..." if it is not a
// token this code wrote, is of another kind, or is bound to another
// organisation or filter.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            PageKind kind,
                                            absl::string_view binding);

// Fixed-width big-endian encoding of a pair of int64 (16 bytes).
std::string EncodeInt64Pair(int64_t a, int64_t b);
// InvalidArgument "page_token: ..." unless exactly 16 bytes.
absl::StatusOr<std::pair<int64_t, int64_t>> DecodeInt64Pair(
    absl::string_view payload);

}  // namespace token_authority::storage

#endif  // STORAGE_PAGE_TOKEN_H_

// base64url (RFC 4648 section 5) without padding, as JWS compact serialization
// uses it (RFC 7515 section 2). Decoding is strict: it refuses padding ('='),
// characters outside the URL-safe alphabet, impossible lengths and
// non-canonical trailing bits, so each byte string has exactly one accepted
// encoding.
#ifndef TOKEN_BASE64URL_H_
#define TOKEN_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace token_authority::token {

// Encodes `data` as unpadded base64url. Never fails. Thread-safe.
std::string Base64UrlEncode(absl::string_view data);

// Appends the unpadded base64url encoding of `data` to `*out`.
void Base64UrlEncodeAppend(absl::string_view data, std::string* out);

// The number of bytes `Base64UrlDecode` produces for an input of `n` valid
// characters (n % 4 != 1).
constexpr size_t Base64UrlDecodedSize(size_t n) {
  return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

// Decodes strict unpadded base64url. InvalidArgumentError naming the problem
// (padding, a character outside the alphabet and its position, a length of
// 4k+1, or trailing bits that are not zero). The empty string decodes to "".
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view encoded);

// Like Base64UrlDecode but replaces `*out` and only says whether it succeeded
// (no allocation for the error path); for hot paths.
bool Base64UrlDecodeTo(absl::string_view encoded, std::string* out);

}  // namespace token_authority::token

#endif  // TOKEN_BASE64URL_H_

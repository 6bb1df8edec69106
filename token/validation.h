// Shared validation rules and the violation type used to report every bad
// field at once (IssueToken's INVALID_ARGUMENT, the client's issue dialog).
#ifndef TOKEN_VALIDATION_H_
#define TOKEN_VALIDATION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace token_authority::token {

// Limits shared by the spec validation, the claims builder and the storage.
inline constexpr size_t kMaxStreamNames = 100;
inline constexpr size_t kMaxStreamNameLength = 128;
inline constexpr size_t kMaxStreamGroupIdLength = 128;
inline constexpr size_t kMaxTextLength = 128;  // user id, tag (characters)
inline constexpr size_t kMaxIssuerLength = 256;
inline constexpr size_t kMaxOrganizationIdLength = 128;

// One problem with one field. `field` is the TokenSpec field name
// ("target", "stream_names", "lifetime", "expires_at", "not_before",
// "client_ip", "domain", "user_id", "tag"); `description` is a sentence
// fragment a person can read, e.g. "at most 128 characters (got 130)".
struct FieldViolation {
  std::string field;
  std::string description;

  friend bool operator==(const FieldViolation& a, const FieldViolation& b) {
    return a.field == b.field && a.description == b.description;
  }
};

// "field: description" for one violation.
std::string FormatViolation(const FieldViolation& v);

// OK if `violations` is empty; otherwise one InvalidArgumentError whose
// message lists every violation as "field: description", joined by "; ".
absl::Status ViolationsToStatus(const std::vector<FieldViolation>& violations);

// A stream name: 1-128 characters of [A-Za-z0-9._-]. InvalidArgumentError
// with a description (no field prefix) otherwise.
absl::Status ValidateStreamName(absl::string_view name);

// A stream group id: 1-128 printable ASCII characters without spaces.
absl::Status ValidateStreamGroupId(absl::string_view id);

// An organisation id: 1-128 printable ASCII characters without spaces.
absl::Status ValidateOrganizationId(absl::string_view id);

// Free text (user id, tag, issuer): valid UTF-8 of at most `max_chars`
// characters (code points), none of them a control character (C0, DEL, C1).
// The empty string is valid.
absl::Status ValidatePrintableText(absl::string_view text, size_t max_chars);

// Attacker-controlled text for a sentence (a detail, an error message):
// quoted, C-escaped, cut to 64 characters ("..." after a cut).
std::string QuoteUntrusted(absl::string_view text);

}  // namespace token_authority::token

#endif  // TOKEN_VALIDATION_H_

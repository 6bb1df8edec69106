#include "token/validation.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "token/json.h"

namespace token_authority::token {
namespace {

absl::Status ValidateIdLike(absl::string_view id, size_t max,
                            absl::string_view what) {
  if (id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " must not be empty"));
  }
  if (id.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", max, " characters (got ", id.size(), ")"));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "character ", i + 1,
          " is not allowed (printable ASCII without spaces only)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatViolation(const FieldViolation& v) {
  return absl::StrCat(v.field, ": ", v.description);
}

absl::Status ViolationsToStatus(const std::vector<FieldViolation>& violations) {
  if (violations.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(
      violations, "; ", [](std::string* out, const FieldViolation& v) {
        absl::StrAppend(out, FormatViolation(v));
      }));
}

absl::Status ValidateStreamName(absl::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("a stream name must not be empty");
  }
  if (name.size() > kMaxStreamNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a stream name has at most ", kMaxStreamNameLength,
                     " characters (got ", name.size(), ")"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "character ", i + 1,
          " is not allowed (stream names use only A-Z, a-z, 0-9, '.', '_' "
          "and '-')"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateStreamGroupId(absl::string_view id) {
  return ValidateIdLike(id, kMaxStreamGroupIdLength, "stream group id");
}

absl::Status ValidateOrganizationId(absl::string_view id) {
  return ValidateIdLike(id, kMaxOrganizationIdLength, "organisation id");
}

absl::Status ValidatePrintableText(absl::string_view text, size_t max_chars) {
  if (!json::IsValidUtf8(text)) {
    return absl::InvalidArgumentError("must be valid UTF-8");
  }
  size_t chars = 0;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* end = p + text.size();
  while (p != end) {
    uint32_t cp;
    size_t n;
    if (*p < 0x80) {
      cp = *p;
      n = 1;
    } else if (*p < 0xE0) {
      cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
      n = 2;
    } else if (*p < 0xF0) {
      cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
      n = 3;
    } else {
      cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) |
           ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
      n = 4;
    }
    ++chars;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return absl::InvalidArgumentError(
          absl::StrCat("character ", chars,
                       " is a control character (only printable "
                       "characters are allowed)"));
    }
    p += n;
  }
  if (chars > max_chars) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", max_chars, " characters (got ", chars, ")"));
  }
  return absl::OkStatus();
}

std::string QuoteUntrusted(absl::string_view text) {
  constexpr size_t kMax = 64;
  std::string out =
      absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMax)), "\"");
  if (text.size() > kMax) out.append("...");
  return out;
}

}  // namespace token_authority::token

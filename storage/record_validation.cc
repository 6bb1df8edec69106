#include "storage/record_validation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace token_authority::storage {
namespace {

constexpr char kBase64Url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool IsIdentifierChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status CheckBytes(absl::string_view value, absl::string_view field,
                        size_t exact) {
  if (value.size() != exact) {
    return Invalid(field, absl::StrCat("must be exactly ", exact,
                                       " bytes, got ", value.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DecodeTokenId(absl::string_view id,
                                          absl::string_view field) {
  if (id.size() != kTokenIdLength) {
    return Invalid(field, absl::StrCat("must be ", kTokenIdLength,
                                       " base64url characters"));
  }
  std::string out;
  out.reserve(16);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : id) {
    const int v = Base64UrlValue(c);
    if (v < 0) {
      return Invalid(field, absl::StrCat("must be ", kTokenIdLength,
                                         " base64url characters"));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // 22 * 6 = 132 bits: 128 data bits and 4 that must be zero.
  if ((acc & ((1u << bits) - 1)) != 0) {
    return Invalid(field, "is not canonical base64url");
  }
  return out;
}

std::string EncodeTokenId(absl::string_view bytes) {
  std::string out;
  out.reserve(kTokenIdLength);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

absl::Status CheckIdentifier(absl::string_view value, absl::string_view field,
                             size_t max_length) {
  if (value.empty()) return Invalid(field, "required");
  if (value.size() > max_length) {
    return Invalid(field, absl::StrCat("at most ", max_length, " characters"));
  }
  for (char c : value) {
    if (!IsIdentifierChar(c)) {
      return Invalid(field, "only letters, digits, '.', '_' and '-' allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckText(absl::string_view value, absl::string_view field,
                       size_t max_chars, bool required) {
  if (value.empty()) {
    return required ? Invalid(field, "required") : absl::OkStatus();
  }
  size_t chars = 0;
  size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      len = 3;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return Invalid(field, "not valid UTF-8");
    }
    if (i + len > value.size()) return Invalid(field, "not valid UTF-8");
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(value[i + k]);
      if ((cc & 0xc0) != 0x80) return Invalid(field, "not valid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values above U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return Invalid(field, "not valid UTF-8");
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      return Invalid(field, "control characters are not allowed");
    }
    ++chars;
    i += len;
  }
  if (chars > max_chars) {
    return Invalid(field, absl::StrCat("at most ", max_chars, " characters"));
  }
  return absl::OkStatus();
}

absl::Status CheckToken68(absl::string_view value, absl::string_view field,
                          size_t max_length) {
  if (value.empty()) return Invalid(field, "required");
  if (value.size() > max_length) {
    return Invalid(field, absl::StrCat("at most ", max_length, " characters"));
  }
  for (char c : value) {
    if (c < 0x21 || c > 0x7e) {
      return Invalid(field, "only printable ASCII without spaces allowed");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> WholeSeconds(absl::Time t, absl::string_view field) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return Invalid(field, "must be a finite time");
  }
  const int64_t s = absl::ToUnixSeconds(t);
  if (absl::FromUnixSeconds(s) != t) {
    return Invalid(field, "must be a whole number of seconds");
  }
  return s;
}

absl::StatusOr<int64_t> Micros(absl::Time t, absl::string_view field) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return Invalid(field, "must be a finite time");
  }
  return absl::ToUnixMicros(t);
}

absl::Status CheckOrganizationId(absl::string_view organization_id) {
  return CheckIdentifier(organization_id, "organization_id", kMaxIdLength);
}

absl::Status CheckOptionalOrganizationId(absl::string_view organization_id) {
  if (organization_id.empty()) return absl::OkStatus();
  return CheckOrganizationId(organization_id);
}

absl::Status CheckOrganization(const Organization& org) {
  TA_RETURN_IF_ERROR(CheckIdentifier(org.id, "id", kMaxIdLength));
  return CheckText(org.name, "name", kMaxNameLength, /*required=*/true);
}

absl::Status CheckOrganizationUpdate(const OrganizationUpdate& update) {
  if (!update.name.has_value() && !update.secure_enabled.has_value()) {
    return Invalid("update", "nothing to change");
  }
  if (update.name.has_value()) {
    TA_RETURN_IF_ERROR(
        CheckText(*update.name, "name", kMaxNameLength, /*required=*/true));
  }
  return absl::OkStatus();
}

absl::Status CheckApiKey(const ApiKey& key) {
  TA_RETURN_IF_ERROR(CheckIdentifier(key.id, "id", kMaxIdLength));
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(key.organization_id));
  switch (key.role) {
    case ApiKeyRole::kAdmin:
    case ApiKeyRole::kIssuer:
    case ApiKeyRole::kVerifier:
    case ApiKeyRole::kAuditor:
      break;
    default:
      return Invalid("role", "unknown value");
  }
  TA_RETURN_IF_ERROR(CheckText(key.name, "name", kMaxNameLength));
  return CheckBytes(key.secret_hash, "secret_hash", kSha256Length);
}

namespace {

absl::Status CheckStreamName(absl::string_view name, absl::string_view field) {
  return CheckIdentifier(name, field, kMaxTextLength);
}

// One of the token core's algorithms.
absl::Status CheckAlgorithm(token::Algorithm alg) {
  switch (alg) {
    case token::Algorithm::kEs256:
    case token::Algorithm::kRs256:
    case token::Algorithm::kEdDsa:
    case token::Algorithm::kHs256:
      return absl::OkStatus();
  }
  return Invalid("algorithm", "unknown value");
}

}  // namespace

absl::Status CheckToken(const Token& token) {
  TA_RETURN_IF_ERROR(DecodeTokenId(token.id, "id").status());
  TA_RETURN_IF_ERROR(CheckOrganizationId(token.organization_id));
  switch (token.target_kind) {
    case token::Target::Kind::kStreamGroup:
      TA_RETURN_IF_ERROR(
          CheckStreamName(token.stream_group_id, "stream_group_id"));
      if (!token.streams.empty()) {
        return Invalid("streams", "must be empty for a stream_group target");
      }
      break;
    case token::Target::Kind::kStreams: {
      if (!token.stream_group_id.empty()) {
        return Invalid("stream_group_id", "must be empty for a streams target");
      }
      if (token.streams.empty() || token.streams.size() > kMaxStreams) {
        return Invalid("streams",
                       absl::StrCat("between 1 and ", kMaxStreams, " names"));
      }
      std::set<absl::string_view> seen;
      for (const std::string& s : token.streams) {
        TA_RETURN_IF_ERROR(CheckStreamName(s, "streams"));
        if (!seen.insert(s).second) {
          return Invalid("streams", absl::StrCat("duplicate name \"", s, "\""));
        }
      }
      break;
    }
    case token::Target::Kind::kOrganization:
      if (!token.stream_group_id.empty() || !token.streams.empty()) {
        return Invalid("target",
                       "an organization target names no group or streams");
      }
      break;
    default:
      return Invalid("target", "unknown kind");
  }
  TA_RETURN_IF_ERROR(WholeSeconds(token.issued_at, "issued_at").status());
  TA_ASSIGN_OR_RETURN(int64_t nbf,
                      WholeSeconds(token.not_before, "not_before"));
  TA_ASSIGN_OR_RETURN(int64_t exp,
                      WholeSeconds(token.expires_at, "expires_at"));
  if (exp <= nbf) return Invalid("expires_at", "must be after not_before");
  TA_RETURN_IF_ERROR(
      CheckText(token.client_ip, "client_ip", kMaxClientIpLength));
  TA_RETURN_IF_ERROR(CheckText(token.domain, "domain", kMaxDomainLength));
  TA_RETURN_IF_ERROR(CheckText(token.user_id, "user_id", kMaxTextLength));
  TA_RETURN_IF_ERROR(CheckText(token.tag, "tag", kMaxTextLength));
  TA_RETURN_IF_ERROR(CheckToken68(token.key_id, "key_id", kMaxKidLength));
  TA_RETURN_IF_ERROR(CheckAlgorithm(token.algorithm));
  TA_RETURN_IF_ERROR(CheckBytes(token.jwt_sha256, "jwt_sha256", kSha256Length));
  if (!token.issued_by.empty()) {
    TA_RETURN_IF_ERROR(
        CheckIdentifier(token.issued_by, "issued_by", kMaxIdLength));
  }
  TA_RETURN_IF_ERROR(CheckText(token.request_id, "request_id", kMaxTextLength));
  if (token.spec_fingerprint.size() > kMaxFingerprintLength) {
    return Invalid("spec_fingerprint",
                   absl::StrCat("at most ", kMaxFingerprintLength, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckSigningKey(const SigningKey& key) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(key.organization_id));
  TA_RETURN_IF_ERROR(CheckToken68(key.kid, "kid", kMaxKidLength));
  TA_RETURN_IF_ERROR(CheckAlgorithm(key.algorithm));
  switch (key.state) {
    case token::KeyState::kPrimary:
    case token::KeyState::kActive:
    case token::KeyState::kRetired:
      break;
    default:
      return Invalid("state", "unknown value");
  }
  if (key.private_key.empty()) return Invalid("private_key", "required");
  if (key.private_key.size() > size_t{16} * 1024) {
    return Invalid("private_key", "at most 16384 bytes");
  }
  return absl::OkStatus();
}

absl::Status CheckAuditContext(const AuditContext& audit) {
  if (!audit.actor.empty()) {
    TA_RETURN_IF_ERROR(CheckIdentifier(audit.actor, "actor", kMaxIdLength));
  }
  TA_RETURN_IF_ERROR(CheckText(audit.request_id, "request_id", kMaxTextLength));
  if (audit.detail.size() > kMaxDetailLength) {
    return Invalid("detail",
                   absl::StrCat("at most ", kMaxDetailLength, " bytes"));
  }
  return CheckText(audit.detail, "detail", kMaxDetailLength);
}

absl::Status CheckTokenFilter(const TokenFilter& filter) {
  TA_RETURN_IF_ERROR(CheckText(filter.tag, "tag", kMaxTextLength));
  TA_RETURN_IF_ERROR(CheckText(filter.user_id, "user_id", kMaxTextLength));
  if (!filter.stream_name.empty()) {
    TA_RETURN_IF_ERROR(CheckStreamName(filter.stream_name, "stream_name"));
  }
  if (!filter.stream_group_id.empty()) {
    TA_RETURN_IF_ERROR(
        CheckStreamName(filter.stream_group_id, "stream_group_id"));
  }
  if (filter.state.has_value()) {
    switch (*filter.state) {
      case TokenState::kActive:
      case TokenState::kNotYetValid:
      case TokenState::kExpired:
      case TokenState::kRevoked:
        break;
      default:
        return Invalid("state", "unknown value");
    }
  }
  if (filter.issued_after.has_value()) {
    TA_RETURN_IF_ERROR(Micros(*filter.issued_after, "issued_after").status());
  }
  if (filter.issued_before.has_value()) {
    TA_RETURN_IF_ERROR(Micros(*filter.issued_before, "issued_before").status());
  }
  if (filter.now.has_value()) {
    TA_RETURN_IF_ERROR(Micros(*filter.now, "now").status());
  }
  return absl::OkStatus();
}

absl::Status CheckRevokeFilter(const RevokeFilter& filter) {
  if (filter.tag.empty() && filter.user_id.empty() &&
      filter.stream_name.empty() && filter.stream_group_id.empty()) {
    return Invalid("filter",
                   "at least one of tag, user_id, stream_name or "
                   "stream_group_id is required");
  }
  if (filter.state.has_value()) {
    switch (*filter.state) {
      case TokenState::kActive:
      case TokenState::kNotYetValid:
        break;
      case TokenState::kExpired:
      case TokenState::kRevoked:
        return Invalid("state",
                       "only active or not yet valid tokens can be revoked");
      default:
        return Invalid("state", "unknown value");
    }
  }
  TokenFilter f;
  f.tag = filter.tag;
  f.user_id = filter.user_id;
  f.stream_name = filter.stream_name;
  f.stream_group_id = filter.stream_group_id;
  return CheckTokenFilter(f);
}

absl::Status CheckAuditFilter(const AuditFilter& filter) {
  TA_RETURN_IF_ERROR(CheckText(filter.tag, "tag", kMaxTextLength));
  TA_RETURN_IF_ERROR(CheckText(filter.user_id, "user_id", kMaxTextLength));
  if (!filter.token_id.empty()) {
    TA_RETURN_IF_ERROR(DecodeTokenId(filter.token_id, "token_id").status());
  }
  if (filter.action.has_value()) {
    if (AuditActionName(*filter.action) == "unknown") {
      return Invalid("action", "unknown value");
    }
  }
  if (filter.since.has_value()) {
    TA_RETURN_IF_ERROR(Micros(*filter.since, "since").status());
  }
  if (filter.until.has_value()) {
    TA_RETURN_IF_ERROR(Micros(*filter.until, "until").status());
  }
  return absl::OkStatus();
}

absl::Status CheckReason(absl::string_view reason) {
  return CheckText(reason, "reason", kMaxReasonLength);
}

absl::StatusOr<int> EffectivePageSize(int page_size) {
  if (page_size == 0) return kDefaultPageSize;
  if (page_size < 0 || page_size > kMaxPageSize) {
    return Invalid("page_size",
                   absl::StrCat("must be between 1 and ", kMaxPageSize));
  }
  return page_size;
}

}  // namespace token_authority::storage

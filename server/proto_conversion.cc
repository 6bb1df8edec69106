#include "server/proto_conversion.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "convert/proto_convert.h"
#include "token/target.h"

namespace token_authority::server {
namespace {

// A JOSE "alg" name as a decoded header carries it; unknown names are
// ALGORITHM_UNSPECIFIED.
v1::Algorithm AlgorithmNameToProto(absl::string_view jose_name) {
  const std::optional<token::Algorithm> alg =
      token::AlgorithmFromName(jose_name);
  return alg.has_value() ? convert::ToProtoAlgorithm(*alg)
                         : v1::ALGORITHM_UNSPECIFIED;
}

void RowTargetToProto(const storage::Token& t, v1::Target* out) {
  switch (t.target_kind) {
    case token::Target::Kind::kStreamGroup:
      out->set_stream_group_id(t.stream_group_id);
      break;
    case token::Target::Kind::kStreams:
      out->mutable_stream_names();  // set the oneof even when empty
      for (const std::string& n : t.streams) {
        out->mutable_stream_names()->add_names(n);
      }
      break;
    case token::Target::Kind::kOrganization:
      out->set_organization(true);
      break;
  }
}

}  // namespace

// --- Enumerations ------------------------------------------------------

v1::ApiKeyRole ToProto(storage::ApiKeyRole role) {
  switch (role) {
    case storage::ApiKeyRole::kAdmin:
      return v1::API_KEY_ROLE_ADMIN;
    case storage::ApiKeyRole::kIssuer:
      return v1::API_KEY_ROLE_ISSUER;
    case storage::ApiKeyRole::kVerifier:
      return v1::API_KEY_ROLE_VERIFIER;
    case storage::ApiKeyRole::kAuditor:
      return v1::API_KEY_ROLE_AUDITOR;
  }
  return v1::API_KEY_ROLE_UNSPECIFIED;
}

absl::StatusOr<storage::ApiKeyRole> FromProto(v1::ApiKeyRole role) {
  switch (role) {
    case v1::API_KEY_ROLE_ADMIN:
      return storage::ApiKeyRole::kAdmin;
    case v1::API_KEY_ROLE_ISSUER:
      return storage::ApiKeyRole::kIssuer;
    case v1::API_KEY_ROLE_VERIFIER:
      return storage::ApiKeyRole::kVerifier;
    case v1::API_KEY_ROLE_AUDITOR:
      return storage::ApiKeyRole::kAuditor;
    case v1::API_KEY_ROLE_UNSPECIFIED:
      return absl::InvalidArgumentError(
          "role: required (admin, issuer, verifier or auditor)");
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("role: unknown value ", static_cast<int>(role)));
}

v1::TokenState ToProto(storage::TokenState state) {
  switch (state) {
    case storage::TokenState::kActive:
      return v1::TOKEN_STATE_ACTIVE;
    case storage::TokenState::kNotYetValid:
      return v1::TOKEN_STATE_NOT_YET_VALID;
    case storage::TokenState::kExpired:
      return v1::TOKEN_STATE_EXPIRED;
    case storage::TokenState::kRevoked:
      return v1::TOKEN_STATE_REVOKED;
  }
  return v1::TOKEN_STATE_UNSPECIFIED;
}

absl::StatusOr<std::optional<storage::TokenState>> FromProto(
    v1::TokenState state) {
  switch (state) {
    case v1::TOKEN_STATE_UNSPECIFIED:
      return std::optional<storage::TokenState>();
    case v1::TOKEN_STATE_ACTIVE:
      return std::optional<storage::TokenState>(storage::TokenState::kActive);
    case v1::TOKEN_STATE_NOT_YET_VALID:
      return std::optional<storage::TokenState>(
          storage::TokenState::kNotYetValid);
    case v1::TOKEN_STATE_EXPIRED:
      return std::optional<storage::TokenState>(storage::TokenState::kExpired);
    case v1::TOKEN_STATE_REVOKED:
      return std::optional<storage::TokenState>(storage::TokenState::kRevoked);
    case v1::TOKEN_STATE_INVALID:
      return absl::InvalidArgumentError(
          "state: TOKEN_STATE_INVALID is a DecodeToken answer; stored tokens "
          "are never invalid");
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("state: unknown value ", static_cast<int>(state)));
}

// --- Requests ----------------------------------------------------------

absl::StatusOr<storage::TokenFilter> FromProto(
    const v1::ListTokensRequest& request) {
  storage::TokenFilter filter;
  filter.tag = request.tag();
  filter.user_id = request.user_id();
  filter.stream_name = request.stream_name();
  filter.stream_group_id = request.stream_group_id();
  TA_ASSIGN_OR_RETURN(filter.state, FromProto(request.state()));
  if (request.has_issued_after()) {
    TA_ASSIGN_OR_RETURN(
        filter.issued_after,
        convert::FromProtoTimestamp(request.issued_after(), "issued_after"));
  }
  if (request.has_issued_before()) {
    TA_ASSIGN_OR_RETURN(
        filter.issued_before,
        convert::FromProtoTimestamp(request.issued_before(), "issued_before"));
  }
  return filter;
}

storage::PageRequest PageFromProto(int32_t page_size,
                                   const std::string& page_token) {
  storage::PageRequest page;
  page.page_size = page_size;
  page.page_token = page_token;
  return page;
}

absl::StatusOr<storage::RevokeFilter> FromProto(
    const v1::RevokeTokensRequest& request) {
  storage::RevokeFilter filter;
  filter.tag = request.tag();
  filter.user_id = request.user_id();
  filter.stream_name = request.stream_name();
  filter.stream_group_id = request.stream_group_id();
  TA_ASSIGN_OR_RETURN(filter.state, FromProto(request.state()));
  return filter;
}

absl::StatusOr<storage::AuditFilter> FromProto(
    const v1::ListAuditEventsRequest& request) {
  storage::AuditFilter filter;
  filter.tag = request.tag();
  filter.user_id = request.user_id();
  filter.token_id = request.token_id();
  if (!request.action().empty()) {
    TA_ASSIGN_OR_RETURN(filter.action,
                        storage::ParseAuditAction(request.action(), "action"));
  }
  if (request.has_since()) {
    TA_ASSIGN_OR_RETURN(filter.since,
                        convert::FromProtoTimestamp(request.since(), "since"));
  }
  if (request.has_until()) {
    TA_ASSIGN_OR_RETURN(filter.until,
                        convert::FromProtoTimestamp(request.until(), "until"));
  }
  return filter;
}

VerifyRequest FromProto(const v1::VerifyTokenRequest& request) {
  VerifyRequest out;
  out.jwt = request.jwt();
  out.playback.organization_id = request.organization_id();
  out.playback.stream_group_id = request.stream_group_id();
  out.playback.stream_name = request.stream_name();
  out.playback.client_ip = request.client_ip();
  out.playback.domain = request.domain();
  return out;
}

// --- Answers -----------------------------------------------------------

std::string ValidUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
    }
    if (ok) {
      // Overlong 3/4-byte forms, surrogates, beyond U+10FFFF.
      if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
          (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
        ok = false;
      }
    }
    if (ok) {
      out.append(text.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    }
  }
  return out;
}

void ToProto(const TokenRecord& record, v1::Token* out) {
  const storage::Token& t = record.token;
  out->set_id(t.id);
  out->set_organization_id(t.organization_id);
  RowTargetToProto(t, out->mutable_target());
  *out->mutable_issued_at() = convert::ToProtoTimestamp(t.issued_at);
  *out->mutable_not_before() = convert::ToProtoTimestamp(t.not_before);
  *out->mutable_expires_at() = convert::ToProtoTimestamp(t.expires_at);
  out->set_client_ip(t.client_ip);
  out->set_domain(t.domain);
  out->set_user_id(t.user_id);
  out->set_tag(t.tag);
  out->set_key_id(t.key_id);
  out->set_algorithm(convert::ToProtoAlgorithm(t.algorithm));
  out->set_state(ToProto(record.state));
  if (t.revoked_at.has_value())
    *out->mutable_revoked_at() = convert::ToProtoTimestamp(*t.revoked_at);
  out->set_revocation_reason(t.revocation_reason);
  out->set_issued_by(t.issued_by);
  out->set_request_id(t.request_id);
}

void ToProto(const IssuedToken& issued, v1::IssueTokenResponse* out) {
  ToProto(issued.record, out->mutable_token());
  out->set_jwt(issued.jwt);
  out->set_security_config(issued.security_config);
  out->set_entry_security_config(issued.entry_security_config);
}

void ToProto(const DecodeResult& result, v1::DecodeTokenResponse* out) {
  const token::DecodedToken& d = result.decoded;
  const token::PartialClaims& c = d.partial_claims;
  v1::Token* t = out->mutable_token();
  if (c.token_id.has_value()) t->set_id(ValidUtf8(*c.token_id));
  if (c.organization_id.has_value()) {
    t->set_organization_id(ValidUtf8(*c.organization_id));
  }
  if (c.target.has_value()) {
    *t->mutable_target() = convert::ToProtoTarget(*c.target);
    v1::Target* target = t->mutable_target();
    if (target->has_stream_group_id()) {
      target->set_stream_group_id(ValidUtf8(target->stream_group_id()));
    }
    if (target->has_stream_names()) {
      for (std::string& name :
           *target->mutable_stream_names()->mutable_names()) {
        name = ValidUtf8(name);
      }
    }
  }
  if (c.issued_at.has_value()) {
    *t->mutable_issued_at() =
        convert::ToProtoTimestamp(absl::FromUnixSeconds(*c.issued_at));
  }
  if (c.not_before.has_value()) {
    *t->mutable_not_before() =
        convert::ToProtoTimestamp(absl::FromUnixSeconds(*c.not_before));
  }
  if (c.expires_at.has_value()) {
    *t->mutable_expires_at() =
        convert::ToProtoTimestamp(absl::FromUnixSeconds(*c.expires_at));
  }
  if (c.client_ip.has_value()) t->set_client_ip(ValidUtf8(*c.client_ip));
  if (c.domain.has_value()) t->set_domain(ValidUtf8(*c.domain));
  if (c.user_id.has_value()) t->set_user_id(ValidUtf8(*c.user_id));
  if (c.tag.has_value()) t->set_tag(ValidUtf8(*c.tag));
  if (d.header.has_value()) {
    t->set_key_id(ValidUtf8(d.header->kid));
    t->set_algorithm(AlgorithmNameToProto(d.header->alg));
  }
  if (result.record.has_value()) {
    const storage::Token& r = *result.record;
    if (r.revoked_at.has_value()) {
      *t->mutable_revoked_at() = convert::ToProtoTimestamp(*r.revoked_at);
    }
    t->set_revocation_reason(r.revocation_reason);
    t->set_issued_by(r.issued_by);
    t->set_request_id(r.request_id);
  }
  const v1::TokenState state = result.invalid ? v1::TOKEN_STATE_INVALID
                               : result.state.has_value()
                                   ? ToProto(*result.state)
                                   : v1::TOKEN_STATE_UNSPECIFIED;
  t->set_state(state);
  out->set_state(state);
  out->set_header_json(ValidUtf8(d.header_json));
  out->set_payload_json(ValidUtf8(d.payload_json));
  out->set_signature_valid(d.signature_valid);
  for (const std::string& p : result.problems) out->add_problems(ValidUtf8(p));
}

void ToProto(const token::VerifyResult& result, v1::VerifyTokenResponse* out) {
  out->set_allowed(result.allowed);
  out->set_reason(result.allowed ? v1::DENY_REASON_UNSPECIFIED
                                 : convert::ToProtoDenyReason(result.reason));
  out->set_detail(ValidUtf8(result.detail));
  out->set_token_id(ValidUtf8(result.token_id));
}

void ToProto(const storage::RevocationEvent& event, v1::RevocationEvent* out) {
  out->set_sequence(event.sequence);
  out->set_token_id(event.token_id);
  out->set_organization_id(event.organization_id);
  *out->mutable_revoked_at() = convert::ToProtoTimestamp(event.revoked_at);
  *out->mutable_expires_at() = convert::ToProtoTimestamp(event.expires_at);
}

void ToProto(const OrganizationState& state, v1::OrganizationStateEvent* out) {
  out->set_organization_id(state.organization_id);
  out->set_secure_enabled(state.secure_enabled);
  out->set_jwks_sha256(state.jwks_sha256);
  *out->mutable_changed_at() = convert::ToProtoTimestamp(state.changed_at);
}

void ToProto(const storage::SigningKey& key, v1::SigningKey* out) {
  out->set_key_id(key.kid);
  out->set_organization_id(key.organization_id);
  out->set_algorithm(convert::ToProtoAlgorithm(key.algorithm));
  // The numeric values are equal by design (token/signing_key.h).
  out->set_state(static_cast<v1::SigningKeyState>(static_cast<int>(key.state)));
  *out->mutable_created_at() = convert::ToProtoTimestamp(key.created_at);
  if (key.retired_at.has_value()) {
    *out->mutable_retired_at() = convert::ToProtoTimestamp(*key.retired_at);
  }
}

void ToProto(const storage::AuditEvent& event, v1::AuditEvent* out) {
  out->set_id(event.id);
  *out->mutable_time() = convert::ToProtoTimestamp(event.time);
  out->set_action(std::string(storage::AuditActionName(event.action)));
  out->set_actor(event.actor);
  out->set_organization_id(event.organization_id);
  out->set_token_id(event.token_id);
  out->set_tag(event.tag);
  out->set_user_id(event.user_id);
  out->set_request_id(event.request_id);
  out->set_detail(event.detail);
}

void ToProto(const storage::Organization& org, v1::Organization* out) {
  out->set_id(org.id);
  out->set_name(org.name);
  out->set_secure_enabled(org.secure_enabled);
  *out->mutable_created_at() = convert::ToProtoTimestamp(org.created_at);
  *out->mutable_updated_at() = convert::ToProtoTimestamp(org.updated_at);
}

void ToProto(const storage::ApiKey& key, v1::ApiKey* out) {
  out->set_id(key.id);
  out->set_organization_id(key.organization_id);
  out->set_role(ToProto(key.role));
  *out->mutable_created_at() = convert::ToProtoTimestamp(key.created_at);
  if (key.revoked_at.has_value()) {
    *out->mutable_revoked_at() = convert::ToProtoTimestamp(*key.revoked_at);
  }
  if (key.last_used_at.has_value()) {
    *out->mutable_last_used_at() = convert::ToProtoTimestamp(*key.last_used_at);
  }
}

}  // namespace token_authority::server

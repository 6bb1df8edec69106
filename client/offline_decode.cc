#include "client/offline_decode.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "convert/proto_convert.h"
#include "token/algorithm.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/decoder.h"
#include "token/key_set.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

namespace {

// The state of a decoded token as DecodeToken answers it: INVALID when keys
// were given and the signature does not verify with them (whatever the
// times say), else from the validity window (UNSPECIFIED when unreadable).
v1::TokenState StateOf(const token::DecodedToken& decoded, bool keys_given) {
  if (keys_given && !(decoded.signature_checked && decoded.signature_valid)) {
    return v1::TOKEN_STATE_INVALID;
  }
  if (!decoded.time_validity.has_value()) return v1::TOKEN_STATE_UNSPECIFIED;
  switch (*decoded.time_validity) {
    case token::TimeValidity::kValid:
      return v1::TOKEN_STATE_ACTIVE;
    case token::TimeValidity::kNotYetValid:
      return v1::TOKEN_STATE_NOT_YET_VALID;
    case token::TimeValidity::kExpired:
      return v1::TOKEN_STATE_EXPIRED;
  }
  return v1::TOKEN_STATE_UNSPECIFIED;
}

}  // namespace

std::string PeekOrganization(absl::string_view jwt) {
  const size_t first = jwt.find('.');
  if (first == absl::string_view::npos) return "";
  const size_t second = jwt.find('.', first + 1);
  if (second == absl::string_view::npos) return "";
  std::string payload;
  if (!token::Base64UrlDecodeTo(jwt.substr(first + 1, second - first - 1),
                                &payload)) {
    return "";
  }
  token::PartialClaims claims = token::ParseClaimsLenient(payload);
  return claims.organization_id.value_or("");
}

absl::StatusOr<v1::DecodeTokenResponse> DecodeTokenOffline(
    absl::string_view jwt, absl::string_view jwks_json,
    absl::string_view organization_id, absl::Time now, absl::Duration leeway) {
  std::optional<token::KeySet> keys;
  if (!jwks_json.empty()) {
    std::string org(organization_id);
    if (org.empty()) org = PeekOrganization(jwt);
    if (org.empty() || !token::ValidateOrganizationId(org).ok()) {
      org = "unknown";  // the org check below then reports the mismatch
    }
    absl::StatusOr<token::KeySet> set =
        token::KeySet::FromJwks(org, jwks_json, now);
    if (!set.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("jwks: not a usable JWK Set: ", set.status().message()));
    }
    keys = *std::move(set);
  }
  const token::DecodedToken decoded =
      token::DecodeToken(jwt, keys.has_value() ? &*keys : nullptr, now, leeway);

  v1::DecodeTokenResponse out;
  out.set_header_json(decoded.header_json);
  out.set_payload_json(decoded.payload_json);
  out.set_signature_valid(decoded.signature_checked && decoded.signature_valid);
  v1::Token* token = out.mutable_token();
  if (decoded.claims.has_value()) {
    *token = convert::TokenFromClaims(*decoded.claims);
  } else {
    const token::PartialClaims& pc = decoded.partial_claims;
    token->set_id(pc.token_id.value_or(""));
    token->set_organization_id(pc.organization_id.value_or(""));
    if (pc.target.has_value())
      *token->mutable_target() = convert::ToProtoTarget(*pc.target);
    if (pc.issued_at.has_value()) {
      *token->mutable_issued_at() =
          convert::ToProtoTimestamp(absl::FromUnixSeconds(*pc.issued_at));
    }
    if (pc.not_before.has_value()) {
      *token->mutable_not_before() =
          convert::ToProtoTimestamp(absl::FromUnixSeconds(*pc.not_before));
    }
    if (pc.expires_at.has_value()) {
      *token->mutable_expires_at() =
          convert::ToProtoTimestamp(absl::FromUnixSeconds(*pc.expires_at));
    }
    token->set_client_ip(pc.client_ip.value_or(""));
    token->set_domain(pc.domain.value_or(""));
    token->set_user_id(pc.user_id.value_or(""));
    token->set_tag(pc.tag.value_or(""));
  }
  if (decoded.header.has_value()) {
    token->set_key_id(decoded.header->kid);
    if (auto alg = token::AlgorithmFromName(decoded.header->alg)) {
      token->set_algorithm(convert::ToProtoAlgorithm(*alg));
    }
  }
  out.set_state(StateOf(decoded, keys.has_value()));
  token->set_state(out.state());
  for (const token::TokenProblem& p : decoded.problems) {
    out.add_problems(p.detail);
  }
  return out;
}

}  // namespace token_authority::client

// TokenAuthority: DecodeToken and VerifyToken, the read-only checks of a
// presented JWT.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/api_key_secret.h"
#include "server/organization_registry.h"
#include "server/revoked_token_set.h"
#include "server/token_authority.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/jws.h"
#include "token/player_config.h"
#include "token/target.h"
#include "token/time_util.h"
#include "token/validation.h"

namespace token_authority::server {
namespace {

// The "org" claim of a JWT, read without verifying anything; "" if it cannot
// be read.
std::string PeekOrganization(absl::string_view jwt) {
  absl::StatusOr<token::JwsSegments> seg = token::SplitJws(jwt);
  if (!seg.ok()) return "";
  std::string payload;
  if (!token::Base64UrlDecodeTo(seg->payload_b64, &payload)) return "";
  token::PartialClaims claims = token::ParseClaimsLenient(payload);
  return claims.organization_id.value_or("");
}

// DecodeToken's key set: the caller's organisation, or for an admin without
// one the organisation the token names; nullptr when there is none to check
// against. NOT_FOUND when the caller's organisation does not exist.
absl::StatusOr<std::shared_ptr<const OrgEntry>> DecodeOrganization(
    const OrganizationRegistry& orgs, const Caller& caller,
    absl::string_view jwt) {
  std::string org_id = caller.organization_id;
  if (org_id.empty() && caller.role == ApiKeyRole::kAdmin) {
    org_id = PeekOrganization(jwt);
  }
  if (org_id.empty()) return std::shared_ptr<const OrgEntry>();
  std::shared_ptr<const OrgEntry> entry = orgs.Find(org_id);
  if (entry == nullptr && !caller.organization_id.empty()) {
    return OrganizationNotFound(org_id);
  }
  return entry;
}

// The authority's record of the decoded token, only within `organization_id`
// (never another organisation's); nullopt when there is none.
absl::StatusOr<std::optional<storage::Token>> FindRecord(
    storage::TokenStore& store, const std::string& organization_id,
    const token::DecodedToken& decoded) {
  const std::optional<std::string>& jti = decoded.partial_claims.token_id;
  if (!jti.has_value() || jti->empty()) return std::nullopt;
  absl::StatusOr<storage::Token> row = store.GetToken(organization_id, *jti);
  if (row.ok()) return std::optional<storage::Token>(*std::move(row));
  if (absl::IsNotFound(row.status()) || absl::IsInvalidArgument(row.status())) {
    return std::nullopt;
  }
  return row.status();
}

// Sets out.state from the record's revocation, else from the decoded
// validity window, and adds the problems that follow.
void AddStateAndProblems(bool has_key_set, DecodeResult& out) {
  if (!out.decoded.signature_valid) {
    // A forged token may reuse a real token id: its record says nothing.
    out.invalid = true;
    out.record.reset();
    return;
  }
  if (out.record.has_value() && out.record->revoked_at.has_value()) {
    out.state = storage::TokenState::kRevoked;
    // At whole seconds, as every other time people read (the store keeps
    // microseconds).
    std::string sentence =
        absl::StrCat("The token was revoked at ",
                     token::FormatRfc3339(absl::FromUnixSeconds(
                         absl::ToUnixSeconds(*out.record->revoked_at))));
    if (!out.record->revocation_reason.empty()) {
      absl::StrAppend(&sentence, " (reason: ", out.record->revocation_reason,
                      ")");
    }
    absl::StrAppend(&sentence, ".");
    out.problems.push_back(std::move(sentence));
  } else if (out.decoded.time_validity.has_value()) {
    switch (*out.decoded.time_validity) {
      case token::TimeValidity::kValid:
        out.state = storage::TokenState::kActive;
        break;
      case token::TimeValidity::kNotYetValid:
        out.state = storage::TokenState::kNotYetValid;
        break;
      case token::TimeValidity::kExpired:
        out.state = storage::TokenState::kExpired;
        break;
    }
  }
  if (has_key_set && !out.record.has_value() && out.decoded.signature_valid) {
    out.problems.push_back(
        "The authority has no record of this token (never issued here, or "
        "removed after it expired).");
  }
}

// The verdict for a token of an organisation that does not exist: what is
// wrong with the token itself first (rules 1-5, checked against a key set
// that holds no key), else the organisation.
token::VerifyResult VerifyForUnknownOrganization(
    const token::TokenVerifier& verifier, const VerifyRequest& request,
    absl::Time now) {
  static const token::KeySet* const kNoKeys = [] {
    absl::StatusOr<token::KeySet> set =
        token::KeySet::Create("no-organization", {});
    return set.ok() ? new token::KeySet(std::move(*set)) : nullptr;
  }();
  if (kNoKeys != nullptr) {
    token::VerifyResult r =
        verifier.Verify(request.jwt, request.playback, *kNoKeys, now);
    if (r.reason == token::DenyReason::kMalformed ||
        r.reason == token::DenyReason::kUnsupportedAlgorithm) {
      return r;
    }
  }
  return token::VerifyResult::Deny(
      token::DenyReason::kOrganizationDisabled,
      absl::StrCat("Organization ", request.playback.organization_id,
                   " does not exist."));
}

// Revocation and organisation state for the verifier, from memory.
class Hooks : public token::VerifyHooks {
 public:
  Hooks(const OrganizationRegistry& orgs, const RevokedTokenSet& revoked,
        const OrgEntry& entry)
      : orgs_(orgs), revoked_(revoked), entry_(entry) {}

  bool IsOrganizationDisabled(
      absl::string_view organization_id) const override {
    if (organization_id == entry_.org.id) return !entry_.org.secure_enabled;
    std::shared_ptr<const OrgEntry> other = orgs_.Find(organization_id);
    return other == nullptr || !other->org.secure_enabled;
  }

  bool IsRevoked(const token::Claims& claims) const override {
    return revoked_.Contains(claims.token_id());
  }

 private:
  const OrganizationRegistry& orgs_;
  const RevokedTokenSet& revoked_;
  const OrgEntry& entry_;
};

}  // namespace

// ---------------------------------------------------------------------------
// DecodeToken and VerifyToken.
// ---------------------------------------------------------------------------

absl::StatusOr<DecodeResult> TokenAuthority::DecodeToken(
    const Caller& caller, absl::string_view jwt) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer, ApiKeyRole::kAuditor},
      "decode tokens"));
  if (jwt.empty()) return absl::InvalidArgumentError("jwt: required");
  const absl::Time now = clock_.Now();
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      DecodeOrganization(*orgs_, caller, jwt));

  DecodeResult out;
  if (entry != nullptr) {
    out.decoded =
        token::DecodeToken(jwt, entry->key_set.get(), now, options_.leeway);
  } else {
    // No key set to check against (an admin decoding a token that names no
    // known organisation).
    out.decoded = token::DecodeToken(jwt, nullptr, now, options_.leeway);
    out.problems.push_back(
        "The token names no organization of this authority, so its signature "
        "was not checked.");
  }
  for (const token::TokenProblem& p : out.decoded.problems) {
    out.problems.push_back(p.detail);
  }
  if (entry != nullptr) {
    TA_ASSIGN_OR_RETURN(out.record,
                        FindRecord(*store_, entry->org.id, out.decoded));
  }
  AddStateAndProblems(/*has_key_set=*/entry != nullptr, out);
  return out;
}

absl::StatusOr<token::VerifyResult> TokenAuthority::VerifyToken(
    const Caller& caller, const VerifyRequest& request) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kVerifier}, "verify tokens"));
  TA_RETURN_IF_ERROR(token::ValidatePlaybackRequest(request.playback));
  const absl::Time now = clock_.Now();
  std::shared_ptr<const OrgEntry> entry =
      orgs_->Find(request.playback.organization_id);
  if (entry == nullptr) {
    return VerifyForUnknownOrganization(verifier_, request, now);
  }
  Hooks hooks(*orgs_, *revoked_, *entry);
  return verifier_.Verify(request.jwt, request.playback, *entry->key_set, now,
                          &hooks);
}

}  // namespace token_authority::server

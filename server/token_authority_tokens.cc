// TokenAuthority: TokenService (issue, read, decode, verify, revoke, watch
// authorisation).
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

constexpr size_t kMaxRequestIdLength = 128;
constexpr size_t kMaxWatchedOrganizations = 1000;

// Appends `value` with its length so that different field splits never
// hash alike.
void AppendField(std::string* out, absl::string_view value) {
  absl::StrAppend(out, value.size(), ":", value, ";");
}

void AppendOptionalTime(std::string* out, const std::optional<absl::Time>& t) {
  AppendField(out, t.has_value() ? absl::StrCat(absl::ToUnixNanos(*t))
                                 : std::string("-"));
}

// A digest of the spec as the caller gave it (not of the resolved times), so
// that a retry of the same request compares equal at any later time.
std::string SpecFingerprint(const token::TokenSpec& spec) {
  std::string s = "spec-v1;";
  if (!spec.target.has_value()) {
    AppendField(&s, "none");
  } else {
    AppendField(&s, token::TargetKindName(spec.target->kind()));
    AppendField(&s, spec.target->stream_group_id());
    AppendField(&s, absl::StrCat(spec.target->stream_names().size()));
    for (const std::string& n : spec.target->stream_names()) {
      AppendField(&s, n);
    }
  }
  AppendField(&s, spec.lifetime.has_value()
                      ? absl::StrCat(absl::ToInt64Nanoseconds(*spec.lifetime))
                      : std::string("-"));
  AppendOptionalTime(&s, spec.expires_at);
  AppendOptionalTime(&s, spec.not_before);
  AppendField(&s, spec.client_ip);
  AppendField(&s, spec.domain);
  AppendField(&s, spec.user_id);
  AppendField(&s, spec.tag);
  return Sha256Digest(s);
}

storage::Token RowFromClaims(const token::Claims& c) {
  storage::Token t;
  t.id = c.token_id();
  t.organization_id = c.organization_id();
  t.target_kind = c.target().kind();
  switch (c.target().kind()) {
    case token::Target::Kind::kStreamGroup:
      t.stream_group_id = c.target().stream_group_id();
      break;
    case token::Target::Kind::kStreams:
      t.streams = c.target().stream_names();
      break;
    case token::Target::Kind::kOrganization:
      break;
  }
  t.issued_at = c.issued_at();
  t.not_before = c.not_before();
  t.expires_at = c.expires_at();
  t.client_ip = c.client_ip();
  t.domain = c.domain();
  t.user_id = c.user_id();
  t.tag = c.tag();
  return t;
}

token::Target TargetFromRow(const storage::Token& t) {
  switch (t.target_kind) {
    case token::Target::Kind::kStreamGroup:
      return token::Target::StreamGroup(t.stream_group_id);
    case token::Target::Kind::kStreams:
      return token::Target::Streams(t.streams);
    case token::Target::Kind::kOrganization:
      break;
  }
  return token::Target::Organization();
}

// The answer for a signed `jwt` of the token `row`.
IssuedToken Issued(storage::Token row, std::string jwt, absl::Time now,
                   bool created) {
  IssuedToken out;
  out.record.state = storage::TokenStateAt(row, now);
  out.record.token = std::move(row);
  token::SecurityConfig config = token::MakeSecurityConfig(jwt);
  out.security_config = std::move(config.group_js);
  out.entry_security_config = std::move(config.entry_js);
  out.jwt = std::move(jwt);
  out.created = created;
  return out;
}

TokenRecord RecordAt(storage::Token t, absl::Time now) {
  TokenRecord r;
  r.state = storage::TokenStateAt(t, now);
  r.token = std::move(t);
  return r;
}

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

absl::Status UpgradeNeeded(absl::string_view organization_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("secure playback is not enabled for organisation ",
                   organization_id, ": upgrade needed"));
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
    std::string sentence =
        absl::StrCat("The token was revoked at ",
                     token::FormatRfc3339(*out.record->revoked_at));
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
// IssueToken.
// ---------------------------------------------------------------------------

// An IssueToken up to the store: checked, signed, the row to insert.
struct TokenAuthority::PreparedIssue {
  storage::Token row;
  storage::AuditContext audit;
  std::string jwt;
  std::string fingerprint;
  std::string organization_id;
  std::string request_id;
};

absl::StatusOr<IssuedToken> TokenAuthority::IssueToken(
    const Caller& caller, const token::TokenSpec& spec,
    absl::string_view request_id,
    std::vector<token::FieldViolation> conversion_violations) {
  TA_ASSIGN_OR_RETURN(
      PreparedIssue prepared,
      PrepareIssue(caller, spec, request_id, std::move(conversion_violations)));
  return CompleteIssue(prepared,
                       store_->InsertToken(prepared.row, prepared.audit));
}

void TokenAuthority::IssueTokenAsync(
    const Caller& caller, const token::TokenSpec& spec,
    absl::string_view request_id,
    std::vector<token::FieldViolation> conversion_violations,
    IssueTokenDone done) {
  absl::StatusOr<PreparedIssue> prepared =
      PrepareIssue(caller, spec, request_id, std::move(conversion_violations));
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  auto shared = std::make_shared<PreparedIssue>(*std::move(prepared));
  store_->InsertTokenAsync(
      shared->row, shared->audit,
      [this, shared, done = std::move(done)](
          absl::StatusOr<storage::InsertTokenResult> inserted) {
        done(CompleteIssue(*shared, std::move(inserted)));
      });
}

absl::StatusOr<TokenAuthority::PreparedIssue> TokenAuthority::PrepareIssue(
    const Caller& caller, const token::TokenSpec& spec,
    absl::string_view request_id,
    std::vector<token::FieldViolation> conversion_violations) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer}, "issue tokens"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> resolved,
                      ResolveOrg(caller));
  if (!resolved->org.secure_enabled) return UpgradeNeeded(resolved->org.id);

  // The time and the primary key, read together.
  const OrganizationRegistry::SigningView view =
      orgs_->ReadForSigning(caller.organization_id);
  const absl::Time now = view.now;
  const std::shared_ptr<const OrgEntry>& entry = view.entry;
  if (entry == nullptr) return OrganizationNotFound(caller.organization_id);

  std::vector<token::FieldViolation> violations =
      std::move(conversion_violations);
  for (token::FieldViolation& v :
       token::ValidateTokenSpec(spec, options_.limits, now)) {
    violations.push_back(std::move(v));
  }
  if (absl::Status s =
          token::ValidatePrintableText(request_id, kMaxRequestIdLength);
      !s.ok()) {
    violations.push_back({"request_id", std::string(s.message())});
  }
  TA_RETURN_IF_ERROR(token::ViolationsToStatus(violations));

  TA_ASSIGN_OR_RETURN(
      token::Claims claims,
      token::ClaimsFromSpec(spec, options_.limits, now, options_.issuer,
                            entry->org.id, random_));
  TA_ASSIGN_OR_RETURN(token::SignedToken signed_token,
                      entry->key_set->Sign(claims));
  // ValidateTokenSpec bounds the token for any key; this catches a key whose
  // header or signature is larger than that bound assumes.
  if (signed_token.jwt.size() > token::kMaxTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream_names: the token would be ", signed_token.jwt.size(),
        " bytes long, more than the ", token::kMaxTokenBytes,
        " a verifier accepts; give fewer or shorter stream names"));
  }

  PreparedIssue out;
  out.row = RowFromClaims(claims);
  out.row.key_id = signed_token.key_id;
  out.row.algorithm = signed_token.algorithm;
  out.row.jwt_sha256 = Sha256Digest(signed_token.jwt);
  out.row.issued_by = caller.api_key_id;
  out.row.request_id = std::string(request_id);
  out.fingerprint = SpecFingerprint(spec);
  out.row.spec_fingerprint = out.fingerprint;
  out.audit.actor = caller.api_key_id;
  out.audit.request_id = std::string(request_id);
  out.jwt = std::move(signed_token.jwt);
  out.organization_id = entry->org.id;
  out.request_id = std::string(request_id);
  return out;
}

absl::StatusOr<IssuedToken> TokenAuthority::CompleteIssue(
    const PreparedIssue& prepared,
    absl::StatusOr<storage::InsertTokenResult> inserted) {
  TA_RETURN_IF_ERROR(inserted.status());
  if (!inserted->created) {
    if (!ApiKeyHashesEqual(inserted->token.spec_fingerprint,
                           prepared.fingerprint)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "request_id: \"", prepared.request_id,
          "\" was already used to issue a token with a different spec"));
    }
    return ReissueExisting(prepared.organization_id,
                           std::move(inserted->token));
  }
  return Issued(std::move(inserted->token), prepared.jwt, clock_.Now(),
                /*created=*/true);
}

absl::StatusOr<IssuedToken> TokenAuthority::ReissueExisting(
    absl::string_view organization_id, storage::Token row) {
  // The JWT is not stored: sign the same claims again with the same key.
  token::ClaimsBuilder builder;
  builder.SetIssuer(options_.issuer)
      .SetTokenId(row.id)
      .SetIssuedAt(row.issued_at)
      .SetNotBefore(row.not_before)
      .SetExpiresAt(row.expires_at)
      .SetOrganizationId(row.organization_id)
      .SetTarget(TargetFromRow(row))
      .SetClientIp(row.client_ip)
      .SetDomain(row.domain)
      .SetUserId(row.user_id)
      .SetTag(row.tag);
  TA_ASSIGN_OR_RETURN(token::Claims claims, builder.Build());
  std::shared_ptr<const OrgEntry> current = orgs_->Find(organization_id);
  const token::KeySetEntry* key =
      current != nullptr ? current->key_set->Find(row.key_id) : nullptr;
  if (key == nullptr || !key->key->can_sign()) {
    return absl::FailedPreconditionError(
        absl::StrCat("token ", row.id, " was signed by key ", row.key_id,
                     ", which is no longer available to sign it again"));
  }
  TA_ASSIGN_OR_RETURN(std::string jwt,
                      token::EncodeJws(claims.ToJson(), *key->key));
  return Issued(std::move(row), std::move(jwt), clock_.Now(),
                /*created=*/false);
}

// ---------------------------------------------------------------------------
// Reading, decoding and verifying.
// ---------------------------------------------------------------------------

absl::StatusOr<TokenRecord> TokenAuthority::GetToken(
    const Caller& caller, absl::string_view token_id) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer, ApiKeyRole::kAuditor},
      "read tokens"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  if (token_id.empty()) {
    return absl::InvalidArgumentError("token_id: required");
  }
  TA_ASSIGN_OR_RETURN(storage::Token t,
                      store_->GetToken(entry->org.id, token_id));
  return RecordAt(std::move(t), clock_.Now());
}

absl::StatusOr<storage::Page<TokenRecord>> TokenAuthority::ListTokens(
    const Caller& caller, storage::TokenFilter filter,
    const storage::PageRequest& page) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer, ApiKeyRole::kAuditor},
      "list tokens"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  const absl::Time now = clock_.Now();
  filter.now = now;
  TA_ASSIGN_OR_RETURN(storage::Page<storage::Token> tokens,
                      store_->ListTokens(entry->org.id, filter, page));
  storage::Page<TokenRecord> out;
  out.next_page_token = std::move(tokens.next_page_token);
  out.items.reserve(tokens.items.size());
  for (storage::Token& t : tokens.items) {
    out.items.push_back(RecordAt(std::move(t), now));
  }
  return out;
}

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

// ---------------------------------------------------------------------------
// Revoking and watching.
// ---------------------------------------------------------------------------

absl::StatusOr<TokenRecord> TokenAuthority::RevokeToken(
    const Caller& caller, absl::string_view token_id,
    absl::string_view reason) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer}, "revoke tokens"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  if (token_id.empty()) return absl::InvalidArgumentError("token_id: required");
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;
  TA_ASSIGN_OR_RETURN(
      storage::Token t,
      store_->RevokeToken(entry->org.id, token_id, reason, audit));
  // Refused by VerifyToken from now on, whatever the feed does next.
  revoked_->Add(t.id, t.expires_at);
  // Publish to watchers now rather than at the next poll. The revocation is
  // durable already; a failure here is retried by the poll.
  (void)feed_->CatchUp();
  return RecordAt(std::move(t), clock_.Now());
}

absl::StatusOr<int64_t> TokenAuthority::RevokeTokens(
    const Caller& caller, const storage::RevokeFilter& filter,
    absl::string_view reason, bool dry_run) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer}, "revoke tokens"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;
  absl::StatusOr<storage::RevokeTokensResult> result =
      store_->RevokeTokens(entry->org.id, filter, reason, dry_run, audit);
  if (!dry_run) {
    // Also after a failure: batches committed before it are revocations.
    absl::Status caught_up = feed_->CatchUp();
    if (result.ok() && !caught_up.ok()) return caught_up;
  }
  if (!result.ok()) return result.status();
  return result->count;
}

absl::Status TokenAuthority::AuthorizeWatchRevocations(
    const Caller& caller) const {
  return RequireRole(caller, {ApiKeyRole::kAdmin, ApiKeyRole::kVerifier},
                     "watch revocations");
}

absl::StatusOr<std::vector<std::string>>
TokenAuthority::AuthorizeWatchOrganizationStates(
    const Caller& caller,
    const std::vector<std::string>& organization_ids) const {
  TA_RETURN_IF_ERROR(RequireRole(caller,
                                 {ApiKeyRole::kAdmin, ApiKeyRole::kVerifier,
                                  ApiKeyRole::kIssuer, ApiKeyRole::kAuditor},
                                 "watch organisation states"));
  std::vector<std::string> ids;
  if (organization_ids.empty()) {
    if (caller.organization_id.empty()) {
      return absl::InvalidArgumentError(
          "organization_ids: at least one is required");
    }
    ids.push_back(caller.organization_id);
  } else {
    if (organization_ids.size() > kMaxWatchedOrganizations) {
      return absl::InvalidArgumentError(
          "organization_ids: at most 1000 organisations per stream");
    }
    absl::flat_hash_set<absl::string_view> seen;
    for (const std::string& id : organization_ids) {
      if (seen.insert(id).second) ids.push_back(id);
    }
  }
  const bool own_only =
      caller.role == ApiKeyRole::kIssuer || caller.role == ApiKeyRole::kAuditor;
  for (const std::string& id : ids) {
    if (absl::Status s = token::ValidateOrganizationId(id); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("organization_ids: ", s.message()));
    }
    if (own_only && id != caller.organization_id) {
      return absl::PermissionDeniedError(absl::StrCat(
          "organization_ids: an ", storage::ApiKeyRoleName(caller.role),
          " key watches its own organization only"));
    }
  }
  for (const std::string& id : ids) {
    if (orgs_->Find(id) == nullptr) return OrganizationNotFound(id);
  }
  return ids;
}

}  // namespace token_authority::server

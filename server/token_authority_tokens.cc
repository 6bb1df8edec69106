// TokenAuthority: TokenService (issue, read, revoke, watch authorisation;
// decode and verify are in token_authority_decode.cc).
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

absl::Status UpgradeNeeded(absl::string_view organization_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("secure playback is not enabled for organisation ",
                   organization_id, ": upgrade needed"));
}

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

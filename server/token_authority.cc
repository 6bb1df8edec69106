// TokenAuthority: creation, loading, authentication, KeyService,
// AuditService and operations. TokenService is in
// token_authority_tokens.cc, AdminService in token_authority_admin.cc.
#include "server/token_authority.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/api_key_registry.h"
#include "server/key_retirement.h"
#include "server/organization_registry.h"
#include "server/revoked_token_set.h"
#include "token/signing_key.h"
#include "token/validation.h"
#include "token/verified_token_cache.h"

namespace token_authority::server {
namespace {

// InvalidArgument naming the first bad option, OK when all are good.
absl::Status ValidateOptions(const TokenAuthorityOptions& options) {
  if (options.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leeway: must not be negative");
  }
  if (options.limits.max_lifetime < absl::Seconds(1)) {
    return absl::InvalidArgumentError("max_lifetime: at least 1s");
  }
  if (options.limits.default_lifetime < absl::Seconds(1) ||
      options.limits.default_lifetime > options.limits.max_lifetime) {
    return absl::InvalidArgumentError(
        "default_lifetime: at least 1s and at most max_lifetime");
  }
  if (absl::Status s =
          token::ValidatePrintableText(options.issuer, token::kMaxIssuerLength);
      !s.ok() || options.issuer.empty()) {
    return absl::InvalidArgumentError(
        "issuer: 1-256 printable characters required");
  }
  if (options.verify_cache_entries >
      static_cast<size_t>(kMaxVerifyCacheEntries)) {
    return absl::InvalidArgumentError(
        absl::StrCat("verify_cache_entries: at most ", kMaxVerifyCacheEntries));
  }
  if (options.rate_limit_per_second < 0 || options.rate_limit_burst < 0) {
    return absl::InvalidArgumentError("rate_limit: must not be negative");
  }
  return absl::OkStatus();
}

ApiKeyRegistryOptions ApiKeyOptions(const TokenAuthorityOptions& options) {
  ApiKeyRegistryOptions out;
  out.rate_limit_per_second = options.rate_limit_per_second;
  out.rate_limit_burst = options.rate_limit_burst;
  out.touch_interval = options.touch_interval;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Creation and loading.
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<TokenAuthority>> TokenAuthority::Create(
    TokenAuthorityOptions options, storage::TokenStore* store,
    const Clock& clock, RandomSource& random) {
  if (store == nullptr) return absl::InvalidArgumentError("store: required");
  TA_RETURN_IF_ERROR(ValidateOptions(options));
  std::unique_ptr<TokenAuthority> authority(
      new TokenAuthority(std::move(options), store, clock, random));
  TA_RETURN_IF_ERROR(authority->Load());
  if (authority->options_.maintenance_interval > absl::ZeroDuration()) {
    TokenAuthority* self = authority.get();
    authority->maintenance_.Start(
        "ta-maintenance", authority->options_.maintenance_interval, [self] {
          // Errors (store busy or full) are retried at the next run.
          (void)self->RunMaintenance();
        });
  }
  return authority;
}

TokenAuthority::TokenAuthority(TokenAuthorityOptions options,
                               storage::TokenStore* store, const Clock& clock,
                               RandomSource& random)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      random_(random),
      verifier_(token::VerifierOptions{
          options_.leeway, options_.verify_cache_entries > 0
                               ? std::make_shared<token::VerifiedTokenCache>(
                                     options_.verify_cache_entries)
                               : nullptr}),
      orgs_(std::make_unique<OrganizationRegistry>(store, clock, random)),
      api_keys_(std::make_unique<ApiKeyRegistry>(ApiKeyOptions(options_), store,
                                                 clock)),
      revoked_(std::make_unique<RevokedTokenSet>(options_.leeway)),
      key_retirement_(std::make_unique<KeyRetirement>(
          store, orgs_.get(), options_.leeway, options_.limits.max_lifetime)) {}

TokenAuthority::~TokenAuthority() { Shutdown(); }

void TokenAuthority::Shutdown() {
  maintenance_.Stop();
  if (feed_ != nullptr) feed_->Close();
  orgs_->state_feed().Close();
  api_key_revocations_.Close();
}

absl::Status TokenAuthority::Load() {
  // Organisations and their keys.
  TA_ASSIGN_OR_RETURN(std::vector<storage::Organization> orgs, orgs_->Load());

  // API keys: the service-wide ones and every organisation's.
  TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys,
                      store_->ListApiKeys("", /*include_revoked=*/true));
  for (const storage::Organization& org : orgs) {
    TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> org_keys,
                        store_->ListApiKeys(org.id, /*include_revoked=*/true));
    for (storage::ApiKey& k : org_keys) keys.push_back(std::move(k));
  }
  for (const storage::ApiKey& k : keys) api_keys_->Put(k);

  // Revocations: the sequence first, so that nothing committed later is
  // missed by the feed (an event in both is applied twice, harmlessly).
  TA_ASSIGN_OR_RETURN(int64_t max_sequence, store_->MaxRevocationSequence());
  TA_ASSIGN_OR_RETURN(
      std::vector<storage::RevocationEvent> active,
      store_->ListActiveRevocations(clock_.Now() - options_.leeway));
  revoked_->Apply(active);
  RevokedTokenSet* revoked = revoked_.get();
  TA_ASSIGN_OR_RETURN(
      feed_,
      RevocationFeed::Create(
          store_, max_sequence, options_.feed,
          [revoked](const std::vector<storage::RevocationEvent>& events) {
            revoked->Apply(events);
          }));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const OrgEntry>> TokenAuthority::ResolveOrg(
    const Caller& caller) const {
  if (caller.organization_id.empty()) {
    return absl::InvalidArgumentError(
        "x-organization-id: an admin key must name the organization it acts "
        "for");
  }
  std::shared_ptr<const OrgEntry> entry = orgs_->Find(caller.organization_id);
  if (entry == nullptr) return OrganizationNotFound(caller.organization_id);
  return entry;
}

OrganizationStateFeed& TokenAuthority::organization_state_feed() {
  return orgs_->state_feed();
}

// ---------------------------------------------------------------------------
// Authentication.
// ---------------------------------------------------------------------------

absl::StatusOr<Caller> TokenAuthority::Authenticate(
    absl::string_view api_key_secret, absl::string_view organization_header) {
  return api_keys_->Authenticate(api_key_secret, organization_header);
}

bool TokenAuthority::IsApiKeyActive(absl::string_view api_key_id) const {
  return api_keys_->IsActive(api_key_id);
}

// ---------------------------------------------------------------------------
// KeyService.
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<storage::SigningKey>>
TokenAuthority::ListSigningKeys(const Caller& caller, bool include_retired) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer}, "list signing keys"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  std::vector<storage::SigningKey> out;
  for (auto it = entry->keys.rbegin(); it != entry->keys.rend(); ++it) {
    if (!include_retired && it->state == token::KeyState::kRetired) {
      continue;
    }
    out.push_back(*it);
  }
  return out;
}

absl::StatusOr<storage::SigningKey> TokenAuthority::RotateSigningKey(
    const Caller& caller, token::Algorithm algorithm) {
  TA_RETURN_IF_ERROR(RequireRole(caller,
                                 {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer},
                                 "rotate signing keys"));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  // Key generation (slow for RSA) happens outside every lock.
  TA_ASSIGN_OR_RETURN(
      std::unique_ptr<const token::SigningKey> key,
      token::SigningKey::Generate(algorithm, clock_.Now(), random_));
  storage::SigningKey row;
  row.organization_id = entry->org.id;
  row.kid = key->kid();
  row.algorithm = algorithm;
  row.state = token::KeyState::kPrimary;
  TA_ASSIGN_OR_RETURN(row.private_key, key->ExportPrivateKey());
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;

  storage::SigningKey stored;
  TA_RETURN_IF_ERROR(orgs_->ChangeKeys(entry->org.id, [&]() -> absl::Status {
    TA_ASSIGN_OR_RETURN(stored, store_->RotateSigningKey(row, audit));
    return absl::OkStatus();
  }));
  stored.private_key.clear();
  return stored;
}

absl::StatusOr<std::string> TokenAuthority::GetJwks(
    const Caller& caller, absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer, ApiKeyRole::kVerifier},
      "read the JWK Set"));
  std::string org_id(organization_id);
  if (org_id.empty()) org_id = caller.organization_id;
  if (org_id.empty()) {
    return absl::InvalidArgumentError("organization_id: required");
  }
  if (caller.role == ApiKeyRole::kIssuer && org_id != caller.organization_id) {
    return absl::PermissionDeniedError(
        "organization_id: an issuer key reads its own organization's keys "
        "only");
  }
  std::shared_ptr<const OrgEntry> entry = orgs_->Find(org_id);
  if (entry == nullptr) return OrganizationNotFound(org_id);
  return entry->jwks_json;
}

// ---------------------------------------------------------------------------
// AuditService.
// ---------------------------------------------------------------------------

absl::StatusOr<storage::Page<storage::AuditEvent>>
TokenAuthority::ListAuditEvents(const Caller& caller,
                                const storage::AuditFilter& filter,
                                const storage::PageRequest& page) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer, ApiKeyRole::kAuditor},
      "read the audit log"));
  std::string org_id;
  if (!(caller.role == ApiKeyRole::kAdmin && caller.organization_id.empty())) {
    TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                        ResolveOrg(caller));
    org_id = entry->org.id;
  }
  return store_->ListAuditEvents(org_id, filter, page);
}

// ---------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------

bool TokenAuthority::HasActiveAdminKey() const {
  return api_keys_->HasActiveAdminKey();
}

absl::Status TokenAuthority::RefreshOrganization(
    const std::string& organization_id) {
  return orgs_->Refresh(organization_id);
}

absl::Status TokenAuthority::RefreshApiKey(const std::string& api_key_id) {
  TA_ASSIGN_OR_RETURN(storage::ApiKey key, store_->GetApiKey(api_key_id));
  if (api_keys_->PutIfAbsent(key) || !key.revoked_at.has_value()) {
    return absl::OkStatus();
  }
  // Known here and revoked through another replica.
  if (api_keys_->IsActive(api_key_id)) {
    api_keys_->MarkRevoked(api_key_id);
    api_key_revocations_.WakeAll();
  }
  return absl::OkStatus();
}

absl::Status TokenAuthority::RunMaintenance() {
  const absl::Time now = clock_.Now();
  revoked_->ForgetExpired(now);
  absl::Status first_error;
  for (const std::shared_ptr<const OrgEntry>& entry : orgs_->All()) {
    absl::Status s = key_retirement_->RetireDueKeys(*entry, now);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

}  // namespace token_authority::server

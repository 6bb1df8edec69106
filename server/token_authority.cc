#include "server/token_authority.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/api_key_secret.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/jws.h"
#include "token/signing_key.h"
#include "base/status_macros.h"
#include "token/target.h"
#include "base/thread_name.h"
#include "token/time_util.h"
#include "token/validation.h"

namespace token_authority::server {
namespace {

constexpr size_t kMaxRequestIdLength = 128;
constexpr size_t kMaxOrganizationNameLength = 128;
// Key retirement looks at the key ids of at most this many live tokens.
constexpr int64_t kExactKeyScanLimit = 5000;

std::string Sha256(absl::string_view data) { return Sha256Digest(data); }

absl::string_view RoleName(ApiKeyRole role) {
  return storage::ApiKeyRoleName(role);
}

absl::Status RequireRole(const Caller& caller,
                         std::initializer_list<ApiKeyRole> allowed,
                         absl::string_view what) {
  for (ApiKeyRole r : allowed) {
    if (caller.role == r) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "an API key with role ", RoleName(caller.role), " may not ", what));
}

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
  return Sha256(s);
}

storage::Token RowFromClaims(const token::Claims& c) {
  storage::Token t;
  t.id = c.token_id();
  t.organization_id = c.organization_id();
  switch (c.target().kind()) {
    case token::Target::Kind::kStreamGroup:
      t.target_kind = storage::TargetKind::kStreamGroup;
      t.stream_group_id = c.target().stream_group_id();
      break;
    case token::Target::Kind::kStreams:
      t.target_kind = storage::TargetKind::kStreams;
      t.streams = c.target().stream_names();
      break;
    case token::Target::Kind::kOrganization:
      t.target_kind = storage::TargetKind::kOrganization;
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
    case storage::TargetKind::kStreamGroup:
      return token::Target::StreamGroup(t.stream_group_id);
    case storage::TargetKind::kStreams:
      return token::Target::Streams(t.streams);
    case storage::TargetKind::kOrganization:
      break;
  }
  return token::Target::Organization();
}

std::string SecurityConfig(absl::string_view jwt) {
  return absl::StrCat("security: { jwtoken: \"", jwt, "\" }");
}

std::string EntrySecurityConfig(absl::string_view jwt) {
  return absl::StrCat("h5live: { security: { jwtoken: \"", jwt, "\" } }");
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

absl::Status OrganizationNotFound(absl::string_view organization_id) {
  return absl::NotFoundError(
      absl::StrCat("organization ", organization_id, " not found"));
}

}  // namespace

// ---------------------------------------------------------------------------
// In-memory entries.
// ---------------------------------------------------------------------------

struct TokenAuthority::OrgEntry {
  storage::Organization org;
  // Creation order, private material cleared.
  std::vector<storage::SigningKey> keys;
  std::shared_ptr<const token::KeySet> key_set;
  std::string jwks_json;
  // Lowercase hex SHA-256 of jwks_json (OrganizationStateEvent.jwks_sha256).
  std::string jwks_sha256;
};

struct TokenAuthority::ApiKeyEntry {
  explicit ApiKeyEntry(const storage::ApiKey& k)
      : id(k.id),
        organization_id(k.organization_id),
        role(k.role),
        secret_hash(k.secret_hash),
        revoked(k.revoked_at.has_value()) {}

  const std::string id;
  const std::string organization_id;
  const ApiKeyRole role;
  const std::string secret_hash;
  std::atomic<bool> revoked;
  std::atomic<int64_t> last_touch_unix_nanos{0};

  std::mutex bucket_mu;
  double bucket_tokens = -1;  // guarded by bucket_mu; -1: not started
  absl::Time bucket_time;     // guarded by bucket_mu
};

// Revocation and organisation state for the verifier, from memory.
class TokenAuthority::Hooks : public token::VerifyHooks {
 public:
  Hooks(const TokenAuthority* authority, const OrgEntry* entry)
      : authority_(authority), entry_(entry) {}

  bool IsOrganizationDisabled(
      absl::string_view organization_id) const override {
    if (organization_id == entry_->org.id) return !entry_->org.secure_enabled;
    std::shared_ptr<const OrgEntry> other =
        authority_->FindOrg(organization_id);
    return other == nullptr || !other->org.secure_enabled;
  }

  bool IsRevoked(const token::Claims& claims) const override {
    return authority_->IsRevoked(claims.token_id());
  }

 private:
  const TokenAuthority* authority_;
  const OrgEntry* entry_;
};

// ---------------------------------------------------------------------------
// Creation and loading.
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<TokenAuthority>> TokenAuthority::Create(
    TokenAuthorityOptions options, storage::TokenStore* store,
    const Clock& clock, RandomSource& random) {
  if (store == nullptr) return absl::InvalidArgumentError("store: required");
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
  std::unique_ptr<TokenAuthority> authority(
      new TokenAuthority(std::move(options), store, clock, random));
  TA_RETURN_IF_ERROR(authority->Load());
  if (authority->options_.maintenance_interval > absl::ZeroDuration()) {
    TokenAuthority* self = authority.get();
    authority->maintenance_thread_ =
        StartNamedThread("ta-maintenance", [self] { self->MaintenanceLoop(); });
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
                               : nullptr}) {}

TokenAuthority::~TokenAuthority() { Shutdown(); }

void TokenAuthority::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(maintenance_mu_);
    stop_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  if (feed_ != nullptr) feed_->Close();
  org_states_.Close();
  api_key_revocations_.Close();
}

absl::Status TokenAuthority::Load() {
  // Organisations and their keys.
  TA_ASSIGN_OR_RETURN(std::vector<storage::Organization> orgs,
                      store_->ListAllOrganizations());
  TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> all_keys,
                      store_->ListAllSigningKeys());
  absl::flat_hash_map<std::string, std::vector<storage::SigningKey>> by_org;
  for (storage::SigningKey& k : all_keys) {
    by_org[k.organization_id].push_back(std::move(k));
  }
  for (const storage::Organization& org : orgs) {
    std::vector<storage::SigningKey>& rows = by_org[org.id];
    TA_RETURN_IF_ERROR(EnsurePrimaryKey(org, rows, storage::AuditContext{}));
    // The last change this process can know of: the record's update or the
    // newest key's creation.
    absl::Time changed_at = org.updated_at;
    for (const storage::SigningKey& k : rows) {
      changed_at = std::max(changed_at, k.created_at);
    }
    TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                        BuildOrgEntry(org, std::move(rows)));
    PutOrg(std::move(entry), changed_at);
  }

  // API keys: the service-wide ones and every organisation's.
  TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys,
                      store_->ListApiKeys("", /*include_revoked=*/true));
  for (const storage::Organization& org : orgs) {
    TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> org_keys,
                        store_->ListApiKeys(org.id, /*include_revoked=*/true));
    for (storage::ApiKey& k : org_keys) keys.push_back(std::move(k));
  }
  for (const storage::ApiKey& k : keys) PutApiKey(k);

  // Revocations: the sequence first, so that nothing committed later is
  // missed by the feed (an event in both is applied twice, harmlessly).
  TA_ASSIGN_OR_RETURN(int64_t max_sequence, store_->MaxRevocationSequence());
  TA_ASSIGN_OR_RETURN(
      std::vector<storage::RevocationEvent> active,
      store_->ListActiveRevocations(clock_.Now() - options_.leeway));
  ApplyRevocations(active);
  TA_ASSIGN_OR_RETURN(
      feed_, RevocationFeed::Create(
                 store_, max_sequence, options_.feed,
                 [this](const std::vector<storage::RevocationEvent>& events) {
                   ApplyRevocations(events);
                 }));
  return absl::OkStatus();
}

absl::Status TokenAuthority::EnsurePrimaryKey(
    const storage::Organization& org, std::vector<storage::SigningKey>& rows,
    const storage::AuditContext& audit) {
  for (const storage::SigningKey& k : rows) {
    if (k.state == storage::SigningKeyState::kPrimary) return absl::OkStatus();
  }
  TA_ASSIGN_OR_RETURN(std::unique_ptr<const token::SigningKey> key,
                      token::SigningKey::Generate(token::kDefaultAlgorithm,
                                                  clock_.Now(), random_));
  storage::SigningKey row;
  row.organization_id = org.id;
  row.kid = key->kid();
  row.algorithm = std::string(token::AlgorithmName(key->algorithm()));
  row.state = storage::SigningKeyState::kPrimary;
  TA_ASSIGN_OR_RETURN(row.private_key, key->ExportPrivateKey());
  TA_ASSIGN_OR_RETURN(storage::SigningKey stored,
                      store_->InsertSigningKey(row, audit));
  rows.push_back(std::move(stored));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const TokenAuthority::OrgEntry>>
TokenAuthority::BuildOrgEntry(storage::Organization org,
                              std::vector<storage::SigningKey> rows) const {
  std::sort(rows.begin(), rows.end(),
            [](const storage::SigningKey& a, const storage::SigningKey& b) {
              return a.created_at < b.created_at;
            });
  // Reuse keys already parsed (rotation reloads every row).
  std::shared_ptr<const OrgEntry> previous = FindOrg(org.id);
  auto entry = std::make_shared<OrgEntry>();
  std::vector<token::KeySetEntry> set_entries;
  for (storage::SigningKey& row : rows) {
    std::shared_ptr<const token::SigningKey> key;
    if (previous != nullptr) {
      if (const token::KeySetEntry* e = previous->key_set->Find(row.kid)) {
        key = e->key;
      }
    }
    if (key == nullptr) {
      std::optional<token::Algorithm> alg =
          token::AlgorithmFromName(row.algorithm);
      if (!alg.has_value()) {
        return absl::DataLossError(
            absl::StrCat("signing key ", row.kid, " of organization ", org.id,
                         ": unknown algorithm \"", row.algorithm, "\""));
      }
      absl::StatusOr<std::unique_ptr<const token::SigningKey>> parsed =
          token::SigningKey::FromPrivateKey(*alg, row.private_key,
                                            row.created_at);
      if (!parsed.ok()) {
        return absl::DataLossError(
            absl::StrCat("signing key ", row.kid, " of organization ", org.id,
                         " does not load: ", parsed.status().message()));
      }
      key = std::move(*parsed);
    }
    set_entries.push_back(token::KeySetEntry{
        std::move(key), static_cast<token::KeyState>(row.state)});
    row.private_key.clear();
    entry->keys.push_back(std::move(row));
  }
  TA_ASSIGN_OR_RETURN(token::KeySet set,
                      token::KeySet::Create(org.id, std::move(set_entries)));
  entry->jwks_json = set.ToJwksJson();
  entry->jwks_sha256 = absl::BytesToHexString(Sha256(entry->jwks_json));
  entry->key_set = std::make_shared<const token::KeySet>(std::move(set));
  entry->org = std::move(org);
  return std::shared_ptr<const OrgEntry>(std::move(entry));
}

std::shared_ptr<const TokenAuthority::OrgEntry> TokenAuthority::FindOrg(
    absl::string_view id) const {
  std::shared_lock<std::shared_mutex> lock(orgs_mu_);
  auto it = orgs_.find(id);
  return it == orgs_.end() ? nullptr : it->second;
}

void TokenAuthority::PutOrg(std::shared_ptr<const OrgEntry> entry,
                            std::optional<absl::Time> changed_at) {
  OrganizationState state;
  state.organization_id = entry->org.id;
  state.secure_enabled = entry->org.secure_enabled;
  state.jwks_sha256 = entry->jwks_sha256;
  state.changed_at = changed_at.value_or(clock_.Now());
  {
    std::unique_lock<std::shared_mutex> lock(orgs_mu_);
    orgs_[entry->org.id] = std::move(entry);
  }
  // VerifyToken already answers with the new entry; now tell the watchers.
  if (org_states_.Publish(std::move(state))) org_states_.WakeAll();
}

absl::StatusOr<std::shared_ptr<const TokenAuthority::OrgEntry>>
TokenAuthority::ResolveOrg(const Caller& caller) const {
  if (caller.organization_id.empty()) {
    return absl::InvalidArgumentError(
        "x-organization-id: an admin key must name the organization it acts "
        "for");
  }
  std::shared_ptr<const OrgEntry> entry = FindOrg(caller.organization_id);
  if (entry == nullptr) return OrganizationNotFound(caller.organization_id);
  return entry;
}

absl::Status TokenAuthority::ReloadKeys(const std::string& organization_id) {
  std::shared_ptr<const OrgEntry> current = FindOrg(organization_id);
  if (current == nullptr) return OrganizationNotFound(organization_id);
  TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> rows,
                      store_->ListSigningKeys(organization_id));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      BuildOrgEntry(current->org, std::move(rows)));
  PutOrg(std::move(entry));
  return absl::OkStatus();
}

void TokenAuthority::PutApiKey(const storage::ApiKey& key) {
  auto entry = std::make_shared<ApiKeyEntry>(key);
  std::unique_lock<std::shared_mutex> lock(api_keys_mu_);
  api_keys_[key.id] = std::move(entry);
}

// ---------------------------------------------------------------------------
// Authentication.
// ---------------------------------------------------------------------------

absl::StatusOr<Caller> TokenAuthority::Authenticate(
    absl::string_view api_key_secret, absl::string_view organization_header) {
  if (api_key_secret.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send \"authorization: Bearer <api key>\"");
  }
  absl::StatusOr<std::string> id = ApiKeyIdFromSecret(api_key_secret);
  if (!id.ok()) return absl::UnauthenticatedError("invalid API key");
  std::shared_ptr<ApiKeyEntry> entry;
  {
    std::shared_lock<std::shared_mutex> lock(api_keys_mu_);
    auto it = api_keys_.find(*id);
    if (it != api_keys_.end()) entry = it->second;
  }
  const std::string hash = HashApiKeySecret(api_key_secret);
  if (entry == nullptr || !ApiKeyHashesEqual(hash, entry->secret_hash)) {
    return absl::UnauthenticatedError("invalid API key");
  }
  if (entry->revoked.load(std::memory_order_acquire)) {
    return absl::UnauthenticatedError(
        absl::StrCat("API key ", entry->id, " has been revoked"));
  }

  Caller caller;
  caller.api_key_id = entry->id;
  caller.role = entry->role;
  if (entry->role == ApiKeyRole::kAdmin) {
    caller.organization_id = std::string(organization_header);
  } else {
    if (!organization_header.empty() &&
        organization_header != entry->organization_id) {
      return absl::PermissionDeniedError(
          "x-organization-id: only admin keys may act for another "
          "organization");
    }
    caller.organization_id = entry->organization_id;
  }

  const absl::Time now = clock_.Now();
  TA_RETURN_IF_ERROR(CheckRateLimit(*entry, now));
  const int64_t now_nanos = absl::ToUnixNanos(now);
  int64_t last = entry->last_touch_unix_nanos.load(std::memory_order_relaxed);
  if (now_nanos - last >= absl::ToInt64Nanoseconds(options_.touch_interval) &&
      entry->last_touch_unix_nanos.compare_exchange_strong(last, now_nanos)) {
    // Coalesced by the store; a failure only delays last_used_at.
    (void)store_->TouchApiKey(entry->id, now);
  }
  return caller;
}

absl::Status TokenAuthority::CheckRateLimit(ApiKeyEntry& entry,
                                            absl::Time now) {
  const double rate = options_.rate_limit_per_second;
  if (rate <= 0) return absl::OkStatus();
  const double burst = options_.rate_limit_burst > 0 ? options_.rate_limit_burst
                                                     : std::max(1.0, rate);
  std::lock_guard<std::mutex> lock(entry.bucket_mu);
  if (entry.bucket_tokens < 0) {
    entry.bucket_tokens = burst;
    entry.bucket_time = now;
  }
  const double elapsed =
      std::max(0.0, absl::ToDoubleSeconds(now - entry.bucket_time));
  entry.bucket_tokens = std::min(burst, entry.bucket_tokens + elapsed * rate);
  entry.bucket_time = std::max(entry.bucket_time, now);
  if (entry.bucket_tokens >= 1.0) {
    entry.bucket_tokens -= 1.0;
    return absl::OkStatus();
  }
  const int64_t retry_ms =
      static_cast<int64_t>((1.0 - entry.bucket_tokens) / rate * 1000.0) + 1;
  return absl::ResourceExhaustedError(absl::StrFormat(
      "rate limit of %g requests/s exceeded for API key %s: retry after %d ms",
      rate, entry.id, retry_ms));
}

// ---------------------------------------------------------------------------
// TokenService.
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
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      ResolveOrg(caller));
  if (!entry->org.secure_enabled) return UpgradeNeeded(entry->org.id);

  // Read the time and the primary key together (see key_change_mu_).
  absl::Time now;
  {
    std::shared_lock<std::shared_mutex> lock(key_change_mu_);
    now = clock_.Now();
    entry = FindOrg(caller.organization_id);
  }
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

  PreparedIssue out;
  out.row = RowFromClaims(claims);
  out.row.key_id = signed_token.key_id;
  out.row.algorithm = std::string(token::AlgorithmName(signed_token.algorithm));
  out.row.jwt_sha256 = Sha256(signed_token.jwt);
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
  IssuedToken out;
  out.record.state = storage::TokenStateAt(inserted->token, clock_.Now());
  out.record.token = std::move(inserted->token);
  out.security_config = SecurityConfig(prepared.jwt);
  out.entry_security_config = EntrySecurityConfig(prepared.jwt);
  out.jwt = prepared.jwt;
  out.created = true;
  return out;
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
  std::shared_ptr<const OrgEntry> current = FindOrg(organization_id);
  const token::KeySetEntry* key =
      current != nullptr ? current->key_set->Find(row.key_id) : nullptr;
  if (key == nullptr || !key->key->can_sign()) {
    return absl::FailedPreconditionError(
        absl::StrCat("token ", row.id, " was signed by key ", row.key_id,
                     ", which is no longer available to sign it again"));
  }
  TA_ASSIGN_OR_RETURN(std::string jwt,
                      token::EncodeJws(claims.ToJson(), *key->key));
  IssuedToken out;
  out.record.state = storage::TokenStateAt(row, clock_.Now());
  out.record.token = std::move(row);
  out.security_config = SecurityConfig(jwt);
  out.entry_security_config = EntrySecurityConfig(jwt);
  out.jwt = std::move(jwt);
  out.created = false;
  return out;
}

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
  TokenRecord r;
  r.state = storage::TokenStateAt(t, clock_.Now());
  r.token = std::move(t);
  return r;
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
    TokenRecord r;
    r.state = storage::TokenStateAt(t, now);
    r.token = std::move(t);
    out.items.push_back(std::move(r));
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
  std::string org_id = caller.organization_id;
  if (org_id.empty() && caller.role == ApiKeyRole::kAdmin) {
    org_id = PeekOrganization(jwt);
  }
  std::shared_ptr<const OrgEntry> entry;
  if (!org_id.empty()) {
    entry = FindOrg(org_id);
    if (entry == nullptr && !caller.organization_id.empty()) {
      return OrganizationNotFound(org_id);
    }
  }

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

  // The record, only within the organisation (never reveal another's).
  const std::optional<std::string>& jti = out.decoded.partial_claims.token_id;
  if (entry != nullptr && jti.has_value() && !jti->empty()) {
    absl::StatusOr<storage::Token> row = store_->GetToken(entry->org.id, *jti);
    if (row.ok()) {
      out.record = std::move(*row);
    } else if (!absl::IsNotFound(row.status()) &&
               !absl::IsInvalidArgument(row.status())) {
      return row.status();
    }
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
  if (entry != nullptr && !out.record.has_value() &&
      out.decoded.signature_valid) {
    out.problems.push_back(
        "The authority has no record of this token (never issued here, or "
        "removed after it expired).");
  }
  return out;
}

absl::StatusOr<token::VerifyResult> TokenAuthority::VerifyToken(
    const Caller& caller, const VerifyRequest& request) {
  TA_RETURN_IF_ERROR(RequireRole(
      caller, {ApiKeyRole::kAdmin, ApiKeyRole::kVerifier}, "verify tokens"));
  TA_RETURN_IF_ERROR(token::ValidatePlaybackRequest(request.playback));
  const absl::Time now = clock_.Now();
  const std::string& org_id = request.playback.organization_id;
  std::shared_ptr<const OrgEntry> entry = FindOrg(org_id);
  if (entry == nullptr) {
    // Say what is wrong with the token itself first (rules 1-5), using a key
    // set that holds no key; past those rules the organisation is unknown.
    static const token::KeySet* const kNoKeys = [] {
      absl::StatusOr<token::KeySet> set =
          token::KeySet::Create("no-organization", {});
      return set.ok() ? new token::KeySet(std::move(*set)) : nullptr;
    }();
    if (kNoKeys != nullptr) {
      token::VerifyResult r =
          verifier_.Verify(request.jwt, request.playback, *kNoKeys, now);
      if (r.reason == token::DenyReason::kMalformed ||
          r.reason == token::DenyReason::kUnsupportedAlgorithm) {
        return r;
      }
    }
    return token::VerifyResult::Deny(
        token::DenyReason::kOrganizationDisabled,
        absl::StrCat("Organization ", org_id, " does not exist."));
  }
  Hooks hooks(this, entry.get());
  return verifier_.Verify(request.jwt, request.playback, *entry->key_set, now,
                          &hooks);
}

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
  {
    std::unique_lock<std::shared_mutex> lock(revoked_mu_);
    revoked_[t.id] = t.expires_at;
  }
  // Publish to watchers now rather than at the next poll. The revocation is
  // durable already; a failure here is retried by the poll.
  (void)feed_->CatchUp();
  TokenRecord r;
  r.state = storage::TokenStateAt(t, clock_.Now());
  r.token = std::move(t);
  return r;
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
  constexpr size_t kMaxWatchedOrganizations = 1000;
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
      return absl::PermissionDeniedError(
          absl::StrCat("organization_ids: an ", RoleName(caller.role),
                       " key watches its own organization only"));
    }
  }
  for (const std::string& id : ids) {
    if (FindOrg(id) == nullptr) return OrganizationNotFound(id);
  }
  return ids;
}

void TokenAuthority::ApplyRevocations(
    const std::vector<storage::RevocationEvent>& events) {
  if (events.empty()) return;
  std::unique_lock<std::shared_mutex> lock(revoked_mu_);
  for (const storage::RevocationEvent& e : events) {
    revoked_[e.token_id] = e.expires_at;
  }
}

bool TokenAuthority::IsRevoked(absl::string_view token_id) const {
  std::shared_lock<std::shared_mutex> lock(revoked_mu_);
  return revoked_.contains(token_id);
}

void TokenAuthority::ForgetExpiredRevocations(absl::Time now) {
  // A token expired for longer than the leeway is refused as EXPIRED anyway.
  const absl::Time cutoff = now - options_.leeway;
  std::unique_lock<std::shared_mutex> lock(revoked_mu_);
  absl::erase_if(revoked_, [cutoff](const auto& kv) {
    return kv.second <= cutoff - absl::Seconds(1);
  });
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
    if (!include_retired && it->state == storage::SigningKeyState::kRetired) {
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
  row.algorithm = std::string(token::AlgorithmName(algorithm));
  row.state = storage::SigningKeyState::kPrimary;
  TA_ASSIGN_OR_RETURN(row.private_key, key->ExportPrivateKey());
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;

  std::lock_guard<std::mutex> org_write(org_write_mu_);
  std::unique_lock<std::shared_mutex> key_change(key_change_mu_);
  TA_ASSIGN_OR_RETURN(storage::SigningKey stored,
                      store_->RotateSigningKey(row, audit));
  TA_RETURN_IF_ERROR(ReloadKeys(entry->org.id));
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
  std::shared_ptr<const OrgEntry> entry = FindOrg(org_id);
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
// AdminService.
// ---------------------------------------------------------------------------

absl::StatusOr<storage::Organization> TokenAuthority::CreateOrganization(
    const Caller& caller, absl::string_view name, bool secure_enabled) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "create organizations"));
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  if (absl::Status s =
          token::ValidatePrintableText(name, kMaxOrganizationNameLength);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  TA_ASSIGN_OR_RETURN(std::string id_bytes, random_.Bytes(8));
  storage::Organization org;
  org.id = absl::StrCat("org_", absl::BytesToHexString(id_bytes));
  org.name = std::string(name);
  org.secure_enabled = secure_enabled;
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;

  std::lock_guard<std::mutex> org_write(org_write_mu_);
  TA_ASSIGN_OR_RETURN(storage::Organization stored,
                      store_->CreateOrganization(org, audit));
  std::vector<storage::SigningKey> rows;
  TA_RETURN_IF_ERROR(EnsurePrimaryKey(stored, rows, audit));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      BuildOrgEntry(stored, std::move(rows)));
  PutOrg(std::move(entry));
  return stored;
}

absl::StatusOr<storage::Organization> TokenAuthority::UpdateOrganization(
    const Caller& caller, absl::string_view organization_id,
    bool secure_enabled, absl::string_view name) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "update organizations"));
  if (organization_id.empty()) {
    return absl::InvalidArgumentError("organization_id: required");
  }
  storage::OrganizationUpdate update;
  update.secure_enabled = secure_enabled;
  if (!name.empty()) {
    if (absl::Status s =
            token::ValidatePrintableText(name, kMaxOrganizationNameLength);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
    }
    update.name = std::string(name);
  }
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;

  std::lock_guard<std::mutex> org_write(org_write_mu_);
  std::shared_ptr<const OrgEntry> current = FindOrg(organization_id);
  if (current == nullptr) return OrganizationNotFound(organization_id);
  TA_ASSIGN_OR_RETURN(
      storage::Organization stored,
      store_->UpdateOrganization(organization_id, update, audit));
  auto entry = std::make_shared<OrgEntry>(*current);
  entry->org = stored;
  PutOrg(std::move(entry));
  return stored;
}

absl::StatusOr<storage::Page<storage::Organization>>
TokenAuthority::ListOrganizations(const Caller& caller,
                                  const storage::PageRequest& page) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "list organizations"));
  return store_->ListOrganizations(page);
}

absl::StatusOr<CreatedApiKey> TokenAuthority::CreateApiKey(
    const Caller& caller, absl::string_view organization_id, ApiKeyRole role) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "create API keys"));
  switch (role) {
    case ApiKeyRole::kAdmin:
      if (!organization_id.empty()) {
        return absl::InvalidArgumentError(
            "organization_id: admin keys act for every organization and "
            "take none");
      }
      break;
    case ApiKeyRole::kIssuer:
    case ApiKeyRole::kAuditor:
      if (organization_id.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "organization_id: required for ", RoleName(role), " keys"));
      }
      break;
    case ApiKeyRole::kVerifier:
      break;
  }
  if (!organization_id.empty() && FindOrg(organization_id) == nullptr) {
    return OrganizationNotFound(organization_id);
  }
  TA_ASSIGN_OR_RETURN(NewApiKey made, MakeApiKey(random_));
  storage::ApiKey key;
  key.id = made.key_id;
  key.organization_id = std::string(organization_id);
  key.role = role;
  key.secret_hash = made.secret_hash;
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored, store_->CreateApiKey(key, audit));
  stored.secret_hash = made.secret_hash;
  PutApiKey(stored);
  CreatedApiKey out;
  stored.secret_hash.clear();
  out.key = std::move(stored);
  out.secret = std::move(made.secret);
  return out;
}

absl::StatusOr<std::vector<storage::ApiKey>> TokenAuthority::ListApiKeys(
    const Caller& caller, absl::string_view organization_id,
    bool include_revoked) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "list API keys"));
  std::vector<storage::ApiKey> out;
  if (!organization_id.empty()) {
    if (FindOrg(organization_id) == nullptr) {
      return OrganizationNotFound(organization_id);
    }
    TA_ASSIGN_OR_RETURN(out,
                        store_->ListApiKeys(organization_id, include_revoked));
  } else {
    TA_ASSIGN_OR_RETURN(out, store_->ListApiKeys("", include_revoked));
    std::vector<std::string> org_ids;
    {
      std::shared_lock<std::shared_mutex> lock(orgs_mu_);
      for (const auto& [id, entry] : orgs_) org_ids.push_back(id);
    }
    std::sort(org_ids.begin(), org_ids.end());
    for (const std::string& id : org_ids) {
      TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys,
                          store_->ListApiKeys(id, include_revoked));
      for (storage::ApiKey& k : keys) out.push_back(std::move(k));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const storage::ApiKey& a, const storage::ApiKey& b) {
                       return a.created_at < b.created_at;
                     });
  }
  for (storage::ApiKey& k : out) k.secret_hash.clear();
  return out;
}

absl::StatusOr<storage::ApiKey> TokenAuthority::RevokeApiKey(
    const Caller& caller, absl::string_view api_key_id) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "revoke API keys"));
  if (api_key_id.empty()) {
    return absl::InvalidArgumentError("api_key_id: required");
  }
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored,
                      store_->RevokeApiKey(api_key_id, audit));
  {
    std::shared_lock<std::shared_mutex> lock(api_keys_mu_);
    auto it = api_keys_.find(api_key_id);
    if (it != api_keys_.end()) {
      it->second->revoked.store(true, std::memory_order_release);
    }
  }
  api_key_revocations_.WakeAll();
  stored.secret_hash.clear();
  return stored;
}

bool TokenAuthority::IsApiKeyActive(absl::string_view api_key_id) const {
  if (api_key_id.empty()) return true;
  std::shared_lock<std::shared_mutex> lock(api_keys_mu_);
  auto it = api_keys_.find(api_key_id);
  return it != api_keys_.end() &&
         !it->second->revoked.load(std::memory_order_acquire);
}

// ---------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------

absl::StatusOr<CreatedApiKey> TokenAuthority::CreateBootstrapAdminKey() {
  TA_ASSIGN_OR_RETURN(NewApiKey made, MakeApiKey(random_));
  storage::ApiKey key;
  key.id = made.key_id;
  key.role = ApiKeyRole::kAdmin;
  key.name = "bootstrap admin";
  key.secret_hash = made.secret_hash;
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored,
                      store_->CreateApiKey(key, storage::AuditContext{}));
  stored.secret_hash = made.secret_hash;
  PutApiKey(stored);
  stored.secret_hash.clear();
  CreatedApiKey out;
  out.key = std::move(stored);
  out.secret = std::move(made.secret);
  return out;
}

bool TokenAuthority::HasActiveAdminKey() const {
  std::shared_lock<std::shared_mutex> lock(api_keys_mu_);
  for (const auto& [id, entry] : api_keys_) {
    if (entry->role == ApiKeyRole::kAdmin && entry->organization_id.empty() &&
        !entry->revoked.load(std::memory_order_acquire)) {
      return true;
    }
  }
  return false;
}

absl::Status TokenAuthority::RunMaintenance() {
  const absl::Time now = clock_.Now();
  ForgetExpiredRevocations(now);
  std::vector<std::shared_ptr<const OrgEntry>> entries;
  {
    std::shared_lock<std::shared_mutex> lock(orgs_mu_);
    for (const auto& [id, entry] : orgs_) entries.push_back(entry);
  }
  absl::Status first_error;
  for (const std::shared_ptr<const OrgEntry>& entry : entries) {
    absl::Status s = RetireKeys(*entry, now);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status TokenAuthority::RetireKeys(const OrgEntry& entry, absl::Time now) {
  // entry.keys is in creation order and the primary is the newest key, so
  // every active key has a successor; the successor's creation time is when
  // this key stopped signing (see key_change_mu_).
  const absl::Time verify_now = now - options_.leeway;
  std::vector<std::string> due;
  for (size_t i = 0; i + 1 < entry.keys.size(); ++i) {
    const storage::SigningKey& k = entry.keys[i];
    if (k.state != storage::SigningKeyState::kActive) continue;
    const absl::Time demoted_at = entry.keys[i + 1].created_at;
    bool retire = verify_now >= demoted_at + options_.limits.max_lifetime;
    if (!retire) {
      // Tokens issued while this key (or an older one) was primary that
      // still verify: active or not yet valid, at now - leeway. issued_at is
      // whole seconds (truncated) and may equal the rotation instant, so
      // count up to the end of that second (newer keys' tokens of that
      // second only delay the retirement).
      storage::TokenFilter filter;
      filter.issued_before =
          absl::FromUnixSeconds(absl::ToUnixSeconds(demoted_at)) +
          absl::Seconds(1);
      filter.now = verify_now;
      int64_t live = 0;
      for (storage::TokenState state :
           {storage::TokenState::kActive, storage::TokenState::kNotYetValid}) {
        filter.state = state;
        TA_ASSIGN_OR_RETURN(int64_t n,
                            store_->CountTokens(entry.org.id, filter));
        live += n;
      }
      if (live == 0) {
        retire = true;
      } else if (live <= kExactKeyScanLimit) {
        // Few candidates: look at their key ids (the store cannot filter by
        // key), so that tokens of other keys do not keep this one alive.
        TA_ASSIGN_OR_RETURN(bool used,
                            HasLiveTokenOfKey(entry.org.id, k.kid, filter));
        retire = !used;
      }
    }
    if (retire) due.push_back(k.kid);
  }
  if (due.empty()) return absl::OkStatus();
  std::lock_guard<std::mutex> org_write(org_write_mu_);
  std::unique_lock<std::shared_mutex> key_change(key_change_mu_);
  for (const std::string& kid : due) {
    TA_RETURN_IF_ERROR(
        store_->RetireSigningKey(entry.org.id, kid, storage::AuditContext{})
            .status());
  }
  return ReloadKeys(entry.org.id);
}

absl::StatusOr<bool> TokenAuthority::HasLiveTokenOfKey(
    const std::string& organization_id, const std::string& kid,
    storage::TokenFilter filter) {
  for (storage::TokenState state :
       {storage::TokenState::kActive, storage::TokenState::kNotYetValid}) {
    filter.state = state;
    storage::PageRequest page;
    page.page_size = storage::kMaxPageSize;
    do {
      TA_ASSIGN_OR_RETURN(storage::Page<storage::Token> tokens,
                          store_->ListTokens(organization_id, filter, page));
      for (const storage::Token& t : tokens.items) {
        if (t.key_id == kid) return true;
      }
      page.page_token = std::move(tokens.next_page_token);
    } while (!page.page_token.empty());
  }
  return false;
}

void TokenAuthority::MaintenanceLoop() {
  const auto interval =
      absl::ToChronoMicroseconds(options_.maintenance_interval);
  std::unique_lock<std::mutex> lock(maintenance_mu_);
  while (!stop_) {
    maintenance_cv_.wait_for(lock, interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    // Errors (store busy or full) are retried at the next run.
    (void)RunMaintenance();
    lock.lock();
  }
}

}  // namespace token_authority::server

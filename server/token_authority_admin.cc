// TokenAuthority: AdminService (organisations and API keys) and the bootstrap
// admin key.
#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/api_key_registry.h"
#include "server/api_key_secret.h"
#include "server/organization_registry.h"
#include "server/token_authority.h"
#include "token/validation.h"

namespace token_authority::server {
namespace {

constexpr size_t kMaxOrganizationNameLength = 128;

// INVALID_ARGUMENT "name: ..." unless `name` is printable and short enough.
absl::Status ValidateOrganizationName(absl::string_view name) {
  if (absl::Status s =
          token::ValidatePrintableText(name, kMaxOrganizationNameLength);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  return absl::OkStatus();
}

// Which organisation a new key of `role` may have: issuer and auditor keys
// need one, admin keys must have none, verifier keys may have one.
absl::Status ValidateKeyOrganization(ApiKeyRole role,
                                     absl::string_view organization_id) {
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
        return absl::InvalidArgumentError(
            absl::StrCat("organization_id: required for ",
                         storage::ApiKeyRoleName(role), " keys"));
      }
      break;
    case ApiKeyRole::kVerifier:
      break;
  }
  return absl::OkStatus();
}

storage::AuditContext AuditBy(const Caller& caller) {
  storage::AuditContext audit;
  audit.actor = caller.api_key_id;
  return audit;
}

}  // namespace

absl::StatusOr<storage::Organization> TokenAuthority::CreateOrganization(
    const Caller& caller, absl::string_view name, bool secure_enabled) {
  TA_RETURN_IF_ERROR(
      RequireRole(caller, {ApiKeyRole::kAdmin}, "create organizations"));
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  TA_RETURN_IF_ERROR(ValidateOrganizationName(name));
  TA_ASSIGN_OR_RETURN(std::string id_bytes, random_.Bytes(8));
  storage::Organization org;
  org.id = absl::StrCat("org_", absl::BytesToHexString(id_bytes));
  org.name = std::string(name);
  org.secure_enabled = secure_enabled;
  return orgs_->Create(org, AuditBy(caller));
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
    TA_RETURN_IF_ERROR(ValidateOrganizationName(name));
    update.name = std::string(name);
  }
  return orgs_->Update(organization_id, update, AuditBy(caller));
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
  TA_RETURN_IF_ERROR(ValidateKeyOrganization(role, organization_id));
  if (!organization_id.empty() && orgs_->Find(organization_id) == nullptr) {
    return OrganizationNotFound(organization_id);
  }
  TA_ASSIGN_OR_RETURN(NewApiKey made, MakeApiKey(random_));
  storage::ApiKey key;
  key.id = made.key_id;
  key.organization_id = std::string(organization_id);
  key.role = role;
  key.secret_hash = made.secret_hash;
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored,
                      store_->CreateApiKey(key, AuditBy(caller)));
  stored.secret_hash = made.secret_hash;
  api_keys_->Put(stored);
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
    if (orgs_->Find(organization_id) == nullptr) {
      return OrganizationNotFound(organization_id);
    }
    TA_ASSIGN_OR_RETURN(out,
                        store_->ListApiKeys(organization_id, include_revoked));
  } else {
    TA_ASSIGN_OR_RETURN(out, store_->ListApiKeys("", include_revoked));
    std::vector<std::string> org_ids = orgs_->Ids();
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
  // The store refuses to revoke the last active admin key, checked in its
  // write transaction (so also across replicas); the operator's way out is
  // added here.
  absl::StatusOr<storage::ApiKey> revoked =
      store_->RevokeApiKey(api_key_id, AuditBy(caller));
  if (absl::IsFailedPrecondition(revoked.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        revoked.status().message(),
        ". Create another admin key first (tokenctl admin key create --role "
        "admin); to recover when no admin key works, stop the server and run "
        "token-authority admin-key reset --data-dir DIR"));
  }
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored, std::move(revoked));
  api_keys_->MarkRevoked(api_key_id);
  api_key_revocations_.WakeAll();
  stored.secret_hash.clear();
  return stored;
}

absl::StatusOr<CreatedApiKey> TokenAuthority::CreateBootstrapAdminKey(
    absl::string_view name, absl::string_view audit_detail) {
  TA_ASSIGN_OR_RETURN(NewApiKey made, MakeApiKey(random_));
  storage::ApiKey key;
  key.id = made.key_id;
  key.role = ApiKeyRole::kAdmin;
  key.name = std::string(name);
  key.secret_hash = made.secret_hash;
  storage::AuditContext audit;
  audit.detail = std::string(audit_detail);
  TA_ASSIGN_OR_RETURN(storage::ApiKey stored, store_->CreateApiKey(key, audit));
  stored.secret_hash = made.secret_hash;
  api_keys_->Put(stored);
  stored.secret_hash.clear();
  CreatedApiKey out;
  out.key = std::move(stored);
  out.secret = std::move(made.secret);
  return out;
}

}  // namespace token_authority::server

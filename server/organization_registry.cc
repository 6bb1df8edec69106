#include "server/organization_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/api_key_secret.h"
#include "token/algorithm.h"
#include "token/signing_key.h"

namespace token_authority::server {
namespace {

// The parsed key of `row` (of `organization_id`), reusing `previous`'s when it
// holds the same kid (rotation reloads every row). DataLoss when the row does
// not load.
absl::StatusOr<std::shared_ptr<const token::SigningKey>> KeyOfRow(
    absl::string_view organization_id, const storage::SigningKey& row,
    const OrgEntry* previous) {
  if (previous != nullptr) {
    if (const token::KeySetEntry* e = previous->key_set->Find(row.kid)) {
      return e->key;
    }
  }
  absl::StatusOr<std::unique_ptr<const token::SigningKey>> parsed =
      token::SigningKey::FromPrivateKey(row.algorithm, row.private_key,
                                        row.created_at);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat(
        "signing key ", row.kid, " of organization ", organization_id,
        " does not load: ", parsed.status().message()));
  }
  return std::shared_ptr<const token::SigningKey>(std::move(*parsed));
}

// Whether `entry` already holds `org` with the keys `rows` (kid, state and
// retirement; keys never change otherwise).
bool SameAsStored(const OrgEntry& entry, const storage::Organization& org,
                  const std::vector<storage::SigningKey>& rows) {
  if (entry.org.name != org.name ||
      entry.org.secure_enabled != org.secure_enabled ||
      entry.org.updated_at != org.updated_at ||
      entry.keys.size() != rows.size()) {
    return false;
  }
  for (const storage::SigningKey& row : rows) {
    auto it = std::find_if(
        entry.keys.begin(), entry.keys.end(),
        [&](const storage::SigningKey& k) { return k.kid == row.kid; });
    if (it == entry.keys.end() || it->state != row.state ||
        it->retired_at != row.retired_at) {
      return false;
    }
  }
  return true;
}

bool HasPrimary(const std::vector<storage::SigningKey>& rows) {
  return std::any_of(rows.begin(), rows.end(), [](const auto& k) {
    return k.state == token::KeyState::kPrimary;
  });
}

}  // namespace

absl::Status OrganizationNotFound(absl::string_view organization_id) {
  return absl::NotFoundError(
      absl::StrCat("organization ", organization_id, " not found"));
}

OrganizationRegistry::OrganizationRegistry(storage::TokenStore* store,
                                           const Clock& clock,
                                           RandomSource& random)
    : store_(store), clock_(clock), random_(random) {}

absl::StatusOr<std::vector<storage::Organization>>
OrganizationRegistry::Load() {
  TA_ASSIGN_OR_RETURN(std::vector<storage::Organization> orgs,
                      store_->ListAllOrganizations());
  TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> all_keys,
                      store_->ListAllSigningKeys());
  absl::flat_hash_map<std::string, std::vector<storage::SigningKey>> by_org;
  for (storage::SigningKey& k : all_keys) {
    by_org[k.organization_id].push_back(std::move(k));
  }
  MutexLock write(&write_mu_);
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
                        Build(org, std::move(rows)));
    Put(std::move(entry), changed_at);
  }
  return orgs;
}

std::shared_ptr<const OrgEntry> OrganizationRegistry::Find(
    absl::string_view id) const {
  ReaderLock lock(&mu_);
  auto it = orgs_.find(id);
  return it == orgs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const OrgEntry>> OrganizationRegistry::All() const {
  std::vector<std::shared_ptr<const OrgEntry>> out;
  ReaderLock lock(&mu_);
  out.reserve(orgs_.size());
  for (const auto& [id, entry] : orgs_) out.push_back(entry);
  return out;
}

std::vector<std::string> OrganizationRegistry::Ids() const {
  std::vector<std::string> out;
  ReaderLock lock(&mu_);
  out.reserve(orgs_.size());
  for (const auto& [id, entry] : orgs_) out.push_back(id);
  return out;
}

OrganizationRegistry::SigningView OrganizationRegistry::ReadForSigning(
    absl::string_view id) const {
  ReaderLock key_change(&key_change_mu_);
  SigningView out;
  out.now = clock_.Now();
  out.entry = Find(id);
  return out;
}

absl::StatusOr<storage::Organization> OrganizationRegistry::Create(
    const storage::Organization& org, const storage::AuditContext& audit) {
  MutexLock write(&write_mu_);
  TA_ASSIGN_OR_RETURN(storage::Organization stored,
                      store_->CreateOrganization(org, audit));
  std::vector<storage::SigningKey> rows;
  TA_RETURN_IF_ERROR(EnsurePrimaryKey(stored, rows, audit));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      Build(stored, std::move(rows)));
  Put(std::move(entry));
  return stored;
}

absl::StatusOr<storage::Organization> OrganizationRegistry::Update(
    absl::string_view id, const storage::OrganizationUpdate& update,
    const storage::AuditContext& audit) {
  MutexLock write(&write_mu_);
  std::shared_ptr<const OrgEntry> current = Find(id);
  if (current == nullptr) return OrganizationNotFound(id);
  TA_ASSIGN_OR_RETURN(storage::Organization stored,
                      store_->UpdateOrganization(id, update, audit));
  auto entry = std::make_shared<OrgEntry>(*current);
  entry->org = stored;
  Put(std::move(entry));
  return stored;
}

absl::Status OrganizationRegistry::ChangeKeys(
    const std::string& organization_id,
    const std::function<absl::Status()>& store_write) {
  MutexLock write(&write_mu_);
  WriterLock key_change(&key_change_mu_);
  TA_RETURN_IF_ERROR(store_write());
  return Reload(organization_id);
}

absl::Status OrganizationRegistry::Refresh(const std::string& organization_id) {
  MutexLock write(&write_mu_);
  TA_ASSIGN_OR_RETURN(storage::Organization org,
                      store_->GetOrganization(organization_id));
  TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> rows,
                      store_->ListSigningKeys(organization_id));
  std::shared_ptr<const OrgEntry> current = Find(organization_id);
  // A new organisation whose creator has not yet added its primary key:
  // that key's own change installs it.
  if (current == nullptr && !HasPrimary(rows)) return absl::OkStatus();
  if (current != nullptr && SameAsStored(*current, org, rows)) {
    return absl::OkStatus();
  }
  WriterLock key_change(&key_change_mu_);
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      Build(std::move(org), std::move(rows)));
  Put(std::move(entry));
  return absl::OkStatus();
}

absl::Status OrganizationRegistry::EnsurePrimaryKey(
    const storage::Organization& org, std::vector<storage::SigningKey>& rows,
    const storage::AuditContext& audit) {
  if (HasPrimary(rows)) return absl::OkStatus();
  TA_ASSIGN_OR_RETURN(std::unique_ptr<const token::SigningKey> key,
                      token::SigningKey::Generate(token::kDefaultAlgorithm,
                                                  clock_.Now(), random_));
  storage::SigningKey row;
  row.organization_id = org.id;
  row.kid = key->kid();
  row.algorithm = key->algorithm();
  row.state = token::KeyState::kPrimary;
  TA_ASSIGN_OR_RETURN(row.private_key, key->ExportPrivateKey());
  absl::StatusOr<storage::SigningKey> stored =
      store_->InsertSigningKey(row, audit);
  if (absl::IsFailedPrecondition(stored.status())) {
    // Another replica gave it a primary key first (it started, or created
    // the organisation, at the same moment; the store lets one of them):
    // that key serves.
    TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> now,
                        store_->ListSigningKeys(org.id));
    if (HasPrimary(now)) {
      rows = std::move(now);
      return absl::OkStatus();
    }
  }
  TA_RETURN_IF_ERROR(stored.status());
  rows.push_back(*std::move(stored));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const OrgEntry>> OrganizationRegistry::Build(
    storage::Organization org, std::vector<storage::SigningKey> rows) const {
  std::sort(rows.begin(), rows.end(),
            [](const storage::SigningKey& a, const storage::SigningKey& b) {
              return a.created_at < b.created_at;
            });
  std::shared_ptr<const OrgEntry> previous = Find(org.id);
  auto entry = std::make_shared<OrgEntry>();
  std::vector<token::KeySetEntry> set_entries;
  for (storage::SigningKey& row : rows) {
    TA_ASSIGN_OR_RETURN(std::shared_ptr<const token::SigningKey> key,
                        KeyOfRow(org.id, row, previous.get()));
    set_entries.push_back(token::KeySetEntry{std::move(key), row.state});
    row.private_key.clear();
    entry->keys.push_back(std::move(row));
  }
  TA_ASSIGN_OR_RETURN(token::KeySet set,
                      token::KeySet::Create(org.id, std::move(set_entries)));
  entry->jwks_json = set.ToJwksJson();
  entry->jwks_sha256 = absl::BytesToHexString(Sha256Digest(entry->jwks_json));
  entry->key_set = std::make_shared<const token::KeySet>(std::move(set));
  entry->org = std::move(org);
  return std::shared_ptr<const OrgEntry>(std::move(entry));
}

void OrganizationRegistry::Put(std::shared_ptr<const OrgEntry> entry,
                               std::optional<absl::Time> changed_at) {
  OrganizationState state;
  state.organization_id = entry->org.id;
  state.secure_enabled = entry->org.secure_enabled;
  state.jwks_sha256 = entry->jwks_sha256;
  state.changed_at = changed_at.value_or(clock_.Now());
  {
    WriterLock lock(&mu_);
    orgs_[entry->org.id] = std::move(entry);
  }
  // VerifyToken already answers with the new entry; now tell the watchers.
  if (states_.Publish(std::move(state))) states_.WakeAll();
}

absl::Status OrganizationRegistry::Reload(const std::string& organization_id) {
  std::shared_ptr<const OrgEntry> current = Find(organization_id);
  if (current == nullptr) return OrganizationNotFound(organization_id);
  TA_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> rows,
                      store_->ListSigningKeys(organization_id));
  TA_ASSIGN_OR_RETURN(std::shared_ptr<const OrgEntry> entry,
                      Build(current->org, std::move(rows)));
  Put(std::move(entry));
  return absl::OkStatus();
}

}  // namespace token_authority::server

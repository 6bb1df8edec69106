#include "token/key_set.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/jwk.h"
#include "token/jws.h"
#include "token/validation.h"

namespace token_authority::token {

absl::StatusOr<KeySet> KeySet::Create(std::string organization_id,
                                      std::vector<KeySetEntry> entries) {
  absl::Status st = ValidateOrganizationId(organization_id);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key set: organisation id: ", st.message()));
  }
  KeySet set;
  static std::atomic<uint64_t> next_generation{1};
  set.generation_ = next_generation.fetch_add(1, std::memory_order_relaxed);
  set.organization_id_ = std::move(organization_id);
  set.entries_ = std::move(entries);
  for (size_t i = 0; i < set.entries_.size(); ++i) {
    const KeySetEntry& e = set.entries_[i];
    if (e.key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("key set: entry ", i + 1, " has no key"));
    }
    if (e.state != KeyState::kPrimary && e.state != KeyState::kActive &&
        e.state != KeyState::kRetired) {
      return absl::InvalidArgumentError(
          absl::StrCat("key set: key ", e.key->kid(), " has no valid state"));
    }
    if (!set.by_kid_.emplace(e.key->kid(), i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("key set: kid ", e.key->kid(), " appears twice"));
    }
    if (e.state == KeyState::kPrimary) {
      if (set.primary_ != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("key set: two primary keys (", set.primary_->kid(),
                         " and ", e.key->kid(), ")"));
      }
      if (!e.key->can_sign()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "key set: primary key ", e.key->kid(), " cannot sign"));
      }
      set.primary_ = e.key.get();
    }
  }
  return set;
}

absl::StatusOr<KeySet> KeySet::FromJwks(std::string organization_id,
                                        absl::string_view jwks_json,
                                        absl::Time now) {
  TA_ASSIGN_OR_RETURN(auto keys, ParseJwks(jwks_json, now));
  std::vector<KeySetEntry> entries;
  entries.reserve(keys.size());
  for (auto& k : keys) entries.push_back({std::move(k), KeyState::kActive});
  return Create(std::move(organization_id), std::move(entries));
}

const KeySetEntry* KeySet::Find(absl::string_view kid) const {
  auto it = by_kid_.find(kid);
  if (it == by_kid_.end()) return nullptr;
  return &entries_[it->second];
}

std::string KeySet::ToJwksJson() const {
  std::vector<const SigningKey*> keys;
  if (primary_ != nullptr) keys.push_back(primary_);
  for (const KeySetEntry& e : entries_) {
    if (e.state == KeyState::kActive) keys.push_back(e.key.get());
  }
  return token::ToJwksJson(keys);
}

absl::StatusOr<SignedToken> KeySet::Sign(const Claims& claims) const {
  if (primary_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "organisation ", organization_id_, " has no primary signing key"));
  }
  if (claims.organization_id() != organization_id_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "org: the claims are for organisation ", claims.organization_id(),
        ", the keys belong to ", organization_id_));
  }
  TA_ASSIGN_OR_RETURN(std::string jwt, EncodeJws(claims.ToJson(), *primary_));
  return SignedToken{std::move(jwt), primary_->kid(), primary_->algorithm()};
}

}  // namespace token_authority::token

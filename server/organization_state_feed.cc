#include "server/organization_state_feed.h"

#include <utility>

namespace token_authority::server {

bool OrganizationStateFeed::Publish(OrganizationState state) {
  MutexLock lock(&state_mu_);
  auto it = states_.find(state.organization_id);
  if (it != states_.end() &&
      it->second.secure_enabled == state.secure_enabled &&
      it->second.jwks_sha256 == state.jwks_sha256) {
    return false;
  }
  state.version = ++last_version_;
  const std::string id = state.organization_id;
  states_.insert_or_assign(id, std::move(state));
  return true;
}

void OrganizationStateFeed::WakeAll() { subscribers_.WakeAll(); }

std::optional<OrganizationState> OrganizationStateFeed::Get(
    absl::string_view organization_id) const {
  MutexLock lock(&state_mu_);
  auto it = states_.find(organization_id);
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

std::vector<OrganizationState> OrganizationStateFeed::ReadChanged(
    const std::vector<std::string>& organization_ids,
    absl::flat_hash_map<std::string, uint64_t>* sent_versions) const {
  std::vector<OrganizationState> out;
  MutexLock lock(&state_mu_);
  for (const std::string& id : organization_ids) {
    auto it = states_.find(id);
    if (it == states_.end()) continue;
    uint64_t& sent = (*sent_versions)[id];
    if (it->second.version <= sent) continue;
    sent = it->second.version;
    out.push_back(it->second);
  }
  return out;
}

uint64_t OrganizationStateFeed::Subscribe(WakeFn wake) {
  return subscribers_.Subscribe(std::move(wake));
}

void OrganizationStateFeed::Unsubscribe(uint64_t id) {
  subscribers_.Unsubscribe(id);
}

void OrganizationStateFeed::Close() { subscribers_.Close(); }

}  // namespace token_authority::server

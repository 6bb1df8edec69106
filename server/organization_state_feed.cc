#include "server/organization_state_feed.h"

#include <utility>

namespace token_authority::server {

bool OrganizationStateFeed::Publish(OrganizationState state) {
  std::lock_guard<std::mutex> lock(state_mu_);
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

void OrganizationStateFeed::WakeAll() {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  if (closed_) return;
  for (auto& [id, wake] : subscribers_) wake(false);
}

std::optional<OrganizationState> OrganizationStateFeed::Get(
    absl::string_view organization_id) const {
  std::lock_guard<std::mutex> lock(state_mu_);
  auto it = states_.find(organization_id);
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

std::vector<OrganizationState> OrganizationStateFeed::ReadChanged(
    const std::vector<std::string>& organization_ids,
    absl::flat_hash_map<std::string, uint64_t>* sent_versions) const {
  std::vector<OrganizationState> out;
  std::lock_guard<std::mutex> lock(state_mu_);
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
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  if (closed_) {
    wake(true);
    return 0;
  }
  const uint64_t id = next_id_++;
  subscribers_.emplace(id, std::move(wake));
  return id;
}

void OrganizationStateFeed::Unsubscribe(uint64_t id) {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  subscribers_.erase(id);
}

void OrganizationStateFeed::Close() {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& [id, wake] : subscribers_) wake(true);
  subscribers_.clear();
}

}  // namespace token_authority::server

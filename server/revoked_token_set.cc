#include "server/revoked_token_set.h"

namespace token_authority::server {

void RevokedTokenSet::Add(absl::string_view token_id, absl::Time expires_at) {
  WriterLock lock(&mu_);
  revoked_[token_id] = expires_at;
}

void RevokedTokenSet::Apply(
    const std::vector<storage::RevocationEvent>& events) {
  if (events.empty()) return;
  WriterLock lock(&mu_);
  for (const storage::RevocationEvent& e : events) {
    revoked_[e.token_id] = e.expires_at;
  }
}

bool RevokedTokenSet::Contains(absl::string_view token_id) const {
  ReaderLock lock(&mu_);
  return revoked_.contains(token_id);
}

void RevokedTokenSet::ForgetExpired(absl::Time now) {
  // A token expired for longer than the leeway is refused as EXPIRED anyway.
  const absl::Time cutoff = now - leeway_;
  WriterLock lock(&mu_);
  absl::erase_if(revoked_, [cutoff](const auto& kv) {
    return kv.second <= cutoff - absl::Seconds(1);
  });
}

size_t RevokedTokenSet::size() const {
  ReaderLock lock(&mu_);
  return revoked_.size();
}

}  // namespace token_authority::server

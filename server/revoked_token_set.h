// RevokedTokenSet: the ids of revoked, unexpired tokens, in memory, so that
// VerifyToken reads no database. Internal to TokenAuthority, which fills it
// from the store at start, from the RevocationFeed (every revocation any
// writer committed) and right after its own RevokeToken commits.
//
// Thread-safety: every method may be called concurrently; the lock is a leaf.
#ifndef SERVER_REVOKED_TOKEN_SET_H_
#define SERVER_REVOKED_TOKEN_SET_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "storage/token_store.h"

namespace token_authority::server {

class RevokedTokenSet {
 public:
  // Empty. `leeway`: how long past its expiry a token still verifies (its
  // revocation is kept that long).
  explicit RevokedTokenSet(absl::Duration leeway) : leeway_(leeway) {}
  RevokedTokenSet(const RevokedTokenSet&) = delete;
  RevokedTokenSet& operator=(const RevokedTokenSet&) = delete;

  // Records that `token_id`, expiring at `expires_at`, is revoked.
  void Add(absl::string_view token_id, absl::Time expires_at);
  // Add for each event.
  void Apply(const std::vector<storage::RevocationEvent>& events);
  // Whether `token_id` was recorded (and not forgotten).
  bool Contains(absl::string_view token_id) const;
  // Forgets the tokens expired for longer than the leeway at `now`: they are
  // refused as EXPIRED anyway.
  void ForgetExpired(absl::Time now);
  size_t size() const;

 private:
  const absl::Duration leeway_;
  mutable SharedMutex mu_;
  // Revoked token id -> its expiry.
  absl::flat_hash_map<std::string, absl::Time> revoked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::server

#endif  // SERVER_REVOKED_TOKEN_SET_H_

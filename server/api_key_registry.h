// ApiKeyRegistry: every API key the authority knows, in memory, so that
// authenticating a call reads no database. Internal to TokenAuthority.
//
// Holds each key's id, role, organisation, secret hash and revocation, a
// per-key token bucket (the rate limit) and when the key's last_used_at was
// last refreshed in the store. Keys are added after the store committed them
// (Put) and marked revoked after the store revoked them (MarkRevoked).
//
// Thread-safety: every method may be called concurrently. Locks: the map's
// lock and each key's bucket lock are leaves (nothing else is taken under
// them; the store is called with neither held).
#ifndef SERVER_API_KEY_REGISTRY_H_
#define SERVER_API_KEY_REGISTRY_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "server/caller.h"
#include "storage/token_store.h"

namespace token_authority::server {

struct ApiKeyRegistryOptions {
  // Sustained requests per second and burst size per key; a rate of 0
  // disables the limit, a burst of 0 means max(1, rate).
  double rate_limit_per_second = 0;
  double rate_limit_burst = 0;
  // How often at most a key's last_used_at is refreshed in the store.
  absl::Duration touch_interval = absl::Minutes(1);
};

class ApiKeyRegistry {
 public:
  // Empty. `store` (for TouchApiKey) and `clock` are not owned and must
  // outlive the registry.
  ApiKeyRegistry(ApiKeyRegistryOptions options, storage::TokenStore* store,
                 const Clock& clock);
  ~ApiKeyRegistry();
  ApiKeyRegistry(const ApiKeyRegistry&) = delete;
  ApiKeyRegistry& operator=(const ApiKeyRegistry&) = delete;

  // The caller behind `api_key_secret`, acting for `organization_header`
  // (only admin keys may name an organisation other than their own).
  // UNAUTHENTICATED for a missing, malformed, unknown or revoked key;
  // PERMISSION_DENIED for a non-admin key naming another organisation;
  // RESOURCE_EXHAUSTED "... retry after <n> ms" over the rate limit. Reads no
  // database; refreshes the key's last_used_at at most every touch_interval
  // (a failure there only delays it).
  absl::StatusOr<Caller> Authenticate(absl::string_view api_key_secret,
                                      absl::string_view organization_header);

  // Adds (or replaces) `key`, which must carry its secret hash; its
  // revocation is taken from revoked_at.
  void Put(const storage::ApiKey& key);
  // Put, unless a key with that id is known already (which keeps its rate
  // limit and revocation); returns whether it was added.
  bool PutIfAbsent(const storage::ApiKey& key);
  // Marks the key revoked (effective for every later call); unknown ids are
  // ignored.
  void MarkRevoked(absl::string_view api_key_id);
  // Whether `api_key_id` names a known, unrevoked key ("" counts as active:
  // the service itself).
  bool IsActive(absl::string_view api_key_id) const;
  // Whether a service-wide (no organisation), unrevoked admin key exists.
  bool HasActiveAdminKey() const;

 private:
  struct Entry;

  std::shared_ptr<Entry> Find(absl::string_view api_key_id) const;
  // Refreshes the key's last_used_at when touch_interval has passed.
  void Touch(Entry& entry, absl::Time now);

  const ApiKeyRegistryOptions options_;
  storage::TokenStore* const store_;
  const Clock& clock_;

  mutable SharedMutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Entry>> keys_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority::server

#endif  // SERVER_API_KEY_REGISTRY_H_

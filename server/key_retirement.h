// KeyRetirement: retires an organisation's signing keys once no token they
// signed can still verify. Internal to TokenAuthority, whose maintenance
// (RunMaintenance) runs it for every organisation.
//
// A non-primary, active key stopped signing when its successor was created
// (OrganizationRegistry::ReadForSigning orders signing against rotation). It
// is retired when max_lifetime has passed since then (beyond the leeway), or
// when no live token issued before then was signed by it: checked by key id
// when at most a few thousand such tokens are live, otherwise conservatively
// by time.
//
// Thread-safety: RetireDueKeys may be called concurrently (the registry
// serialises the changes); it takes no lock of its own.
#ifndef SERVER_KEY_RETIREMENT_H_
#define SERVER_KEY_RETIREMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/organization_registry.h"
#include "storage/token_store.h"

namespace token_authority::server {

class KeyRetirement {
 public:
  // `store` and `orgs` are not owned and must outlive this object. `leeway`:
  // how long past exp a token still verifies; `max_lifetime`: the longest
  // lifetime a token may have.
  KeyRetirement(storage::TokenStore* store, OrganizationRegistry* orgs,
                absl::Duration leeway, absl::Duration max_lifetime)
      : store_(store),
        orgs_(orgs),
        leeway_(leeway),
        max_lifetime_(max_lifetime) {}

  // Retires the keys of `entry`'s organisation that are due at `now` and
  // installs the organisation's new entry. Errors: the store's (keys retired
  // before the error stay retired in the store).
  absl::Status RetireDueKeys(const OrgEntry& entry, absl::Time now);

 private:
  // The kids of `entry`'s keys due for retirement at `now`.
  absl::StatusOr<std::vector<std::string>> DueKeys(const OrgEntry& entry,
                                                   absl::Time now);
  // Whether the active key entry.keys[index] is due, tokens being checked at
  // `verify_now` (now - leeway).
  absl::StatusOr<bool> IsDue(const OrgEntry& entry, size_t index,
                             absl::Time verify_now);
  // Whether a token matching `filter` (active or not yet valid) was signed
  // by `kid`.
  absl::StatusOr<bool> HasLiveTokenOfKey(const std::string& organization_id,
                                         const std::string& kid,
                                         storage::TokenFilter filter);

  storage::TokenStore* const store_;
  OrganizationRegistry* const orgs_;
  const absl::Duration leeway_;
  const absl::Duration max_lifetime_;
};

}  // namespace token_authority::server

#endif  // SERVER_KEY_RETIREMENT_H_

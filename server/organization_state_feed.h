// The broadcaster behind TokenService.WatchOrganizationStates: the latest
// state of every organisation that verifiers need (the secure playback flag
// and the digest of its published JWK Set), with a version per change.
//
// The TokenAuthority core publishes an organisation's state each time it
// replaces the organisation's in-memory entry (creation, UpdateOrganization,
// rotation, retirement, start-up), after the store committed the change.
// Publish() keeps only the latest state per organisation and gives it the
// next feed-wide version when it differs from the previous one; unchanged
// states are ignored. Watchers are level-triggered: on each wake they read
// the states of their organisations whose version is newer than the one
// they sent last (ReadChanged), so they always converge on the latest state
// and never need a cursor across reconnects (a reconnect sends a snapshot).
// Intermediate states of quick successive changes may be skipped.
//
// Thread-safety: every method may be called concurrently. Lock order:
// the WakeList's lock (held while wake functions run) before state_mu_.
#ifndef SERVER_ORGANIZATION_STATE_FEED_H_
#define SERVER_ORGANIZATION_STATE_FEED_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "server/wake_list.h"

namespace token_authority::server {

struct OrganizationState {
  std::string organization_id;
  bool secure_enabled = false;
  // Lowercase hex SHA-256 of the organisation's GetJwks document.
  std::string jwks_sha256;
  // When the change was applied (see the proto's changed_at).
  absl::Time changed_at = absl::UnixEpoch();
  // Feed-wide, increasing with every published change; 0 before the first.
  uint64_t version = 0;
};

class OrganizationStateFeed {
 public:
  // Called when states newer than a subscriber's last read may be available
  // (`closing` false) or once when the feed closes (`closing` true, the last
  // call). Runs with the subscriber lock held: must not block for long and
  // must not call Subscribe/Unsubscribe; may call ReadChanged/Get.
  using WakeFn = WakeList::WakeFn;

  OrganizationStateFeed() = default;
  OrganizationStateFeed(const OrganizationStateFeed&) = delete;
  OrganizationStateFeed& operator=(const OrganizationStateFeed&) = delete;

  // Records `state` (its version is ignored and assigned here) as the
  // organisation's latest. Returns true when it differs from the previous
  // state in secure_enabled or jwks_sha256 (or the organisation is new):
  // the caller then calls WakeAll(), outside its own locks. Callers
  // serialise publications of one organisation (the core does so under its
  // organisation lock) so that the latest published is the latest applied.
  bool Publish(OrganizationState state);

  // Wakes every subscriber (no-op after Close()).
  void WakeAll();

  // The latest state of the organisation, nullopt if never published.
  std::optional<OrganizationState> Get(absl::string_view organization_id) const;

  // For each of `organization_ids` (in that order) whose latest version is
  // greater than `*sent_versions` says (0 when absent), the state; updates
  // `*sent_versions` with the versions returned. Organisations never
  // published are skipped.
  std::vector<OrganizationState> ReadChanged(
      const std::vector<std::string>& organization_ids,
      absl::flat_hash_map<std::string, uint64_t>* sent_versions) const;

  // Registers `wake`; returns an id for Unsubscribe (0 when the feed is
  // already closed: then `wake(true)` ran before this returned).
  uint64_t Subscribe(WakeFn wake);
  // After this returns, the function registered under `id` is not running
  // and will not be called again. Unknown ids are ignored.
  void Unsubscribe(uint64_t id);

  // Tells every subscriber the feed is closing (the server is going away).
  // Idempotent; Publish keeps recording afterwards but wakes nobody.
  void Close();

 private:
  mutable Mutex state_mu_;
  absl::flat_hash_map<std::string, OrganizationState> states_
      ABSL_GUARDED_BY(state_mu_);
  uint64_t last_version_ ABSL_GUARDED_BY(state_mu_) = 0;

  WakeList subscribers_;
};

}  // namespace token_authority::server

#endif  // SERVER_ORGANIZATION_STATE_FEED_H_

// OrganizationRegistry: every organisation the authority serves, in memory,
// in step with the store. Internal to TokenAuthority.
//
// Each organisation is an immutable OrgEntry (its record, its signing keys
// without private material, its KeySet and JWK Set) replaced whole on every
// change (copy-on-write), so that readers (VerifyToken, IssueToken) take a
// shared_ptr under a short shared lock and never wait for a change. Every
// change goes to the store first and is installed after its COMMIT; each
// installed entry's verifier-facing state (secure flag, digest of the JWK
// Set) is published to state_feed() for WatchOrganizationStates.
//
// Thread-safety: every method may be called concurrently. Lock order:
// write_mu_ -> key_change_mu_ -> mu_ -> (the state feed's locks); the store
// is called with write_mu_ (and, for key changes, key_change_mu_) held.
#ifndef SERVER_ORGANIZATION_REGISTRY_H_
#define SERVER_ORGANIZATION_REGISTRY_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/random.h"
#include "server/organization_state_feed.h"
#include "storage/token_store.h"
#include "token/key_set.h"

namespace token_authority::server {

// One organisation as held in memory. Immutable once installed.
struct OrgEntry {
  storage::Organization org;
  // Creation order, private material cleared.
  std::vector<storage::SigningKey> keys;
  std::shared_ptr<const token::KeySet> key_set;
  std::string jwks_json;
  // Lowercase hex SHA-256 of jwks_json (OrganizationStateEvent.jwks_sha256).
  std::string jwks_sha256;
};

// NOT_FOUND "organization <id> not found".
absl::Status OrganizationNotFound(absl::string_view organization_id);

class OrganizationRegistry {
 public:
  // Empty. `store`, `clock` and `random` are not owned and must outlive the
  // registry.
  OrganizationRegistry(storage::TokenStore* store, const Clock& clock,
                       RandomSource& random);
  OrganizationRegistry(const OrganizationRegistry&) = delete;
  OrganizationRegistry& operator=(const OrganizationRegistry&) = delete;

  // Loads every organisation and its signing keys from the store, gives an
  // organisation left without a primary key (a crash between its creation
  // and its key's) a new ES256 one, installs them and publishes their
  // states. Returns the organisations, in the store's order. Call once,
  // before the registry is shared. Errors: the store's; DataLoss if a stored
  // signing key does not load.
  absl::StatusOr<std::vector<storage::Organization>> Load();

  // The organisation's entry, or nullptr. Reads no database.
  std::shared_ptr<const OrgEntry> Find(absl::string_view id) const;
  // Every entry, in no particular order.
  std::vector<std::shared_ptr<const OrgEntry>> All() const;
  // Every organisation id, in no particular order.
  std::vector<std::string> Ids() const;

  // The clock's now and the organisation's entry (nullptr if unknown), read
  // together, exclusive of ChangeKeys: a token signed by a key that is no
  // longer primary was issued before the next key's creation time (what key
  // retirement relies on).
  struct SigningView {
    absl::Time now;
    std::shared_ptr<const OrgEntry> entry;
  };
  SigningView ReadForSigning(absl::string_view id) const;

  // Creates `org` in the store with an ES256 primary key and installs it;
  // returns the stored record. Serialised with every other change. Errors:
  // the store's.
  absl::StatusOr<storage::Organization> Create(
      const storage::Organization& org, const storage::AuditContext& audit);
  // Applies `update` to the organisation in the store and installs the
  // stored record (its keys unchanged); returns it. Serialised with every
  // other change. NOT_FOUND for an unknown organisation; the store's errors.
  absl::StatusOr<storage::Organization> Update(
      absl::string_view id, const storage::OrganizationUpdate& update,
      const storage::AuditContext& audit);
  // Runs `store_write` (a rotation or retirement of the organisation's keys
  // in the store), serialised with every other change and exclusive of
  // ReadForSigning, then reloads the organisation's keys from the store and
  // installs them. Errors: store_write's (then nothing is reloaded); NOT_FOUND
  // for an unknown organisation; the store's; DataLoss.
  absl::Status ChangeKeys(const std::string& organization_id,
                          const std::function<absl::Status()>& store_write);

  // Installs the organisation as the store has it now (record and keys),
  // for a change made by another replica: a new organisation (once it has
  // a primary key; until then it is skipped) or a changed one; an entry
  // that did not change is left alone, and a state is published only when
  // it changed. Serialised with every other change and exclusive of
  // ReadForSigning. Errors: the store's (NotFound for an unknown
  // organisation); DataLoss.
  absl::Status Refresh(const std::string& organization_id);

  // Every organisation's latest published state.
  OrganizationStateFeed& state_feed() { return states_; }

 private:
  // Adds a new primary key to `rows` (inserted in the store with `audit`)
  // unless one of them is primary.
  absl::Status EnsurePrimaryKey(const storage::Organization& org,
                                std::vector<storage::SigningKey>& rows,
                                const storage::AuditContext& audit);
  // The entry of `org` with the keys `rows` (parsed, reusing the keys of the
  // installed entry). DataLoss for a key that does not load.
  absl::StatusOr<std::shared_ptr<const OrgEntry>> Build(
      storage::Organization org, std::vector<storage::SigningKey> rows) const;
  // Installs `entry` and publishes its state (changed_at: `changed_at`, or
  // the clock's now when unset).
  void Put(std::shared_ptr<const OrgEntry> entry,
           std::optional<absl::Time> changed_at = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Reads the organisation's keys from the store and installs them.
  absl::Status Reload(const std::string& organization_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  storage::TokenStore* const store_;
  const Clock& clock_;
  RandomSource& random_;

  // Serialises every change of an entry (creation, update, rotation,
  // retirement), held across the store write, so that none is lost and the
  // latest published state is the latest applied.
  Mutex write_mu_;
  // Held shared by ReadForSigning, exclusively by ChangeKeys around its
  // store write. Guards no member: it orders signing against key changes.
  mutable SharedMutex key_change_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  mutable SharedMutex mu_ ABSL_ACQUIRED_AFTER(key_change_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const OrgEntry>> orgs_
      ABSL_GUARDED_BY(mu_);

  OrganizationStateFeed states_;
};

}  // namespace token_authority::server

#endif  // SERVER_ORGANIZATION_REGISTRY_H_

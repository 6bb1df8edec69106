// LocalVerifier: verifies playback tokens in-process, for edges, with the
// token core's rules (token::TokenVerifier) and the same DenyReasons as the
// server's VerifyToken.
//
// It holds one key set per organisation, built from the organisation's JWK
// Set (KeyService.GetJwks), and a revocation set kept fresh by a background
// thread that follows TokenService.WatchRevocations. When the stream breaks
// the thread reconnects with exponential backoff and jitter, resuming after
// the last sequence it saw, so no revocation is missed. Revocations are
// forgotten once their token has expired beyond the leeway (it is refused as
// EXPIRED from then on).
//
// Organisation state: a second background thread follows
// TokenService.WatchOrganizationStates for the organisations whose JWK Set
// it holds. The server sends each one's current state when the stream opens
// and every change within 100 ms: `secure_enabled` and the SHA-256 of the
// organisation's current JWK Set. secure_enabled = false makes Verify refuse
// the organisation's tokens with ORGANIZATION_DISABLED and the server's
// sentence ("Secure playback is not enabled for organisation <id>."), true
// lifts it; a digest that differs from the installed JWK Set's fetches the
// set again at once, so a token signed by a rotated-in key verifies without a
// restart and without first being refused. The stream reconnects with the
// same backoff; a reconnect starts with a fresh snapshot, so no cursor is
// needed and nothing is missed (changes in between are folded into it).
// Why a level-triggered state stream rather than the JWK Set refresh alone:
// the server keeps serving a disabled organisation's JWK Set, so polling
// GetJwks never learns of a disablement, and polling fast enough to notice a
// rotation within a second would be a request per organisation per second.
// When the server does not implement the RPC (UNIMPLEMENTED, an older
// server), the thread stops and the verifier behaves as below.
//
// A third background thread refreshes the JWK Sets periodically and soon
// after a token names a key the verifier does not know (a safety net for a
// lost state stream), at most once per `unknown_key_refresh_interval` per
// organisation. A refresh answered with FAILED_PRECONDITION or NOT_FOUND
// marks the organisation disabled (DENY_REASON_ORGANIZATION_DISABLED) until a
// later refresh succeeds; an organisation fetched later for the first time
// is added to the state stream (it reconnects).
//
// A token of an organisation the verifier was not given is refused as the
// server refuses one of an organisation it does not have: MALFORMED or
// UNSUPPORTED_ALGORITHM when the token itself is broken, otherwise
// ORGANIZATION_DISABLED. Differences from the server: HS256 tokens are
// refused as UNKNOWN_KEY (their secrets are never published in a JWK Set);
// changes reach the verifier over the network, so for up to about 100 ms
// plus a round trip (longer while the stream reconnects) it may still answer
// with the previous state.
#ifndef CLIENT_LOCAL_VERIFIER_H_
#define CLIENT_LOCAL_VERIFIER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/random.h"
#include "client/client.h"
#include "token/key_set.h"
#include "token/verifier.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::client {

struct LocalVerifierOptions {
  // Tolerated clock skew for exp and nbf (the server's default).
  absl::Duration leeway = absl::Seconds(60);
  // Remembers this many tokens (of up to 2 KiB) whose signature verified (by
  // SHA-256; see token/verified_token_cache.h), so that a token presented
  // again (every viewer of a page shares the player config's token) is not
  // checked again; expiry, revocation, organisation state and the request's
  // target, IP and domain still are, every time. 0: no cache.
  size_t verify_cache_entries = 10000;
  // Reconnect backoff of the revocation stream: starts at `initial`, doubles
  // up to `max`, each wait scaled by a random factor in [0.8, 1.2].
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(100);
  absl::Duration reconnect_max_backoff = absl::Seconds(5);
  // How often every organisation's JWK Set is fetched again.
  absl::Duration jwks_refresh_interval = absl::Minutes(5);
  // At most this often per organisation, a token naming an unknown key
  // triggers an early refresh.
  absl::Duration unknown_key_refresh_interval = absl::Seconds(10);
  // Injected for tests; nullptr: the real clock and the secure source. Not
  // owned; must outlive the verifier. The clock decides token validity and
  // pruning; the background threads' waits use real time.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
};

// Counters for monitoring; a snapshot.
struct LocalVerifierStats {
  int64_t last_sequence = 0;    // the last revocation sequence applied
  size_t revocations = 0;       // revocations currently held
  int64_t stream_connects = 0;  // revocation streams opened
  bool stream_open = false;     // a stream is open right now
  int64_t jwks_refreshes = 0;   // successful JWK Set fetches
  // The verify cache's lookups (both 0 without a cache). A refresh that
  // fetches an unchanged JWK Set keeps the cached tokens valid.
  int64_t verify_cache_hits = 0;
  int64_t verify_cache_misses = 0;
  std::string last_stream_error;  // how the last stream ended, if it did
  // The organisation state stream (WatchOrganizationStates).
  int64_t state_stream_connects = 0;    // streams opened
  bool state_stream_open = false;       // a stream is open right now
  int64_t state_events = 0;             // events applied
  std::string last_state_stream_error;  // how the last stream ended
};

class LocalVerifier {
 public:
  // A verifier for `organization_ids` that fetches each organisation's JWK
  // Set through `client` now and then, on background threads, follows the
  // revocation stream from the start (since_sequence 0: every revocation the
  // authority still keeps) and the organisation state stream. `client` is
  // not owned and must outlive the verifier; its API key needs GetJwks,
  // WatchRevocations and WatchOrganizationStates (a verifier or admin key).
  // Fails with the first GetJwks error other than FAILED_PRECONDITION/NOT_FOUND
  // (which mark the organisation disabled), or InvalidArgument for no
  // organisations, a bad organisation id, a JWK Set that does not parse or bad
  // options.
  static absl::StatusOr<std::unique_ptr<LocalVerifier>> Connect(
      TokenAuthorityClient* client, std::vector<std::string> organization_ids,
      LocalVerifierOptions options = {});

  // A verifier without a server: `jwks_by_organization` maps organisation
  // ids to JWK Set documents. No background threads; revocations come only
  // through ApplyRevocation. InvalidArgument as for Connect.
  static absl::StatusOr<std::unique_ptr<LocalVerifier>> FromJwks(
      const std::map<std::string, std::string>& jwks_by_organization,
      LocalVerifierOptions options = {});

  // Stops the background threads (see Stop()).
  ~LocalVerifier();
  LocalVerifier(const LocalVerifier&) = delete;
  LocalVerifier& operator=(const LocalVerifier&) = delete;

  // Verifies `jwt` for `request` at the clock's now. request.organization_id
  // is required (INVALID_ARGUMENT "organization_id: required ..." otherwise,
  // as the server's VerifyToken answers): the token must belong to that
  // organisation, never to the one it names itself. Every problem with the
  // token is a denial (an OK result). Thread-safe; takes reader locks only.
  absl::StatusOr<token::VerifyResult> Verify(
      absl::string_view jwt, const token::PlaybackRequest& request) const;

  // The same in the shape of TokenService.VerifyToken.
  absl::StatusOr<tokenauthority::v1::VerifyTokenResponse> Verify(
      const tokenauthority::v1::VerifyTokenRequest& request) const;

  // Records a revocation (the watcher calls this for each event; tests and
  // offline users may call it too). Events with a sequence at or below the
  // last applied one only add their token (a replay is harmless).
  // Thread-safe.
  void ApplyRevocation(const tokenauthority::v1::RevocationEvent& event);

  // Applies one organisation state (the state thread calls this for each
  // event; offline users may call it too): secure_enabled false refuses the
  // organisation's tokens with ORGANIZATION_DISABLED, true lifts that. When
  // event.jwks_sha256 is set and differs from the installed JWK Set's
  // digest, a Connect-made verifier fetches the set again before returning
  // (the fetch's error is returned; the state is applied regardless).
  // Thread-safe; blocks for the fetch.
  absl::Status ApplyOrganizationState(
      const tokenauthority::v1::OrganizationStateEvent& event);

  // Fetches the organisation's JWK Set now (Connect-made verifiers only) and
  // swaps it in. The fetch's error otherwise; FAILED_PRECONDITION/NOT_FOUND
  // also mark the organisation disabled. Thread-safe.
  absl::Status RefreshKeys(const std::string& organization_id);

  // Forgets revocations of tokens expired beyond the leeway at the clock's
  // now; returns how many. Called by the background thread; thread-safe.
  size_t PruneRevocations();

  LocalVerifierStats stats() const;

  // Ends the streams (TryCancel), wakes and joins the background
  // threads. Idempotent; Verify keeps working afterwards with what it has.
  // Must not be called from a background thread.
  void Stop();

 private:
  LocalVerifier(TokenAuthorityClient* client, LocalVerifierOptions options);

  absl::Status InstallJwks(const std::string& organization_id,
                           absl::string_view jwks_json);
  std::shared_ptr<const token::KeySet> KeysFor(
      const std::string& organization_id) const;
  void RequestRefresh(const std::string& organization_id) const;
  void WatchLoop();
  void StateLoop();
  // The organisations among organizations_ whose JWK Set is held now.
  std::vector<std::string> HeldOrganizations() const;
  // Whether an organisation's JWK Set is held now that `watched` lacks (it
  // was fetched while the state stream for `watched` was being opened).
  bool HoldsUnwatched(const std::vector<std::string>& watched) const;
  void RefreshLoop();
  // Waits up to `d` (real time) or until stopping; returns false when
  // stopping.
  bool WaitOrStop(absl::Duration d);
  absl::Duration Jitter(absl::Duration d);

  class Hooks;

  TokenAuthorityClient* const client_;  // null for FromJwks
  const LocalVerifierOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  const token::TokenVerifier verifier_;
  std::unique_ptr<Hooks> hooks_;
  const std::shared_ptr<const token::KeySet> no_keys_;

  // Annotated std:: locks (base/mutex.h): ThreadSanitizer sees them, and
  // clang checks every access below.
  mutable SharedMutex keys_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const token::KeySet>> keys_
      ABSL_GUARDED_BY(keys_mu_);
  // Lowercase hex SHA-256 of each installed JWK Set document.
  absl::flat_hash_map<std::string, std::string> jwks_sha256_
      ABSL_GUARDED_BY(keys_mu_);
  // Disabled because a JWK Set fetch was refused (FAILED_PRECONDITION,
  // NOT_FOUND); cleared by the next successful fetch.
  absl::flat_hash_set<std::string> disabled_ ABSL_GUARDED_BY(keys_mu_);
  // Disabled by the server's state stream (secure_enabled false); cleared
  // only by a later state saying true.
  absl::flat_hash_set<std::string> state_disabled_ ABSL_GUARDED_BY(keys_mu_);
  std::vector<std::string> organizations_;  // fixed after construction

  mutable SharedMutex revoked_mu_;
  // Key: organisation id + '\n' + token id. Value: the token's expiry.
  absl::flat_hash_map<std::string, absl::Time> revoked_
      ABSL_GUARDED_BY(revoked_mu_);
  int64_t last_sequence_ ABSL_GUARDED_BY(revoked_mu_) = 0;

  // Background threads and what they share; changes announced on cv_.
  mutable Mutex mu_;
  mutable CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  RevocationStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  OrganizationStateStream* state_stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The organisations the open state stream watches.
  absl::flat_hash_set<std::string> state_watched_ ABSL_GUARDED_BY(mu_);
  // The open state stream was cancelled to watch one more organisation.
  bool state_rewatch_ ABSL_GUARDED_BY(mu_) = false;
  // org -> when an early refresh was last requested; orgs waiting for one.
  mutable absl::flat_hash_map<std::string, absl::Time> refresh_requested_
      ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_set<std::string> pending_refresh_
      ABSL_GUARDED_BY(mu_);
  int64_t stream_connects_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t jwks_refreshes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_stream_error_ ABSL_GUARDED_BY(mu_);
  int64_t state_stream_connects_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t state_events_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_state_stream_error_ ABSL_GUARDED_BY(mu_);
  std::thread watch_thread_;
  std::thread state_thread_;
  std::thread refresh_thread_;
};

}  // namespace token_authority::client

#endif  // CLIENT_LOCAL_VERIFIER_H_

// TokenAuthority: the transport-free core of the token-authority service.
//
// Every RPC of the four services (TokenService, KeyService, AuditService,
// AdminService) is a method here taking the authenticated `Caller` and domain
// arguments and returning absl::Status / absl::StatusOr. The gRPC adapters in
// server/grpc_*.cc only authenticate, convert and call these methods.
//
// State kept in memory, in step with the store (every mutation goes to the
// store first and is applied to memory after its COMMIT; with several
// replicas on one PostgreSQL database, the others' changes are applied by
// ReplicaSync (replica_sync.h) through RefreshOrganization, RefreshApiKey
// and the revocation feed), each in a part of its own (internal headers):
//  - each organisation's record (the `secure` flag) and KeySet, loaded at
//    start, replaced on rotation and retirement (OrganizationRegistry,
//    organization_registry.h);
//  - every API key's id, role, organisation, secret hash and revocation, so
//    that authentication reads no database (ApiKeyRegistry,
//    api_key_registry.h);
//  - the ids of revoked, unexpired tokens (fed by the RevocationFeed), so that
//    VerifyToken reads no database (RevokedTokenSet, revoked_token_set.h);
//  - each organisation's verifier-facing state (secure flag, digest of its
//    JWK Set), published by the OrganizationRegistry to its
//    OrganizationStateFeed whenever an entry is replaced, for
//    WatchOrganizationStates.
// Background maintenance retires old signing keys (KeyRetirement,
// key_retirement.h) and forgets expired revocations. The methods are defined
// in token_authority.cc, token_authority_tokens.cc (TokenService) and
// token_authority_admin.cc (AdminService).
//
// Rules: roles (admin: everything, every organisation; issuer: its own
// organisation's tokens, audit and keys; verifier: VerifyToken, GetJwks,
// WatchRevocations for every organisation; auditor: its own organisation's
// get/list/decode/audit). A role without the right: PERMISSION_DENIED.
// Another organisation's token: NOT_FOUND. An organisation without the secure
// package cannot issue: FAILED_PRECONDITION "secure playback is not enabled
// for organisation <id>: upgrade needed", and its tokens stop verifying.
//
// Thread-safety: every public method may be called concurrently.
#ifndef SERVER_TOKEN_AUTHORITY_H_
#define SERVER_TOKEN_AUTHORITY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/random.h"
#include "server/caller.h"
#include "server/organization_state_feed.h"
#include "server/revocation_feed.h"
#include "server/wake_list.h"
#include "storage/token_store.h"
#include "token/algorithm.h"
#include "token/decoder.h"
#include "token/token_spec.h"
#include "token/verifier.h"

namespace token_authority::server {

// The largest TokenAuthorityOptions::verify_cache_entries accepted.
inline constexpr int64_t kMaxVerifyCacheEntries = 10'000'000;

struct TokenAuthorityOptions {
  // The "iss" claim of issued tokens.
  std::string issuer = "token-authority";
  // Tolerated clock skew when verifying exp / nbf.
  absl::Duration leeway = absl::Seconds(60);
  // VerifyToken remembers this many tokens (of up to 2 KiB) whose signature
  // verified (by SHA-256; see token/verified_token_cache.h), so that a token
  // every viewer of a page presents is checked once. 0: no cache.
  size_t verify_cache_entries = 10000;
  // Default and maximum token lifetimes.
  token::TokenLimits limits;
  // How often the background maintenance (key retirement, pruning of expired
  // revocations) runs; absl::ZeroDuration() disables the thread
  // (RunMaintenance() still works).
  absl::Duration maintenance_interval = absl::Minutes(1);
  // The revocation broadcaster.
  RevocationFeedOptions feed;
  // Per-API-key rate limit: sustained requests per second and burst size.
  // 0 disables the limit. Over the limit: RESOURCE_EXHAUSTED with a retry
  // hint ("retry after <n> ms").
  double rate_limit_per_second = 0;
  double rate_limit_burst = 0;
  // How often at most an API key's last_used_at is refreshed.
  absl::Duration touch_interval = absl::Minutes(1);
};

// A token's record with its state at the time of the answer.
struct TokenRecord {
  storage::Token token;
  storage::TokenState state = storage::TokenState::kActive;
};

struct IssuedToken {
  TokenRecord record;
  // The signed JWT; never stored.
  std::string jwt;
  // security: { jwtoken: "<jwt>" }
  std::string security_config;
  // h5live: { security: { jwtoken: "<jwt>" } }
  std::string entry_security_config;
  // False when a retry with the same request_id returned the earlier token.
  bool created = true;
};

struct DecodeResult {
  token::DecodedToken decoded;
  // The authority's record, when the token is one of the caller's
  // organisation's tokens (never another organisation's).
  std::optional<storage::Token> record;
  // The state now: revoked (from the record), else from the validity
  // window; nullopt when the times could not be read or `invalid`.
  std::optional<storage::TokenState> state;
  // The signature did not verify (or could not be checked, or its segment is
  // malformed): not a token of this authority as presented, whatever its
  // times and any record with its token id say (TOKEN_STATE_INVALID).
  bool invalid = false;
  // Every problem, one sentence each (the decoder's, plus revocation).
  std::vector<std::string> problems;
};

struct VerifyRequest {
  std::string jwt;
  token::PlaybackRequest playback;
};

struct CreatedApiKey {
  storage::ApiKey key;  // secret_hash cleared
  std::string secret;   // shown once
};

class ApiKeyRegistry;
class KeyRetirement;
class OrganizationRegistry;
class RevokedTokenSet;
struct OrgEntry;

class TokenAuthority {
 public:
  // Loads organisations, signing keys, API keys and active revocations from
  // `store`, repairs organisations left without a primary key (a crash
  // between their creation and their key's), and starts the revocation feed
  // and the maintenance thread. `store`, `clock` and `random` are not owned
  // and must outlive the authority. Errors: InvalidArgument for bad options
  // (naming the option); the store's errors; DataLoss if a stored signing key
  // does not load.
  static absl::StatusOr<std::unique_ptr<TokenAuthority>> Create(
      TokenAuthorityOptions options, storage::TokenStore* store,
      const Clock& clock, RandomSource& random);

  // Stops background work (Shutdown()).
  ~TokenAuthority();
  TokenAuthority(const TokenAuthority&) = delete;
  TokenAuthority& operator=(const TokenAuthority&) = delete;

  // --- Authentication ---------------------------------------------------

  // The caller behind `api_key_secret` (the bearer token), acting for
  // `organization_header` (x-organization-id; only admin keys may name an
  // organisation other than their own). UNAUTHENTICATED for a missing,
  // malformed, unknown or revoked key; PERMISSION_DENIED for a non-admin key
  // naming another organisation; RESOURCE_EXHAUSTED over the rate limit.
  // Reads no database.
  absl::StatusOr<Caller> Authenticate(absl::string_view api_key_secret,
                                      absl::string_view organization_header);

  // --- TokenService -----------------------------------------------------

  // Validates the whole spec (every bad field in one INVALID_ARGUMENT),
  // signs with the organisation's primary key, stores and audits; returns
  // only once the record is durable. Same request_id and spec as an earlier
  // call: that token again (same id and claims, re-signed); same request_id,
  // different spec: ALREADY_EXISTS. Roles: admin, issuer.
  // `conversion_violations`: problems found while converting the request,
  // reported together with the spec's own.
  absl::StatusOr<IssuedToken> IssueToken(
      const Caller& caller, const token::TokenSpec& spec,
      absl::string_view request_id,
      std::vector<token::FieldViolation> conversion_violations = {});
  // IssueToken without a waiting thread: checks and signs on the calling
  // thread, then returns; `done` gets what IssueToken would have returned,
  // exactly once: on the calling thread for errors found before the store,
  // else on the store's completion thread once the row is durable (there
  // callbacks run one after another: `done` should be quick). The store
  // must be shut down (its completions run) before this object goes.
  using IssueTokenDone = std::function<void(absl::StatusOr<IssuedToken>)>;
  void IssueTokenAsync(const Caller& caller, const token::TokenSpec& spec,
                       absl::string_view request_id,
                       std::vector<token::FieldViolation> conversion_violations,
                       IssueTokenDone done);
  // Roles: admin, issuer, auditor. NOT_FOUND outside the organisation.
  absl::StatusOr<TokenRecord> GetToken(const Caller& caller,
                                       absl::string_view token_id);
  // Newest first, filtered, keyset-paged. Roles: admin, issuer, auditor.
  absl::StatusOr<storage::Page<TokenRecord>> ListTokens(
      const Caller& caller, storage::TokenFilter filter,
      const storage::PageRequest& page);
  // Decodes any JWT and lists every problem; checks the signature with the
  // caller's organisation's keys (an admin without x-organization-id: the
  // organisation the token names). Roles: admin, issuer, auditor.
  absl::StatusOr<DecodeResult> DecodeToken(const Caller& caller,
                                           absl::string_view jwt);
  // The verdict for a playback: the core's rules plus revocation and
  // organisation state, from memory only. A refusal is an OK result with
  // allowed = false. request.playback.organization_id is required
  // (INVALID_ARGUMENT naming it): it names the key set, and the token must
  // belong to it. Roles: admin, verifier.
  absl::StatusOr<token::VerifyResult> VerifyToken(const Caller& caller,
                                                  const VerifyRequest& request);
  // Revokes one token (idempotent; the reason is kept). Returns once durable
  // and already refused by VerifyToken. Roles: admin, issuer.
  absl::StatusOr<TokenRecord> RevokeToken(const Caller& caller,
                                          absl::string_view token_id,
                                          absl::string_view reason);
  // Revokes every unrevoked, unexpired token matching `filter` (at least one
  // field); with `dry_run` only counts. Roles: admin, issuer.
  absl::StatusOr<int64_t> RevokeTokens(const Caller& caller,
                                       const storage::RevokeFilter& filter,
                                       absl::string_view reason, bool dry_run);
  // Checks that the caller may watch revocations (admin, verifier); the
  // stream itself is served from revocation_feed().
  absl::Status AuthorizeWatchRevocations(const Caller& caller) const;
  RevocationFeed& revocation_feed() { return *feed_; }
  // Checks that the caller may watch the states of `organization_ids` and
  // returns the list to watch (duplicates removed, order kept; empty: the
  // organisation the caller acts for). Roles: admin, verifier (any
  // organisation); issuer, auditor (their own only: PERMISSION_DENIED,
  // checked before existence so nothing is revealed). NOT_FOUND for an
  // organisation that does not exist; INVALID_ARGUMENT "organization_ids:
  // ..." for none, more than 1000 or a malformed id. Reads no database.
  absl::StatusOr<std::vector<std::string>> AuthorizeWatchOrganizationStates(
      const Caller& caller,
      const std::vector<std::string>& organization_ids) const;
  // Every organisation's latest state; the stream is served from here.
  OrganizationStateFeed& organization_state_feed();

  // --- KeyService -------------------------------------------------------

  // The organisation's keys, newest first, without private material; retired
  // ones only when asked. Roles: admin, issuer.
  absl::StatusOr<std::vector<storage::SigningKey>> ListSigningKeys(
      const Caller& caller, bool include_retired);
  // A new primary key of `algorithm`; the previous primary keeps verifying.
  // Roles: admin, issuer.
  absl::StatusOr<storage::SigningKey> RotateSigningKey(
      const Caller& caller, token::Algorithm algorithm);
  // The organisation's public keys as a JWK Set. `organization_id` may be
  // empty for an issuer (its own) or an admin with x-organization-id.
  // Roles: admin, issuer, verifier.
  absl::StatusOr<std::string> GetJwks(const Caller& caller,
                                      absl::string_view organization_id);

  // --- AuditService -----------------------------------------------------

  // Newest first. An admin without x-organization-id sees the service-wide
  // events. Roles: admin, issuer, auditor.
  absl::StatusOr<storage::Page<storage::AuditEvent>> ListAuditEvents(
      const Caller& caller, const storage::AuditFilter& filter,
      const storage::PageRequest& page);

  // --- AdminService (admin only) ----------------------------------------

  // Creates an organisation (name: 1-128 printable characters) and its ES256
  // primary key.
  absl::StatusOr<storage::Organization> CreateOrganization(
      const Caller& caller, absl::string_view name, bool secure_enabled);
  // Sets the secure flag and, when `name` is not empty, the name.
  absl::StatusOr<storage::Organization> UpdateOrganization(
      const Caller& caller, absl::string_view organization_id,
      bool secure_enabled, absl::string_view name);
  absl::StatusOr<storage::Page<storage::Organization>> ListOrganizations(
      const Caller& caller, const storage::PageRequest& page);
  // Issuer and auditor keys need an organisation; admin keys must have none;
  // verifier keys may have one. The secret is in the answer only.
  absl::StatusOr<CreatedApiKey> CreateApiKey(const Caller& caller,
                                             absl::string_view organization_id,
                                             ApiKeyRole role);
  // `organization_id` empty: every key. Secret hashes are cleared.
  absl::StatusOr<std::vector<storage::ApiKey>> ListApiKeys(
      const Caller& caller, absl::string_view organization_id,
      bool include_revoked);
  // Idempotent; effective immediately: later calls with the key are
  // UNAUTHENTICATED, and api_key_revocations() wakes the open watch streams,
  // which end theirs.
  absl::StatusOr<storage::ApiKey> RevokeApiKey(const Caller& caller,
                                               absl::string_view api_key_id);
  // Whether `api_key_id` names a known, unrevoked API key ("", the service
  // itself, counts as active). Reads no database.
  bool IsApiKeyActive(absl::string_view api_key_id) const;
  // Woken after every API key revocation, and with closing = true at
  // Shutdown(): long-lived streams check their caller's key again then.
  WakeList& api_key_revocations() { return api_key_revocations_; }

  // --- Operations -------------------------------------------------------

  // Creates a service-wide admin key on behalf of the service itself (first
  // start, or `token-authority admin-key reset`), named `name`, with
  // `audit_detail` in its audit event (the store's own text when empty). The
  // secret is returned once.
  absl::StatusOr<CreatedApiKey> CreateBootstrapAdminKey(
      absl::string_view name = "bootstrap admin",
      absl::string_view audit_detail = "");
  // Whether a service-wide, unrevoked admin key exists.
  bool HasActiveAdminKey() const;

  // --- Replicas (replica_sync.h) ----------------------------------------

  // Re-reads the organisation (record and signing keys) from the store and
  // installs it when new or changed (another replica created, updated or
  // rotated it); publishes its state when that changed. Idempotent.
  // Errors: the store's; DataLoss.
  absl::Status RefreshOrganization(const std::string& organization_id);
  // Re-reads the API key from the store: a new key becomes usable, a
  // revoked one stops authenticating (and wakes api_key_revocations()).
  // Idempotent. Errors: the store's.
  absl::Status RefreshApiKey(const std::string& api_key_id);

  // Retires non-primary keys whose tokens have all expired (beyond the
  // leeway) and forgets revocations of expired tokens. A key is retired when
  // max_lifetime has passed since it stopped signing, or when no live token
  // issued before then was signed by it (checked by key id when at most a
  // few thousand such tokens are live, otherwise conservatively by time). Runs
  // periodically in the background; callable directly (tests). Returns the
  // first error.
  absl::Status RunMaintenance();

  // Stops the maintenance thread and closes the revocation feed (watchers
  // are told the server is going away). Idempotent.
  void Shutdown();

  const TokenAuthorityOptions& options() const { return options_; }

  // The verify cache's counters (all zero without a cache). Thread-safe.
  token::VerifiedTokenCache::Stats verify_cache_stats() const {
    const auto& cache = verifier_.options().cache;
    return cache ? cache->GetStats() : token::VerifiedTokenCache::Stats{};
  }

 private:
  struct PreparedIssue;

  TokenAuthority(TokenAuthorityOptions options, storage::TokenStore* store,
                 const Clock& clock, RandomSource& random);

  // Fills the registries from the store and starts the revocation feed.
  absl::Status Load();
  // The organisation the caller acts for: INVALID_ARGUMENT when it names
  // none, NOT_FOUND when it does not exist.
  absl::StatusOr<std::shared_ptr<const OrgEntry>> ResolveOrg(
      const Caller& caller) const;
  // IssueToken's work before the store: role, organisation, validation,
  // claims, signature, the row.
  absl::StatusOr<PreparedIssue> PrepareIssue(
      const Caller& caller, const token::TokenSpec& spec,
      absl::string_view request_id,
      std::vector<token::FieldViolation> conversion_violations);
  // IssueToken's answer from the store's. May run on the store's
  // completion thread (IssueTokenAsync); takes only the organisation map's
  // lock, shared, and calls no store method.
  absl::StatusOr<IssuedToken> CompleteIssue(
      const PreparedIssue& prepared,
      absl::StatusOr<storage::InsertTokenResult> inserted);
  // The token of an earlier call with the same request id, signed again.
  absl::StatusOr<IssuedToken> ReissueExisting(absl::string_view organization_id,
                                              storage::Token row);

  const TokenAuthorityOptions options_;
  storage::TokenStore* const store_;
  const Clock& clock_;
  RandomSource& random_;
  const token::TokenVerifier verifier_;  // with the verify cache, if any

  // The parts, each with its own locks (see their headers). Lock order
  // across them: the organisation registry's before its state feed's (and
  // the watch streams' woken by it); the revocation feed's catch-up lock
  // before the revoked set's (the feed's listener).
  const std::unique_ptr<OrganizationRegistry> orgs_;
  const std::unique_ptr<ApiKeyRegistry> api_keys_;
  const std::unique_ptr<RevokedTokenSet> revoked_;
  const std::unique_ptr<KeyRetirement> key_retirement_;
  std::unique_ptr<RevocationFeed> feed_;  // set by Load
  WakeList api_key_revocations_;
  // "ta-maintenance": RunMaintenance every maintenance_interval.
  BackgroundLoop maintenance_;
};

}  // namespace token_authority::server

#endif  // SERVER_TOKEN_AUTHORITY_H_

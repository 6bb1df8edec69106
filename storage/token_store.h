// The token registry: organisations, API keys, issued tokens, signing keys,
// the append-only audit log and the revocation log, behind an abstract
// interface that carries no SQLite types (a PostgreSQL backend is planned).
//
// Conventions shared by every method:
// - Thread-safety: every method of a TokenStore may be called concurrently
//   from any thread.
// - Durability: a mutating method returns only after its transaction has
//   COMMITted (at the configured synchronous level), together with the audit
//   event(s) it writes. The one exception is TouchApiKey (see there).
// - Scope: methods taking an `organization_id` only ever see, count or change
//   rows of that organisation. A row of another organisation is NotFound.
// - Bad input gives InvalidArgument whose message starts with the field name
//   ("tag: at most 128 characters"); nothing is written.
// - Other errors: NotFound (no such row in scope), AlreadyExists,
//   FailedPrecondition (state conflict, e.g. retiring the primary key),
//   ResourceExhausted (disk or database full), Unavailable (store closed,
//   I/O error, database busy), DataLoss (a stored value fails to decrypt or
//   decode).
// - Times: absl::Time at microsecond precision, except the token claims
//   issued_at / not_before / expires_at, which are whole seconds (JWT
//   NumericDate; sub-second parts are rejected as InvalidArgument).
//   "Unset" optional times are std::nullopt.
#ifndef STORAGE_TOKEN_STORE_H_
#define STORAGE_TOKEN_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "token/algorithm.h"
#include "token/signing_key.h"
#include "token/target.h"

namespace token_authority::storage {

// ---------------------------------------------------------------------------
// Limits checked by every implementation (InvalidArgument when exceeded).
// ---------------------------------------------------------------------------
inline constexpr size_t kMaxIdLength = 64;     // organisation / API key ids
inline constexpr size_t kMaxKidLength = 128;   // signing key id
inline constexpr size_t kMaxTextLength = 128;  // tag, user_id, request_id,
                                               // stream names, group id
inline constexpr size_t kMaxStreams = 100;     // streams per token
inline constexpr size_t kMaxNameLength = 256;  // organisation/API key name
inline constexpr size_t kMaxClientIpLength = 64;
inline constexpr size_t kMaxDomainLength = 255;
inline constexpr size_t kMaxReasonLength = 512;      // revocation reason
inline constexpr size_t kMaxDetailLength = 4096;     // audit detail
inline constexpr size_t kMaxFingerprintLength = 64;  // spec_fingerprint
inline constexpr size_t kSha256Length = 32;          // jwt_sha256, secret_hash
inline constexpr size_t kTokenIdLength = 22;         // base64url of 128 bits
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;

// ---------------------------------------------------------------------------
// Enumerations. Each has a stable lowercase name used in the audit log and
// on the wire; Parse* gives InvalidArgument naming `field`. A token's target
// kind, a signing key's state and algorithm are the token core's own
// (token::Target::Kind, token::KeyState, token::Algorithm).
// ---------------------------------------------------------------------------
enum class ApiKeyRole { kAdmin = 1, kIssuer = 2, kVerifier = 3, kAuditor = 4 };
enum class TokenState {
  kActive = 1,
  kNotYetValid = 2,
  kExpired = 3,
  kRevoked = 4
};
enum class AuditAction {
  kTokenIssued = 1,          // "token.issued"
  kTokenRevoked = 2,         // "token.revoked"
  kTokensRevoked = 3,        // "tokens.revoked" (bulk; detail has the count)
  kKeyRotated = 4,           // "key.rotated"
  kOrganizationCreated = 5,  // "organization.created"
  kOrganizationUpdated = 6,  // "organization.updated"
  kApiKeyCreated = 7,        // "apikey.created"
  kApiKeyRevoked = 8,        // "apikey.revoked"
  kKeyCreated = 9,           // "key.created" (InsertSigningKey)
  kKeyRetired = 10,          // "key.retired"
};

// "admin", "issuer", "verifier", "auditor".
absl::string_view ApiKeyRoleName(ApiKeyRole role);
absl::StatusOr<ApiKeyRole> ParseApiKeyRole(absl::string_view name,
                                           absl::string_view field = "role");
// "active", "not_yet_valid", "expired", "revoked".
absl::string_view TokenStateName(TokenState state);
absl::StatusOr<TokenState> ParseTokenState(absl::string_view name,
                                           absl::string_view field = "state");
// "token.issued", ... as listed above.
absl::string_view AuditActionName(AuditAction action);
absl::StatusOr<AuditAction> ParseAuditAction(
    absl::string_view name, absl::string_view field = "action");
// The role or action a stored number stands for (its enum value, as both
// stores keep it); a number no writer stores is DataLoss naming the column,
// e.g. "api_keys.role: unknown stored value 9", never a value outside the
// enum (an API key's role decides what it may do).
absl::StatusOr<ApiKeyRole> ApiKeyRoleFromNumber(int64_t value);
absl::StatusOr<AuditAction> AuditActionFromNumber(int64_t value);

// ---------------------------------------------------------------------------
// Records.
// ---------------------------------------------------------------------------

struct Organization {
  // 1-64 characters of [A-Za-z0-9._-], chosen by the caller; immutable.
  std::string id;
  std::string name;  // 1-256 printable characters.
  bool secure_enabled = false;
  // Set by the store (its clock); ignored on input.
  absl::Time created_at = absl::UnixEpoch();
  absl::Time updated_at = absl::UnixEpoch();
};

// Fields of an organisation to change; unset fields stay as they are.
struct OrganizationUpdate {
  std::optional<std::string> name;
  std::optional<bool> secure_enabled;
};

struct ApiKey {
  // 1-64 characters of [A-Za-z0-9._-], chosen by the caller; immutable.
  std::string id;
  // The owning organisation, or empty for a service-wide key (e.g. the
  // bootstrap admin key or a verifier for every organisation). Which roles
  // may be service-wide is the server's policy, not the store's.
  std::string organization_id;
  ApiKeyRole role = ApiKeyRole::kVerifier;
  std::string name;  // optional label, at most 256 printable characters.
  // SHA-256 of the secret, exactly 32 bytes; unique across the store. The
  // secret itself is never given to the store.
  std::string secret_hash;
  // Set by the store; ignored on input.
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> revoked_at;
  std::optional<absl::Time> last_used_at;
};

struct Token {
  // The JWT `jti`: 22 base64url characters (no padding) encoding 128 bits,
  // canonical. Unique across the store.
  std::string id;
  std::string organization_id;
  token::Target::Kind target_kind = token::Target::Kind::kStreams;
  // kStreamGroup: 1-128 characters of [A-Za-z0-9._-]; otherwise empty.
  std::string stream_group_id;
  // kStreams: 1-100 distinct names of 1-128 characters of [A-Za-z0-9._-],
  // kept in the given order; otherwise empty.
  std::vector<std::string> streams;
  // Whole seconds; not_before < expires_at.
  absl::Time issued_at = absl::UnixEpoch();
  absl::Time not_before = absl::UnixEpoch();
  absl::Time expires_at = absl::UnixEpoch();
  std::string client_ip;  // optional, at most 64 characters
  std::string domain;     // optional, at most 255 characters
  std::string user_id;    // optional, at most 128 printable characters
  std::string tag;        // optional, at most 128 printable characters
  // The signing key: must be a stored key of this organisation (or a
  // service-wide key). `algorithm` must equal the key's algorithm; on output
  // both come from the key row.
  std::string key_id;
  token::Algorithm algorithm = token::kDefaultAlgorithm;
  // SHA-256 of the compact JWT, exactly 32 bytes (never the JWT itself).
  std::string jwt_sha256;
  // Revocation: set by RevokeToken / RevokeTokens; ignored on input.
  std::optional<absl::Time> revoked_at;
  std::string revocation_reason;
  int64_t revocation_sequence = 0;  // 0 while not revoked
  // The issuing API key id (must exist), or empty.
  std::string issued_by;
  // Idempotency key, optional, at most 128 printable characters; unique per
  // organisation when non-empty.
  std::string request_id;
  // Opaque bytes (at most 64) the server derives from the token spec so a
  // safe retry (same request_id, same fingerprint) can be told from a
  // conflicting one.
  std::string spec_fingerprint;
};

// The state of `token` at `now`: revoked, else expired (now >= expires_at),
// else not yet valid (now < not_before), else active. No leeway.
TokenState TokenStateAt(const Token& token, absl::Time now);

struct SigningKey {
  // The owning organisation, or empty for a service-wide key.
  std::string organization_id;
  // 1-128 printable ASCII characters without spaces; unique per organisation.
  std::string kid;
  token::Algorithm algorithm = token::kDefaultAlgorithm;
  token::KeyState state = token::KeyState::kActive;
  // Set by the store; ignored on input.
  absl::Time created_at = absl::UnixEpoch();
  std::optional<absl::Time> retired_at;
  // The private key (PEM, DER or raw HMAC secret: the store does not care),
  // plaintext across this interface, at most 16 KiB. Encrypted at rest with
  // AES-256-GCM under the key-encryption key, with organisation and kid as
  // associated data.
  std::string private_key;
};

struct AuditEvent {
  int64_t id = 0;  // increasing with every event, store-wide
  // Set by the store's clock; never decreases with increasing id (if the
  // clock steps back, events keep the last time written).
  absl::Time time = absl::UnixEpoch();
  AuditAction action = AuditAction::kTokenIssued;
  std::string actor;            // API key id, or empty (the service itself)
  std::string organization_id;  // empty for service-wide events
  std::string token_id;         // empty unless the event concerns one token
  std::string tag;
  std::string user_id;
  std::string request_id;
  std::string detail;
};

struct RevocationEvent {
  // Increases with every revocation, store-wide; never reused, even after
  // the retention sweep removed older events.
  int64_t sequence = 0;
  std::string token_id;
  std::string organization_id;
  absl::Time revoked_at = absl::UnixEpoch();
  absl::Time expires_at = absl::UnixEpoch();  // the token's expiry
};

// Who did it, for the audit log of a mutation.
struct AuditContext {
  std::string actor;       // API key id (must exist) or empty
  std::string request_id;  // at most 128 printable characters, optional
  // Free text for the event's detail, at most 4096 characters. When empty
  // the store writes its own short description (e.g. the revocation reason).
  std::string detail;
};

// ---------------------------------------------------------------------------
// Filters and pages.
// ---------------------------------------------------------------------------

// Token list filter; every set field must match (AND). Empty strings and
// unset optionals match everything.
struct TokenFilter {
  std::string tag;
  std::string user_id;
  std::string stream_name;      // tokens of kind kStreams naming this stream
  std::string stream_group_id;  // tokens of kind kStreamGroup for this group
  std::optional<TokenState> state;
  std::optional<absl::Time> issued_after;   // issued_at >= issued_after
  std::optional<absl::Time> issued_before;  // issued_at <  issued_before
  // The time at which `state` is evaluated; unset: the store's clock.
  std::optional<absl::Time> now;
};

// Selects tokens for bulk revocation: at least one of tag, user_id,
// stream_name, stream_group_id must be set; only tokens that are not revoked
// and not expired (at the store's clock) match.
struct RevokeFilter {
  std::string tag;
  std::string user_id;
  std::string stream_name;
  std::string stream_group_id;
  // Narrows the match to tokens in this state at the store's clock: kActive
  // (not-before reached) or kNotYetValid (not-before in the future). Unset:
  // both. kExpired or kRevoked is InvalidArgument "state: only active or not
  // yet valid tokens can be revoked". Not enough on its own: one of the
  // fields above is still required.
  std::optional<TokenState> state;
};

struct AuditFilter {
  std::string tag;
  std::string user_id;
  std::string token_id;
  std::optional<AuditAction> action;
  std::optional<absl::Time> since;  // time >= since
  std::optional<absl::Time> until;  // time <  until
};

// A page request. page_size 0 means kDefaultPageSize; otherwise 1..1000.
// page_token is empty for the first page, else the next_page_token of the
// previous page of the SAME query (same organisation and filter; `now` may
// differ): anything else is InvalidArgument "page_token: ...".
struct PageRequest {
  int page_size = 0;
  std::string page_token;
};

// Newest first. next_page_token is empty when there is nothing more. Keyset
// pagination: rows inserted while paging never cause a row to be skipped or
// repeated.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;
};

struct InsertTokenResult {
  Token token;   // the stored row
  bool created;  // false: a row with this (organization, request_id) existed
                 // and is returned unchanged; nothing was written
};

struct RevokeTokensResult {
  int64_t count = 0;  // tokens revoked by this call (or that would be, dry run)
  // MaxRevocationSequence() after the last batch (0 for a dry run): the
  // caller can ListRevocationsSince(previous max) to learn the rows.
  int64_t last_sequence = 0;
};

// ---------------------------------------------------------------------------
// The store.
// ---------------------------------------------------------------------------
class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // --- Organisations ------------------------------------------------------

  // Creates `org` (created_at = updated_at = now) and writes
  // organization.created. AlreadyExists if the id is taken.
  virtual absl::StatusOr<Organization> CreateOrganization(
      const Organization& org, const AuditContext& audit) = 0;
  // Applies `update`, sets updated_at, writes organization.updated (detail
  // names the changed fields). NotFound if absent. An empty update is
  // InvalidArgument "update: nothing to change".
  virtual absl::StatusOr<Organization> UpdateOrganization(
      absl::string_view organization_id, const OrganizationUpdate& update,
      const AuditContext& audit) = 0;
  // NotFound if absent.
  virtual absl::StatusOr<Organization> GetOrganization(
      absl::string_view organization_id) = 0;
  // Ordered by id, paged.
  virtual absl::StatusOr<Page<Organization>> ListOrganizations(
      const PageRequest& page) = 0;
  // Every organisation, ordered by id (start-up loading).
  virtual absl::StatusOr<std::vector<Organization>> ListAllOrganizations() = 0;

  // --- API keys -----------------------------------------------------------

  // Stores `key` (created_at = now) and writes apikey.created. NotFound if
  // its organisation does not exist; AlreadyExists if the id or the
  // secret_hash is taken.
  virtual absl::StatusOr<ApiKey> CreateApiKey(const ApiKey& key,
                                              const AuditContext& audit) = 0;
  // Sets revoked_at = now and writes apikey.revoked. Idempotent: an already
  // revoked key is returned unchanged and nothing is written. NotFound.
  virtual absl::StatusOr<ApiKey> RevokeApiKey(absl::string_view api_key_id,
                                              const AuditContext& audit) = 0;
  // Records that the key was used at `at`. NOT durable on return: uses are
  // coalesced in memory and written in the background about once a second
  // (and at Shutdown), keeping the latest time. Never fails for an unknown
  // key (the update simply matches nothing). No audit event.
  virtual absl::Status TouchApiKey(absl::string_view api_key_id,
                                   absl::Time at) = 0;
  // NotFound if absent.
  virtual absl::StatusOr<ApiKey> GetApiKey(absl::string_view api_key_id) = 0;
  // The key whose secret_hash equals `secret_hash` (32 bytes), for
  // authentication. NotFound if none.
  virtual absl::StatusOr<ApiKey> FindApiKeyBySecretHash(
      absl::string_view secret_hash) = 0;
  // Keys of the organisation ("" = the service-wide keys), ordered by
  // creation; revoked ones only when `include_revoked`.
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(
      absl::string_view organization_id, bool include_revoked) = 0;

  // --- Tokens -------------------------------------------------------------

  // Stores `token` and writes token.issued (actor and request_id default to
  // token.issued_by and token.request_id when `audit` leaves them empty).
  // If token.request_id is non-empty and the organisation already has a
  // token with that request_id, returns that token with created = false and
  // writes nothing: the caller compares spec_fingerprint. NotFound if the
  // organisation does not exist; InvalidArgument "key_id: ..." if the
  // signing key is unknown, "algorithm: ..." if it differs from the key's,
  // "issued_by: ..." / "actor: ..." for an unknown API key; AlreadyExists if
  // the token id is taken.
  virtual absl::StatusOr<InsertTokenResult> InsertToken(
      const Token& token, const AuditContext& audit) = 0;
  // InsertToken without waiting: returns at once and calls `done` exactly
  // once with what InsertToken would have returned, once the row is durable
  // (or the insert failed). `done` runs on the calling thread for errors
  // found before queueing, else on a store thread (SqliteTokenStore: its
  // completion thread, never the writer; callbacks run one after another
  // there, so a slow one delays the others). `done` must not shut down or
  // destroy the store.
  using InsertTokenDone =
      std::function<void(absl::StatusOr<InsertTokenResult>)>;
  virtual void InsertTokenAsync(const Token& token, const AuditContext& audit,
                                InsertTokenDone done) = 0;
  // NotFound if absent from this organisation (or swept).
  virtual absl::StatusOr<Token> GetToken(absl::string_view organization_id,
                                         absl::string_view token_id) = 0;
  // The token with this id in any organisation (for DecodeToken of foreign
  // tokens inside the server; never expose across tenants). NotFound.
  virtual absl::StatusOr<Token> FindTokenById(absl::string_view token_id) = 0;
  // Newest first (issued_at, then insertion order), filtered, paged.
  virtual absl::StatusOr<Page<Token>> ListTokens(
      absl::string_view organization_id, const TokenFilter& filter,
      const PageRequest& page) = 0;
  // How many tokens ListTokens would return over all pages.
  virtual absl::StatusOr<int64_t> CountTokens(absl::string_view organization_id,
                                              const TokenFilter& filter) = 0;
  // Revokes one token: revoked_at = now, the reason, the next revocation
  // sequence; writes token.revoked and a RevocationEvent. Idempotent: an
  // already revoked token is returned unchanged and nothing is written.
  // NotFound if absent from this organisation.
  virtual absl::StatusOr<Token> RevokeToken(absl::string_view organization_id,
                                            absl::string_view token_id,
                                            absl::string_view reason,
                                            const AuditContext& audit) = 0;
  // Revokes every token of the organisation that matches `filter`, was
  // issued before the call and is neither revoked nor expired. Works in
  // bounded batches (separate transactions, so other writers are never held
  // long): each batch writes its token.revoked events and RevocationEvents;
  // the last writes one tokens.revoked event with the count. A crash midway
  // leaves the batches already committed. `dry_run`: only counts.
  // InvalidArgument "filter: ..." when no field is set.
  virtual absl::StatusOr<RevokeTokensResult> RevokeTokens(
      absl::string_view organization_id, const RevokeFilter& filter,
      absl::string_view reason, bool dry_run, const AuditContext& audit) = 0;

  // --- Revocation log -----------------------------------------------------

  // Revocations with sequence > `after_sequence`, ascending, at most `limit`
  // (1..10000), across all organisations.
  virtual absl::StatusOr<std::vector<RevocationEvent>> ListRevocationsSince(
      int64_t after_sequence, int limit) = 0;
  // Every revocation whose token has not expired at `now` (expires_at >
  // now), ascending by sequence: the set VerifyToken must refuse.
  virtual absl::StatusOr<std::vector<RevocationEvent>> ListActiveRevocations(
      absl::Time now) = 0;
  // The highest revocation sequence ever assigned (0 if none).
  virtual absl::StatusOr<int64_t> MaxRevocationSequence() = 0;

  // --- Signing keys -------------------------------------------------------

  // Stores `key` in its given state (primary only if the organisation has
  // no primary yet; otherwise FailedPrecondition: use RotateSigningKey) and
  // writes key.created. AlreadyExists if the kid is taken in the
  // organisation; NotFound if the organisation does not exist.
  virtual absl::StatusOr<SigningKey> InsertSigningKey(
      const SigningKey& key, const AuditContext& audit) = 0;
  // In one transaction: stores `new_key` as primary (its `state` is
  // ignored), demotes the previous primary (if any) to active, and writes
  // key.rotated. Returns the new key.
  virtual absl::StatusOr<SigningKey> RotateSigningKey(
      const SigningKey& new_key, const AuditContext& audit) = 0;
  // Sets state retired and retired_at = now; writes key.retired. Idempotent
  // for an already retired key. FailedPrecondition for the primary key;
  // NotFound if absent.
  virtual absl::StatusOr<SigningKey> RetireSigningKey(
      absl::string_view organization_id, absl::string_view kid,
      const AuditContext& audit) = 0;
  // Keys of the organisation ("" = service-wide keys), decrypted, ordered by
  // creation. DataLoss if a key fails to decrypt.
  virtual absl::StatusOr<std::vector<SigningKey>> ListSigningKeys(
      absl::string_view organization_id) = 0;
  // Every key of every organisation, decrypted (start-up loading).
  virtual absl::StatusOr<std::vector<SigningKey>> ListAllSigningKeys() = 0;

  // --- Audit log ----------------------------------------------------------

  // Events of the organisation ("" = service-wide events), newest first,
  // filtered, paged.
  virtual absl::StatusOr<Page<AuditEvent>> ListAuditEvents(
      absl::string_view organization_id, const AuditFilter& filter,
      const PageRequest& page) = 0;

  // --- Lifecycle ----------------------------------------------------------

  // Stops accepting writes (later writes: Unavailable), finishes every
  // queued write, flushes pending TouchApiKey updates and stops background
  // work. Reads keep working. Idempotent. The destructor calls it.
  virtual absl::Status Shutdown() = 0;
};

}  // namespace token_authority::storage

#endif  // STORAGE_TOKEN_STORE_H_

// The rules both stores (SqliteTokenStore, PostgresTokenStore) apply around
// their SQL, written once: the audit event of each mutation (its action,
// columns and detail text), the errors of refused mutations, the records a
// mutation returns, the preparation of a token insert on the caller's
// thread, the bulk revocation's progress, and the checks and keyset-page
// preparation of the list calls. Internal to storage/. What runs inside a
// writer transaction over either store's context is in write_rules.h.
#ifndef STORAGE_STORE_RULES_H_
#define STORAGE_STORE_RULES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/page_token.h"
#include "storage/token_queries.h"
#include "storage/token_store.h"
#include "token/algorithm.h"

namespace token_authority::storage {

// One audit_events row, written by the store's InsertAudit.
struct AuditRow {
  AuditRow(AuditAction a, int64_t org) : action(a), org_no(org) {}
  AuditAction action;
  int64_t org_no = 0;
  std::optional<int64_t> actor_no;
  std::string token_id_bytes;
  std::string tag;
  std::string user_id;
  std::string request_id;
  std::string detail;
};

// --- Each call's input checks, in one (InvalidArgument naming the field) ---
absl::Status CheckCreateOrganization(const Organization& org,
                                     const AuditContext& audit);
absl::Status CheckUpdateOrganization(absl::string_view organization_id,
                                     const OrganizationUpdate& update,
                                     const AuditContext& audit);
absl::Status CheckCreateApiKey(const ApiKey& key, const AuditContext& audit);
absl::Status CheckApiKeyId(absl::string_view api_key_id);
absl::Status CheckRevokeApiKey(absl::string_view api_key_id,
                               const AuditContext& audit);
absl::Status CheckInsertSigningKey(const SigningKey& key,
                                   const AuditContext& audit);
// The key RotateSigningKey inserts: `new_key` as the primary key.
absl::StatusOr<SigningKey> CheckRotateSigningKey(const SigningKey& new_key,
                                                 const AuditContext& audit);
absl::Status CheckRetireSigningKey(absl::string_view organization_id,
                                   absl::string_view kid,
                                   const AuditContext& audit);
// GetToken's and RevokeToken's checks; the token id's bytes.
absl::StatusOr<std::string> CheckGetToken(absl::string_view organization_id,
                                          absl::string_view token_id);
absl::StatusOr<std::string> CheckRevokeToken(absl::string_view organization_id,
                                             absl::string_view token_id,
                                             absl::string_view reason,
                                             const AuditContext& audit);

// --- Audit events of the mutations (before AuditFromContext) --------------
AuditRow OrganizationCreatedEvent(int64_t org_no, const Organization& org);
AuditRow OrganizationUpdatedEvent(int64_t org_no,
                                  const OrganizationUpdate& update);
AuditRow ApiKeyCreatedEvent(int64_t org_no, const ApiKey& key);
AuditRow ApiKeyRevokedEvent(int64_t org_no, absl::string_view api_key_id);
AuditRow KeyCreatedEvent(int64_t org_no, const SigningKey& key);
// `previous`: the kid of the primary key it replaced, or "".
AuditRow KeyRotatedEvent(int64_t org_no, const SigningKey& key,
                         absl::string_view previous);
AuditRow KeyRetiredEvent(int64_t org_no, absl::string_view kid);
AuditRow TokenRevokedEvent(int64_t org_no, std::string id_bytes,
                           std::string tag, std::string user_id,
                           absl::string_view reason);

// --- Refusals, each naming what it refuses ---------------------------------
absl::Status OrganizationExistsError(absl::string_view id);
// `same_id`: another key has this id (else: this secret).
absl::Status ApiKeyExistsError(absl::string_view id, bool same_id);
absl::Status ApiKeyNotFoundError(absl::string_view id);
// FailedPrecondition: revoking `id` would leave no active service-wide admin
// key.
absl::Status LastAdminKeyError(absl::string_view id);
absl::Status TokenNotFoundError(absl::string_view id);
absl::Status SigningKeyNotFoundError(absl::string_view kid);
absl::Status SigningKeyExistsError(absl::string_view kid);
absl::Status PrimaryKeyExistsError(absl::string_view primary_kid);
absl::Status RetirePrimaryKeyError(absl::string_view kid);
// InvalidArgument unless secret_hash is a SHA-256 digest.
absl::Status CheckSecretHash(absl::string_view secret_hash);

// --- Records a mutation returns ---------------------------------------------
// The API key CreateApiKey stores: `key` at `now_us`, neither revoked nor
// used.
ApiKey CreatedApiKey(const ApiKey& key, int64_t now_us);
// `key` as inserted in `state` at `now_us` (retired at once if so).
SigningKey InsertedSigningKey(const SigningKey& key, token::KeyState state,
                              int64_t now_us);

// --- Token insert ------------------------------------------------------------
// An InsertToken checked and prepared on the caller's thread, for the
// writer to run.
struct TokenInsert {
  Token token;
  AuditContext audit;
  std::string id_bytes;
  std::string target;  // tokens.target: the group id or the joined streams
  int64_t iat = 0;
  int64_t nbf = 0;
  int64_t exp = 0;
  std::optional<int64_t> request_hash;  // hashed here, not by the writer
  InsertTokenResult out;
};
absl::StatusOr<std::unique_ptr<TokenInsert>> PrepareTokenInsert(
    const Token& token, const AuditContext& audit);
// Sets ins.out to "created ins.token" (the writer may run it again).
void ResetInsertResult(TokenInsert& ins);
// The row's tokens.not_before: null when it equals issued_at.
std::optional<int64_t> StoredNotBefore(const TokenInsert& ins);
// InvalidArgument naming key_id: no such signing key for the token.
absl::Status NoSigningKeyError(const Token& token);
// InvalidArgument naming algorithm unless the key's algorithm is the
// token's.
absl::Status CheckKeyAlgorithm(const Token& token, token::Algorithm key_alg);
absl::Status TokenExistsError(const Token& token);
// The token.issued event, its actor the token's issuer (AuditFromContext's
// actor, if any, replaces it).
AuditRow TokenIssuedEvent(int64_t org_no, const TokenInsert& ins,
                          std::optional<int64_t> issued_by);

// --- Bulk revocation
// ----------------------------------------------------------- A token a
// RevokeTokens batch revokes (BuildRevokeSelectQuery's columns).
struct RevokeCandidate {
  int64_t no;
  std::string id;
  int64_t exp;
  int64_t iat;
  std::string tag;
  std::string user_id;
};
// A bulk revocation over its transactions.
struct RevokeTokensRun {
  // Set once: the organisation, filter, bounds and batch size. Advanced by
  // each committed batch: the keyset position.
  sqlite::RevokeQuery q;
  std::string reason;
  AuditContext audit;
  std::string filter_text;
  RevokeTokensResult result;
  bool done = false;
};
// Checks RevokeTokens' input and starts its run (org_no and max_no are the
// caller's to set).
absl::StatusOr<RevokeTokensRun> StartRevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, const AuditContext& audit, int batch_size);
// The tokens.revoked event that ends a run of `count` more tokens.
AuditRow TokensRevokedEvent(const RevokeTokensRun& run,
                            std::optional<int64_t> actor_no, int64_t count);
// After a batch of `rows` committed: counts them and moves past them.
void AdvanceRevokeRun(const std::vector<RevokeCandidate>& rows,
                      RevokeTokensRun& run);

// --- Lists
// ----------------------------------------------------------------------- A
// keyset page being filled from the rows of a query that asked for one more
// than the page size: before each row, Room(); false when the page is full,
// which then ends with the next_page_token of the last item's cursor.
template <typename T>
class PageFiller {
 public:
  PageFiller(int size, PageKind kind, std::string binding)
      : size_(size), kind_(kind), binding_(std::move(binding)) {}
  bool Room() {
    if (static_cast<int>(page_.items.size()) < size_) return true;
    page_.next_page_token = EncodePageToken(kind_, binding_, last_cursor_);
    return false;
  }
  // `cursor`: the item's keyset position, for the next page.
  void Add(T item, std::string cursor) {
    page_.items.push_back(std::move(item));
    last_cursor_ = std::move(cursor);
  }
  Page<T> Take() { return std::move(page_); }

 private:
  const int size_;
  const PageKind kind_;
  const std::string binding_;
  std::string last_cursor_;
  Page<T> page_;
};

// A list call's start: the page size, the page token's binding and what
// the query starts from (`Start`).
template <typename Start>
struct ListStart {
  int size = 0;
  std::string binding;
  Start q;
};

// ListOrganizations: the organisation id to start after.
using OrgListStart = ListStart<std::string>;
absl::StatusOr<OrgListStart> StartOrgList(const PageRequest& page);

// ListTokens / CountTokens: the query without its org_no (the caller's),
// the binding and the page size. `now`: the store clock's time.
using TokenListStart = ListStart<sqlite::TokenQuery>;
absl::StatusOr<TokenListStart> StartTokenList(absl::string_view organization_id,
                                              const TokenFilter& filter,
                                              const PageRequest* page,
                                              absl::Time now);
// The next page's cursor of a token row (its issued_at and row number).
std::string TokenCursor(int64_t iat, int64_t no);

// ListAuditEvents: the query without its org_no and id range, the binding
// and the page size.
using AuditListStart = ListStart<sqlite::AuditQuery>;
absl::StatusOr<AuditListStart> StartAuditList(absl::string_view organization_id,
                                              const AuditFilter& filter,
                                              const PageRequest& page);
std::string AuditCursor(int64_t id);

// ListRevocationsSince's limit check.
absl::Status CheckRevocationLimit(int limit);

}  // namespace token_authority::storage

#endif  // STORAGE_STORE_RULES_H_

// The SQL of the list and count queries (tokens, audit events), built from
// a filter. Kept apart from the store so that the EXPLAIN QUERY PLAN test
// checks exactly the statements the store runs.
#ifndef STORAGE_TOKEN_QUERIES_H_
#define STORAGE_TOKEN_QUERIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/sqlite_db.h"
#include "storage/token_store.h"

namespace token_authority::storage::sqlite {

// A value to bind: an integer, text or blob.
struct SqlValue {
  enum class Type { kInt, kText, kBlob } type = Type::kInt;
  int64_t i = 0;
  std::string s;

  static SqlValue Int(int64_t v) { return {Type::kInt, v, {}}; }
  static SqlValue Text(std::string v) { return {Type::kText, 0, std::move(v)}; }
  static SqlValue Blob(std::string v) { return {Type::kBlob, 0, std::move(v)}; }
};

struct BoundQuery {
  std::string sql;
  std::vector<SqlValue> values;  // bound to ?1, ?2, ... in order

  // Binds `values` to `stmt`.
  void Bind(Statement& stmt) const;
};

// Columns selected by every token read (BuildTokenListQuery and the point
// lookups), in this order:
//   0 t.no, 1 t.id, 2 o.id, 3 t.kind, 4 t.target, 5 t.issued_at,
//   6 t.not_before (NULL: equals issued_at), 7 t.expires_at, 8 k.kid, 9
//   k.algorithm, 10 t.jwt_sha256, 11 a.id (issued_by), 12 t.user_id, 13 t.tag,
//   14 t.client_ip, 15 t.domain, 16 t.request_id, 17 t.spec_fingerprint, 18
//   t.revoked_at, 19 t.revocation_seq, 20 t.revocation_reason
// The FROM clause must name tokens t and end with kTokenJoins.
extern const char kTokenColumns[];
extern const char kTokenJoins[];

// Columns of every audit read: 0 e.id, 1 e.time, 2 e.action, 3 a.id (actor),
// 4 o.id, 5 e.token_id, 6 e.tag, 7 e.user_id, 8 e.request_id, 9 e.detail.
extern const char kAuditColumns[];

struct TokenQuery {
  int64_t org_no = 0;
  // Validated filter. `now_seconds` is floor(filter.now or clock).
  TokenFilter filter;
  int64_t now_seconds = 0;
  // Keyset position: rows strictly after (issued_at, no) in newest-first
  // order.
  std::optional<std::pair<int64_t, int64_t>> after;
  int limit = 0;
};

// SELECT kTokenColumns ... ORDER BY issued_at DESC, no DESC LIMIT limit.
BoundQuery BuildTokenListQuery(const TokenQuery& q);
// SELECT count(*) ... (the same rows as the list over all pages).
BoundQuery BuildTokenCountQuery(const TokenQuery& q);

// Tokens to revoke in bulk: SELECT t.no, t.id, t.expires_at of the
// organisation matching `filter` (its state: by not-before at now_seconds),
// not revoked, expires_at > now_seconds, with no <= max_no and keyset-after
// `after`, newest first, LIMIT limit.
struct RevokeQuery {
  int64_t org_no = 0;
  RevokeFilter filter;
  int64_t now_seconds = 0;
  int64_t max_no = 0;
  std::optional<std::pair<int64_t, int64_t>> after;
  int limit = 0;
};
// Columns: 0 t.no, 1 t.id, 2 t.expires_at, 3 t.issued_at, 4 t.tag,
// 5 t.user_id. count_only: SELECT count(*) instead, no keyset/limit.
BoundQuery BuildRevokeSelectQuery(const RevokeQuery& q, bool count_only);

struct AuditQuery {
  int64_t org_no = 0;
  std::string tag;
  std::string user_id;
  std::string token_id_bytes;  // 16 bytes or empty
  std::optional<int> action;
  std::optional<int64_t> since_micros;
  std::optional<int64_t> until_micros;
  // id bounds derived from since/until (audit time never decreases with id):
  std::optional<int64_t> min_id;       // id >= min_id
  std::optional<int64_t> max_id_excl;  // id <  max_id_excl
  std::optional<int64_t> before_id;    // keyset: id < before_id
  int limit = 0;
};
// SELECT kAuditColumns ... ORDER BY e.id DESC LIMIT limit.
BoundQuery BuildAuditListQuery(const AuditQuery& q);

// The first audit event at or after id ?1: 0 id, 1 time (a rowid seek).
extern const char kAuditProbeSql[];

// The smallest audit id whose time >= `micros`, by binary search over ids
// (audit time never decreases with id); nullopt if there is none. About
// log2(ids) rowid seeks.
absl::StatusOr<std::optional<int64_t>> FirstAuditIdAtOrAfter(Connection& c,
                                                             int64_t micros);

// The token of organisation ?1 with request hash ?2 and request id ?3:
// column 0 t.no.
extern const char kTokenByRequestSql[];

// The value stored in tokens.request_hash for a request id: the first 8
// bytes of its SHA-256 as a signed integer.
int64_t RequestHash(absl::string_view request_id);

// Revocation log reads. Columns: 0 r.seq, 1 r.token_id, 2 o.id,
// 3 r.revoked_at, 4 r.expires_at.
// ?1 = after sequence, ?2 = limit; ascending.
extern const char kRevocationsSinceSql[];
// ?1 = now (seconds): expires_at > ?1, ascending by sequence.
extern const char kActiveRevocationsSql[];

// Retention sweep. ?1 = cutoff (seconds), ?2 = batch size.
// Columns: 0 no, 1 org_no, 2 kind, 3 issued_at, 4 target.
extern const char kSweepSelectSql[];
// Deletes up to ?2 revocation events whose token expired before ?1.
extern const char kSweepRevocationsSql[];

// What a page token is bound to (page_token.h): ListTokens' organisation
// and filter, ListAuditEvents' organisation and filter.
std::string TokenListBinding(absl::string_view org_id, const TokenFilter& f);
std::string AuditBinding(absl::string_view org_id, const AuditFilter& f);
// A bulk revocation's filter as "tag=... user_id=... ..." for its audit
// event.
std::string RevokeFilterText(const RevokeFilter& filter);

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_TOKEN_QUERIES_H_

#include "storage/schema.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/schema_version.h"

namespace token_authority::storage::sqlite {
namespace {

// Space matters (the goal is <= 600 bytes per token on disk, indexes and the
// token's audit event included), so:
// - tokens is a rowid table: rows are appended in rowid order (full pages)
//   and every index carries the small integer rowid, not the 16-byte id;
// - organisations, signing keys and API keys are referenced by their integer
//   `no`, never by their text ids;
// - the token id (jti) is stored as its 16 raw bytes; empty optional text is
//   NULL (one header byte) and partial indexes leave NULLs out;
// - not_before is NULL when it equals issued_at;
// - audit_action leaves out token.issued events (one per token): a filter
//   on that action reads audit_org instead, where nearly all events match;
// - request ids (often 36-character UUIDs) are indexed by a 64-bit hash
//   (request_hash, a SHA-256 prefix); lookups compare the full text too.
//   Uniqueness per organisation is kept by the single writer, which checks
//   before inserting in the same transaction;
// - audit events have no time index: their time never decreases with their
//   id, so a time is turned into an id by binary search on the rowid;
// - the stream names of a token live in its row (comma-joined: names are
//   [A-Za-z0-9._-]) for reading, and in token_streams (WITHOUT ROWID, keyed
//   for the stream filter) for searching.
// organizations row no = 0 (id '') stands for "service-wide" so that
// org_no is never NULL and foreign keys hold.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE organizations(
  no INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  secure_enabled INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
INSERT INTO organizations(no, id, name, secure_enabled, created_at, updated_at)
  VALUES (0, '', '', 0, 0, 0);

CREATE TABLE api_keys(
  no INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  org_no INTEGER NOT NULL REFERENCES organizations(no),
  role INTEGER NOT NULL,
  name TEXT,
  secret_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys(org_no);

CREATE TABLE signing_keys(
  no INTEGER PRIMARY KEY,
  org_no INTEGER NOT NULL REFERENCES organizations(no),
  kid TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  state INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER,
  sealed_key BLOB NOT NULL,
  UNIQUE(org_no, kid)
);

CREATE TABLE tokens(
  no INTEGER PRIMARY KEY,
  id BLOB NOT NULL,
  org_no INTEGER NOT NULL REFERENCES organizations(no),
  kind INTEGER NOT NULL,
  target TEXT,
  issued_at INTEGER NOT NULL,
  not_before INTEGER,
  expires_at INTEGER NOT NULL,
  key_no INTEGER NOT NULL REFERENCES signing_keys(no),
  jwt_sha256 BLOB NOT NULL,
  issued_by INTEGER REFERENCES api_keys(no),
  user_id TEXT,
  tag TEXT,
  client_ip TEXT,
  domain TEXT,
  request_id TEXT,
  request_hash INTEGER,
  spec_fingerprint BLOB,
  revoked_at INTEGER,
  revocation_seq INTEGER,
  revocation_reason TEXT
);
CREATE UNIQUE INDEX tokens_id ON tokens(id);
CREATE INDEX tokens_org ON tokens(org_no, issued_at);
CREATE INDEX tokens_tag ON tokens(org_no, tag, issued_at)
  WHERE tag IS NOT NULL;
CREATE INDEX tokens_user ON tokens(org_no, user_id, issued_at)
  WHERE user_id IS NOT NULL;
CREATE INDEX tokens_group ON tokens(org_no, target, issued_at)
  WHERE kind = 1;
CREATE INDEX tokens_request ON tokens(org_no, request_hash)
  WHERE request_hash IS NOT NULL;
CREATE INDEX tokens_expires ON tokens(expires_at);

CREATE TABLE token_streams(
  org_no INTEGER NOT NULL,
  stream TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  token_no INTEGER NOT NULL,
  PRIMARY KEY(org_no, stream, issued_at, token_no)
) WITHOUT ROWID;

CREATE TABLE revocations(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  token_id BLOB NOT NULL,
  org_no INTEGER NOT NULL REFERENCES organizations(no),
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX revocations_expires ON revocations(expires_at);

CREATE TABLE audit_events(
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  action INTEGER NOT NULL,
  org_no INTEGER NOT NULL REFERENCES organizations(no),
  actor_no INTEGER REFERENCES api_keys(no),
  token_id BLOB,
  tag TEXT,
  user_id TEXT,
  request_id TEXT,
  detail TEXT
);
CREATE INDEX audit_org ON audit_events(org_no);
CREATE INDEX audit_action ON audit_events(org_no, action) WHERE action != 1;
CREATE INDEX audit_tag ON audit_events(org_no, tag) WHERE tag IS NOT NULL;
CREATE INDEX audit_user ON audit_events(org_no, user_id)
  WHERE user_id IS NOT NULL;
CREATE INDEX audit_token ON audit_events(token_id) WHERE token_id IS NOT NULL;
)sql";

constexpr char kSchemaV2[] = R"sql(
CREATE INDEX tokens_revoked ON tokens(org_no, issued_at)
  WHERE revoked_at IS NOT NULL;
)sql";

const char* const kSteps[] = {kSchemaV1, kSchemaV2};
static_assert(sizeof(kSteps) / sizeof(kSteps[0]) == kLatestSchemaVersion);

}  // namespace

absl::StatusOr<int> SchemaVersion(Connection& conn) {
  absl::StatusOr<int64_t> v = conn.QueryInt64("PRAGMA user_version");
  if (!v.ok()) {
    if (absl::IsFailedPrecondition(v.status()) ||
        absl::IsDataLoss(v.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "not a token-authority database (", v.status().message(), ")"));
    }
    return v.status();
  }
  return static_cast<int>(*v);
}

absl::Status Migrate(Connection& conn, int target) {
  TA_ASSIGN_OR_RETURN(int current, SchemaVersion(conn));
  TA_RETURN_IF_ERROR(CheckSchemaNotNewer(current, kLatestSchemaVersion));
  if (target < 0 || target > kLatestSchemaVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("target: no schema version ", target));
  }
  if (current > target) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", current, " is newer than ", target));
  }
  while (current < target) {
    const int next = current + 1;
    Transaction txn(&conn);
    TA_RETURN_IF_ERROR(txn.Begin());
    // Re-read inside the write transaction: another process may have
    // migrated meanwhile.
    TA_ASSIGN_OR_RETURN(int now, SchemaVersion(conn));
    if (now != current) {
      txn.Rollback();
      current = now;
      if (current > target) break;
      continue;
    }
    absl::Status st = conn.Exec(kSteps[current]);
    if (!st.ok()) return MigrationStepError(next, st);
    TA_RETURN_IF_ERROR(conn.Exec(absl::StrCat("PRAGMA user_version = ", next)));
    TA_RETURN_IF_ERROR(txn.Commit());
    current = next;
  }
  return absl::OkStatus();
}

}  // namespace token_authority::storage::sqlite

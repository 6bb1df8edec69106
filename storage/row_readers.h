// Row readers of the SQLite store: each turns the current row of a Statement
// into a record, reading the columns in the order of the column list named
// beside it; plus the conversions between stored integers and times (stored
// enumerations: column_codes.h). Pure functions of the row: no I/O, no
// locking; a Statement is used by one thread at a time.
#ifndef STORAGE_ROW_READERS_H_
#define STORAGE_ROW_READERS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/sqlite_db.h"
#include "storage/token_store.h"

namespace token_authority::storage::sqlite {

// Stored times: microseconds since the Unix epoch (records' own times) or
// whole seconds (a token's issued/not-before/expiry, as in its JWT).
inline absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }
// NULL -> nullopt, else FromMicros of the column.
std::optional<absl::Time> OptionalMicros(const Statement& s, int col);
// Seconds since the Unix epoch, rounded towards the past.
int64_t FloorSeconds(absl::Time t);

// Columns of kTokenColumns (token_queries.h). DataLoss for a kind or an
// algorithm no writer stores (column_codes.h).
absl::StatusOr<Token> ReadToken(const Statement& s);

// Columns of kAuditColumns (token_queries.h). DataLoss for an action no
// writer stores.
absl::StatusOr<AuditEvent> ReadAudit(const Statement& s);

inline constexpr char kOrgColumns[] =
    "id, name, secure_enabled, created_at, updated_at";
// Columns of kOrgColumns.
Organization ReadOrganization(const Statement& s);

// "SELECT " kApiKeyColumns " WHERE ...": the columns and the FROM clause.
inline constexpr char kApiKeyColumns[] =
    "k.id, o.id, k.role, k.name, k.secret_hash, k.created_at, k.revoked_at, "
    "k.last_used_at FROM api_keys k CROSS JOIN organizations o ON o.no = "
    "k.org_no";
// Columns of kApiKeyColumns. DataLoss for a role no writer stores.
absl::StatusOr<ApiKey> ReadApiKey(const Statement& s);

// "SELECT " kSigningKeyColumns " WHERE ...": the columns and the FROM clause.
inline constexpr char kSigningKeyColumns[] =
    "o.id, k.kid, k.algorithm, k.state, k.created_at, k.retired_at, "
    "k.sealed_key FROM signing_keys k CROSS JOIN organizations o ON o.no = "
    "k.org_no";
// Columns of kSigningKeyColumns. Fills every field but private_key and
// returns the sealed private key (to open with the key-encryption key).
// DataLoss for a state or an algorithm no writer stores (column_codes.h).
absl::StatusOr<std::string> ReadSigningKey(const Statement& s, SigningKey* k);

// Columns of kRevocationsSinceSql and kActiveRevocationsSql
// (token_queries.h).
RevocationEvent ReadRevocation(const Statement& s);

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_ROW_READERS_H_

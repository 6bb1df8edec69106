// How the token core's enumerations are kept in SQLite columns: the one
// place that maps them, each way. The stored values are part of the file
// format and never follow the enums' numbers: tokens.kind and
// signing_keys.state hold the integers below, signing_keys.algorithm the
// JOSE name. (SQL text that names a stored value literally, such as the
// partial index tokens_group "WHERE kind = 1" and the queries that must match
// it, spells the same integers.) Pure functions; thread-safe.
#ifndef STORAGE_COLUMN_CODES_H_
#define STORAGE_COLUMN_CODES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/algorithm.h"
#include "token/signing_key.h"
#include "token/target.h"

namespace token_authority::storage::sqlite {

// tokens.kind: 1 stream group, 2 streams, 3 organisation.
inline constexpr int64_t kStoredStreamGroup = 1;
inline constexpr int64_t kStoredStreams = 2;
inline constexpr int64_t kStoredOrganization = 3;
// signing_keys.state: 1 primary, 2 active, 3 retired.
inline constexpr int64_t kStoredPrimary = 1;
inline constexpr int64_t kStoredActive = 2;
inline constexpr int64_t kStoredRetired = 3;

// To the column. Precondition: a value of the enum (records are checked by
// record_validation.h before they are written); anything else gives 0 or "",
// which no reader accepts.
int64_t TargetKindColumn(token::Target::Kind kind);
int64_t KeyStateColumn(token::KeyState state);
absl::string_view AlgorithmColumn(token::Algorithm alg);

// From the column. A value no writer stores is DataLoss naming the column,
// e.g. "tokens.kind: unknown stored value 7".
absl::StatusOr<token::Target::Kind> TargetKindFromColumn(int64_t value);
absl::StatusOr<token::KeyState> KeyStateFromColumn(int64_t value);
// Exactly "ES256", "RS256", "EdDSA" or "HS256" (case-sensitive).
absl::StatusOr<token::Algorithm> AlgorithmFromColumn(absl::string_view value);

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_COLUMN_CODES_H_

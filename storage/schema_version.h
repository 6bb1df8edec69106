// The schema-version rules both stores' migrations share (schema.h for
// SQLite's user_version, pg_schema.h for PostgreSQL's ta_schema): a newer
// database is refused with one line, and a failed step names its version.
#ifndef STORAGE_SCHEMA_VERSION_H_
#define STORAGE_SCHEMA_VERSION_H_

#include "absl/status/status.h"

namespace token_authority::storage {

// FailedPrecondition when the database's schema version `current` is newer
// than `latest`, the newest this build supports; else OK.
absl::Status CheckSchemaNotNewer(int current, int latest);

// `st`, the failure of the migration step to version `next`, naming it.
absl::Status MigrationStepError(int next, const absl::Status& st);

}  // namespace token_authority::storage

#endif  // STORAGE_SCHEMA_VERSION_H_

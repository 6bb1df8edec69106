#include "storage/schema_version.h"

#include "absl/strings/str_cat.h"

namespace token_authority::storage {

absl::Status CheckSchemaNotNewer(int current, int latest) {
  if (current <= latest) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "database schema version ", current, " is newer than this build ",
      "supports (", latest, "): upgrade token-authority"));
}

absl::Status MigrationStepError(int next, const absl::Status& st) {
  return absl::Status(st.code(), absl::StrCat("schema migration to version ",
                                              next, ": ", st.message()));
}

}  // namespace token_authority::storage

// `token-authority migrate`: moving a stopped SQLite deployment (a data
// directory) into an empty PostgreSQL database, for replicas
// (storage/sqlite_to_postgres.h does the copy). README "Running several
// replicas on PostgreSQL".
#ifndef SERVER_MIGRATE_H_
#define SERVER_MIGRATE_H_

#include <string>

#include "absl/status/statusor.h"

namespace token_authority::server {

struct MigrateRequest {
  std::string from;           // the data directory (server stopped)
  std::string to;             // postgresql://... (or key=value conninfo)
  std::string password_file;  // optional: the password on its first line
  std::string kek_file;       // default: kek.key in `from`
};

// Copies <from>/token-authority.db into `to` while holding the data
// directory's lock (a server still running on it is refused), all or
// nothing. The summary: one line per table ("organizations: copied 3") and
// a last line with the revocation sequence. FailedPrecondition in one line
// naming the flag for a missing directory or database, a running server, an
// unreadable password file; the copy's errors (a missing or wrong KEK, a
// non-empty database, PostgreSQL unreachable) as they are.
absl::StatusOr<std::string> MigrateDataDir(const MigrateRequest& request);

}  // namespace token_authority::server

#endif  // SERVER_MIGRATE_H_

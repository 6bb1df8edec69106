// The commands of the token-authority binary that run without serving:
//
//   token-authority admin-key reset [--data-dir DIR]     (server stopped)
//   token-authority backup [--data-dir DIR] --to FILE    (running or not)
//   token-authority restore --from FILE [--kek-file KEK] --data-dir NEWDIR
//   token-authority migrate --from DIR --to postgresql://...
//       [--database-password-file FILE] [--kek-file KEK]  (server stopped)
//
// See README "Admin keys", "Backups" and "Running several replicas on
// PostgreSQL".
#ifndef SERVER_OFFLINE_COMMANDS_H_
#define SERVER_OFFLINE_COMMANDS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace token_authority::server {

// Whether `first_argument` (argv[1]) names one of the commands above.
bool IsOfflineCommand(absl::string_view first_argument);

// Runs the command in argv[1..] (argv[0] is the program): fills `out` and
// `err` and returns the exit code (0 done, 1 failed, 2 usage error).
int RunOfflineCommand(int argc, const char* const* argv, std::string* out,
                      std::string* err);

}  // namespace token_authority::server

#endif  // SERVER_OFFLINE_COMMANDS_H_

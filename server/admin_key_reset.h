// `token-authority admin-key reset --data-dir DIR`: the offline recovery for
// an authority whose admin keys are all lost or revoked. With the server
// stopped (the data directory's lock says so), it writes a new service-wide
// admin key to DIR/admin.key, audited as an offline recovery.
#ifndef SERVER_ADMIN_KEY_RESET_H_
#define SERVER_ADMIN_KEY_RESET_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "base/random.h"

namespace token_authority::server {

struct AdminKeyReset {
  std::string key_id;
  std::string path;  // where the secret was written
};

// Creates a new service-wide admin key ("recovery admin") in the store of
// `data_dir` and writes its secret to <data_dir>/admin.key (replacing the
// file, mode 0600). Errors: FailedPrecondition when a server (or another
// reset) holds the directory, when it holds no database, or when the store
// cannot be opened (e.g. a wrong kek.key); the store's errors.
absl::StatusOr<AdminKeyReset> ResetAdminKey(const std::string& data_dir,
                                            const Clock& clock,
                                            RandomSource& random);

}  // namespace token_authority::server

#endif  // SERVER_ADMIN_KEY_RESET_H_

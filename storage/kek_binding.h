// How a database is bound to its key-encryption key, the same for every
// TokenStore backend: a check value sealed under the KEK (and the KEK's
// fingerprint) kept in the database's meta table, and the associated data
// that binds a sealed signing key to its organisation and kid.
#ifndef STORAGE_KEK_BINDING_H_
#define STORAGE_KEK_BINDING_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/random.h"
#include "storage/key_encryption_key.h"

namespace token_authority::storage {

// What a database holds about its KEK.
struct KekRecord {
  std::optional<std::string> check;        // meta "kek_check"
  std::optional<std::string> fingerprint;  // meta "kek_fingerprint"
  bool holds_signing_keys = false;
};

// The KEK to use with a database holding `record`: `given` if set, else the
// file at `path`. The file is created (KeyEncryptionKey::LoadOrCreate) only
// for a database bound to no key yet; if the database holds keys or a check
// value, a missing file is FailedPrecondition and nothing is created. A key
// that does not open the check value is FailedPrecondition. `database`
// names the database in messages.
absl::StatusOr<KeyEncryptionKey> ResolveKek(
    const KekRecord& record, const std::optional<KeyEncryptionKey>& given,
    const std::string& path, absl::string_view database, RandomSource& random);

// The check value to store as meta "kek_check" for `kek`.
absl::StatusOr<std::string> SealKekCheck(const KeyEncryptionKey& kek,
                                         RandomSource& random);

// Associated data binding a sealed signing key to its organisation and kid.
std::string SigningKeyAad(absl::string_view org_id, absl::string_view kid);

}  // namespace token_authority::storage

#endif  // STORAGE_KEK_BINDING_H_

#include "server/admin_key_reset.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/data_dir.h"
#include "server/token_authority.h"
#include "storage/sqlite_token_store.h"

namespace token_authority::server {

absl::StatusOr<AdminKeyReset> ResetAdminKey(const std::string& data_dir,
                                            const Clock& clock,
                                            RandomSource& random) {
  if (!FileExists(DatabasePath(data_dir))) {
    return absl::FailedPreconditionError(
        absl::StrCat("data-dir: ", data_dir, " holds no token-authority.db"));
  }
  TA_ASSIGN_OR_RETURN(std::unique_ptr<DataDirLock> lock,
                      DataDirLock::Acquire(data_dir));
  storage::SqliteTokenStoreOptions store_options;
  store_options.path = DatabasePath(data_dir);
  store_options.key_encryption_key_path = KekPath(data_dir);
  store_options.clock = &clock;
  store_options.random = &random;
  TA_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::SqliteTokenStore> store,
      storage::SqliteTokenStore::Open(std::move(store_options)));
  absl::StatusOr<std::unique_ptr<TokenAuthority>> authority =
      TokenAuthority::Create(TokenAuthorityOptions(), store.get(), clock,
                             random);
  absl::StatusOr<CreatedApiKey> key =
      authority.ok()
          ? (*authority)
                ->CreateBootstrapAdminKey("recovery admin",
                                          "admin key created offline by "
                                          "token-authority admin-key reset")
          : authority.status();
  if (authority.ok()) (*authority)->Shutdown();
  const absl::Status closed = store->Shutdown();
  if (!key.ok()) return key.status();
  TA_RETURN_IF_ERROR(closed);
  AdminKeyReset out;
  out.key_id = key->key.id;
  out.path = AdminKeyPath(data_dir);
  TA_RETURN_IF_ERROR(WriteSecretFile(data_dir, out.path, key->secret + "\n"));
  return out;
}

}  // namespace token_authority::server

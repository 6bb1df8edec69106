#include "server/caller.h"

#include "absl/strings/str_cat.h"

namespace token_authority::server {

absl::Status RequireRole(const Caller& caller,
                         std::initializer_list<ApiKeyRole> allowed,
                         absl::string_view what) {
  for (ApiKeyRole r : allowed) {
    if (caller.role == r) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("an API key with role ",
                   storage::ApiKeyRoleName(caller.role), " may not ", what));
}

}  // namespace token_authority::server

// Who is calling (the authenticated API key) and the role check every core
// method starts with. Part of TokenAuthority's interface (token_authority.h
// includes it); the parts of the core (server/*_registry.h) share it.
#ifndef SERVER_CALLER_H_
#define SERVER_CALLER_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "storage/token_store.h"

namespace token_authority::server {

using storage::ApiKeyRole;

// Who is calling, as established by Authenticate.
struct Caller {
  // The API key's id ("" only for the service itself, e.g. bootstrap).
  std::string api_key_id;
  ApiKeyRole role = ApiKeyRole::kVerifier;
  // The organisation the call acts for: the key's own organisation, or, for
  // an admin key, the x-organization-id header ("" when absent). Verifier
  // keys may carry their organisation here; it does not restrict them.
  std::string organization_id;
};

// OK when the caller's role is one of `allowed`; otherwise PERMISSION_DENIED
// "an API key with role <role> may not <what>". Pure.
absl::Status RequireRole(const Caller& caller,
                         std::initializer_list<ApiKeyRole> allowed,
                         absl::string_view what);

}  // namespace token_authority::server

#endif  // SERVER_CALLER_H_

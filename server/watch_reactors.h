// The server-streaming reactors of TokenService: WatchRevocations and
// WatchOrganizationStates, and the stream that ends at once with an error.
// Internal to server/ (grpc_token_service.cc).
//
// A watch stream subscribes to its feed (which wakes it when there may be
// something new) and to TokenAuthority::api_key_revocations(), keeps one
// write in flight, and ends on cancellation, a broken stream, the
// revocation of its API key (UNAUTHENTICATED) or server shutdown
// (UNAVAILABLE, once caught up), with one log line at the end. Each reactor
// deletes itself when gRPC is done with it.
#ifndef SERVER_WATCH_REACTORS_H_
#define SERVER_WATCH_REACTORS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "convert/status.h"
#include "grpcpp/support/server_callback.h"
#include "server/grpc_call.h"
#include "server/token_authority.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::server {

namespace v1 = ::tokenauthority::v1;

// Streams revocations with a sequence above `since`: replayed from the feed
// (memory, or the store for old cursors), then live ones as the feed
// announces them. `caller` was authenticated and authorised.
grpc::ServerWriteReactor<v1::RevocationEvent>* StartRevocationWatch(
    const ServiceDeps& deps, const Caller& caller, CallInfo info, int64_t since,
    std::chrono::steady_clock::time_point start);

// Streams the states of `organization_ids` (authorised): first a snapshot
// (snapshot = true), then each change as it is published.
grpc::ServerWriteReactor<v1::OrganizationStateEvent>*
StartOrganizationStateWatch(const ServiceDeps& deps, const Caller& caller,
                            CallInfo info,
                            std::vector<std::string> organization_ids,
                            std::chrono::steady_clock::time_point start);

// A stream that ends at once with `status` (authentication and argument
// failures), logged as `method`.
template <typename Event>
class FailedWatch : public grpc::ServerWriteReactor<Event> {
 public:
  FailedWatch(const ServiceDeps& deps, absl::string_view method,
              const CallInfo& info, const absl::Status& status,
              std::chrono::steady_clock::time_point start) {
    LogCall(deps, method, info, status.code(), start);
    this->Finish(convert::ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace token_authority::server

#endif  // SERVER_WATCH_REACTORS_H_

// The four steps every gRPC handler takes (authenticate, convert, call the
// core, convert back), plus the call log line, in one helper so that each
// adapter method is a few lines. Internal to server/.
#ifndef SERVER_GRPC_CALL_H_
#define SERVER_GRPC_CALL_H_

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/blocking_executor.h"
#include "server/call_log.h"
#include "server/reply_backlog.h"
#include "server/token_authority.h"

namespace token_authority::server {

// What the adapters share. Not owned; everything outlives the gRPC server.
struct ServiceDeps {
  TokenAuthority* authority = nullptr;
  // Runs handlers that touch the store, off gRPC's callback threads.
  BlockingExecutor* executor = nullptr;
  // Runs the handlers of listing calls (Execution::kListing); nullptr: those
  // run on `executor` too.
  BlockingExecutor* list_executor = nullptr;
  CallLog* log = nullptr;
  // Bounds the replies waiting for slow readers; nullptr: unbounded.
  ReplyBacklog* backlog = nullptr;
};

// The bearer secret from "authorization: Bearer <key>" ("" when absent or
// another scheme), the "x-organization-id" and "x-request-id" headers.
struct CallMetadata {
  std::string api_key;
  std::string organization_id;
  std::string request_id;
};
// Fills `out` from the call's headers. INVALID_ARGUMENT naming the header
// when "authorization" or "x-organization-id" comes more than once (which
// one counts is never guessed); `out->request_id` is filled even then, for
// the log line (the first one when repeated).
absl::Status ReadMetadata(const grpc::CallbackServerContext& context,
                          CallMetadata* out);

// Whether the call's deadline has passed or the client went away; the
// status to answer with if so.
absl::Status CheckCallAlive(const grpc::CallbackServerContext& context);

// Per-call facts for the log line; a handler may fill organization_id (e.g.
// VerifyToken's requested organisation) and request_id.
struct CallInfo {
  std::string organization_id;
  std::string request_id;
  std::string peer;  // gRPC's peer string, e.g. "ipv4:127.0.0.1:50312"
};

// Reads the call's peer and metadata into `info` (request id) and
// authenticates its API key; on success also records the caller's
// organisation in `info`.
// UNAUTHENTICATED (or the core's error) otherwise.
absl::StatusOr<Caller> AuthenticateCall(
    const ServiceDeps& deps, const grpc::CallbackServerContext& context,
    CallInfo* info);

enum class Execution {
  kInline,    // memory only (VerifyToken, GetJwks): on gRPC's thread
  kBlocking,  // touches the store: on the BlockingExecutor
  kListing,   // reads a page of rows: on the (smaller) listing executor
};

// Runs one unary call: checks the deadline (and, unless kInline, that the
// connection's reply backlog has room), authenticates, runs `handler` (which
// converts, calls the core and fills `response`), reserves the reply's bytes
// in deps.backlog (RESOURCE_EXHAUSTED instead of the reply when full),
// answers with the converted status and writes the log line. Returns the
// reactor to hand back to gRPC.
grpc::ServerUnaryReactor* RunUnary(
    const ServiceDeps& deps, grpc::CallbackServerContext* context,
    google::protobuf::MessageLite* response, absl::string_view method,
    Execution execution,
    std::function<absl::Status(const Caller&, CallInfo&)> handler);

// Ends a call whose handler answers later: fills nothing itself, writes
// the log line and finishes the call with `status`. Call exactly once, from
// any thread, after the response is filled.
using Respond = std::function<void(const absl::Status&)>;

// Like RunUnary, for a handler that answers later (IssueToken: after the
// store's commit, from its completion thread). `handler` runs on gRPC's thread
// after the deadline check and authentication and must call `respond` exactly
// once, now or later; `info` stays valid until then.
grpc::ServerUnaryReactor* RunUnaryAsync(
    const ServiceDeps& deps, grpc::CallbackServerContext* context,
    google::protobuf::MessageLite* response, absl::string_view method,
    const std::function<void(const Caller&, CallInfo&, Respond)>& handler);

// Writes the log line of a call that started at `start`.
void LogCall(const ServiceDeps& deps, absl::string_view method,
             const CallInfo& info, absl::StatusCode code,
             std::chrono::steady_clock::time_point start);

}  // namespace token_authority::server

#endif  // SERVER_GRPC_CALL_H_

// TokenAuthorityClient: a typed, retrying client for the four services of the
// token-authority API (TokenService, KeyService, AuditService, AdminService).
//
// Every RPC is a method returning absl::StatusOr<response>. Each logical call
// has one deadline (CallOptions::deadline, else
// ClientOptions::default_deadline) covering all of its attempts. Calls that are
// safe to repeat are retried on UNAVAILABLE with exponential backoff and
// jitter, bounded by RetryPolicy::max_attempts and by the deadline. IssueToken
// is made safe to retry by its idempotency key: when the caller leaves
// request_id empty, the client generates one (128 random bits, base64url) once
// per logical call and sends the same one with every attempt.
//
// Not retried (a repeat would create a second object): CreateOrganization,
// CreateApiKey, RotateSigningKey. RevokeTokens is retried (the end state is
// the same), but after a retry its count covers only the attempt that
// answered.
//
// The client is written against the generated StubInterfaces, so tests can
// hand it gmock stubs (CreateWithStubs).
#ifndef CLIENT_CLIENT_H_
#define CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/audit_service.grpc.pb.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

// How UNAVAILABLE answers are retried. Attempt n (n >= 1) waits
// min(max_backoff, initial_backoff * multiplier^(n-1)), scaled by a random
// factor in [1 - jitter, 1 + jitter], before attempt n + 1.
struct RetryPolicy {
  // Attempts per logical call, the first included (1 disables retries).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double multiplier = 2.0;
  // In [0, 1].
  double jitter = 0.2;
};

// Checks a policy's ranges; InvalidArgument naming the field otherwise.
absl::Status ValidateRetryPolicy(const RetryPolicy& policy);

// How to reach and authenticate to the authority.
struct ClientOptions {
  // Sent as "authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  // For admin keys acting for an organisation: sent as "x-organization-id"
  // when not empty (CallOptions::organization_id overrides it per call).
  std::string organization_id;

  // Transport. insecure = true uses plaintext (meant for loopback and tests);
  // otherwise TLS, verifying the server against tls_root_ca_pem (PEM text;
  // empty: the system's roots). tls_client_cert_pem and tls_client_key_pem
  // (both or neither) present a client certificate for mTLS.
  bool insecure = false;
  std::string tls_root_ca_pem;
  std::string tls_client_cert_pem;
  std::string tls_client_key_pem;
  // Expect this name in the server certificate instead of the target's host
  // (for certificates made for "localhost" while dialling 127.0.0.1).
  std::string tls_server_name;

  // The deadline of a logical call (all attempts together), unless the call
  // says otherwise. Must be positive.
  absl::Duration default_deadline = absl::Seconds(10);
  RetryPolicy retry;

  // Injected for tests; nullptr means the real clock, the secure random
  // source and absl::SleepFor. Not owned; must outlive the client.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  std::function<void(absl::Duration)> sleep;
};

// Per-call overrides.
struct CallOptions {
  // The deadline of this logical call; zero or negative: the default.
  absl::Duration deadline = absl::ZeroDuration();
  // Overrides ClientOptions::organization_id for this call when not empty.
  std::string organization_id;
};

// A server-streaming call (WatchRevocations, WatchOrganizationStates).
// Next() blocks; Cancel() may be called from any thread to end a blocked
// Next(). Not otherwise thread-safe.
template <typename Event>
class EventStream {
 public:
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Reads the next event; false when the stream ended (then call Finish()).
  bool Next(Event* event);
  // The stream's final status: CANCELLED after Cancel(), UNAVAILABLE when the
  // connection was lost, and so on. Call once, after Next() returned false.
  absl::Status Finish();
  // Asks the stream to end (ClientContext::TryCancel). Thread-safe, idempotent.
  void Cancel();

 private:
  friend class TokenAuthorityClient;
  EventStream() = default;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderInterface<Event>> reader_;
  bool finished_ = false;
};

using RevocationStream = EventStream<v1::RevocationEvent>;
using OrganizationStateStream = EventStream<v1::OrganizationStateEvent>;

class TokenAuthorityClient {
 public:
  // The stubs a client calls through. Any may be null: calls of a service
  // without a stub fail with FAILED_PRECONDITION.
  struct Stubs {
    std::unique_ptr<v1::TokenService::StubInterface> tokens;
    std::unique_ptr<v1::KeyService::StubInterface> keys;
    std::unique_ptr<v1::AuditService::StubInterface> audit;
    std::unique_ptr<v1::AdminService::StubInterface> admin;
  };

  // Opens a channel to `target` ("host:port", or any gRPC target URI). The
  // channel connects lazily: an unreachable server shows as UNAVAILABLE on
  // the first call, not here. Fails with InvalidArgument for an empty target,
  // half an mTLS pair or a bad retry policy/deadline.
  static absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> Create(
      const std::string& target, ClientOptions options);

  // A client over the given stubs (tests pass gmock stubs). The same checks
  // of `options` as Create(), except those about the transport.
  static absl::StatusOr<std::unique_ptr<TokenAuthorityClient>> CreateWithStubs(
      Stubs stubs, ClientOptions options);

  ~TokenAuthorityClient();
  TokenAuthorityClient(const TokenAuthorityClient&) = delete;
  TokenAuthorityClient& operator=(const TokenAuthorityClient&) = delete;

  // All calls are thread-safe. Failures carry the server's code and message
  // (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...), or
  // DEADLINE_EXCEEDED / UNAVAILABLE when the server could not be reached in
  // time.

  // TokenService.
  // `request.request_id` is filled with a fresh idempotency key when empty;
  // the same key is used by every retry of this call.
  absl::StatusOr<v1::IssueTokenResponse> IssueToken(
      v1::IssueTokenRequest request, const CallOptions& call = {});
  absl::StatusOr<v1::Token> GetToken(const v1::GetTokenRequest& request,
                                     const CallOptions& call = {});
  absl::StatusOr<v1::ListTokensResponse> ListTokens(
      const v1::ListTokensRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::DecodeTokenResponse> DecodeToken(
      const v1::DecodeTokenRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::VerifyTokenResponse> VerifyToken(
      const v1::VerifyTokenRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::Token> RevokeToken(const v1::RevokeTokenRequest& request,
                                        const CallOptions& call = {});
  absl::StatusOr<v1::RevokeTokensResponse> RevokeTokens(
      const v1::RevokeTokensRequest& request, const CallOptions& call = {});
  // Opens the revocation stream. No deadline applies unless `call.deadline`
  // is set; the stream is not retried (the caller resumes from the last
  // sequence it saw). Fails only when the client has no TokenService stub.
  absl::StatusOr<std::unique_ptr<RevocationStream>> WatchRevocations(
      const v1::WatchRevocationsRequest& request, const CallOptions& call = {});
  // Opens the organisation state stream (the same rules as
  // WatchRevocations; a reconnect starts with a fresh snapshot).
  absl::StatusOr<std::unique_ptr<OrganizationStateStream>>
  WatchOrganizationStates(const v1::WatchOrganizationStatesRequest& request,
                          const CallOptions& call = {});

  // KeyService.
  absl::StatusOr<v1::ListSigningKeysResponse> ListSigningKeys(
      const v1::ListSigningKeysRequest& request, const CallOptions& call = {});
  // Not retried.
  absl::StatusOr<v1::RotateSigningKeyResponse> RotateSigningKey(
      const v1::RotateSigningKeyRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::GetJwksResponse> GetJwks(const v1::GetJwksRequest& request,
                                              const CallOptions& call = {});

  // AuditService.
  absl::StatusOr<v1::ListAuditEventsResponse> ListAuditEvents(
      const v1::ListAuditEventsRequest& request, const CallOptions& call = {});

  // AdminService.
  // Not retried.
  absl::StatusOr<v1::Organization> CreateOrganization(
      const v1::CreateOrganizationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::Organization> UpdateOrganization(
      const v1::UpdateOrganizationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::ListOrganizationsResponse> ListOrganizations(
      const v1::ListOrganizationsRequest& request,
      const CallOptions& call = {});
  // Not retried.
  absl::StatusOr<v1::CreateApiKeyResponse> CreateApiKey(
      const v1::CreateApiKeyRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(
      const v1::ListApiKeysRequest& request, const CallOptions& call = {});
  absl::StatusOr<v1::ApiKey> RevokeApiKey(
      const v1::RevokeApiKeyRequest& request, const CallOptions& call = {});

  // A fresh idempotency key: 128 random bits in base64url (22 characters).
  absl::StatusOr<std::string> NewRequestId();

 private:
  TokenAuthorityClient(std::shared_ptr<grpc::Channel> channel, Stubs stubs,
                       ClientOptions options);

  enum class Retry { kOnUnavailable, kNever };

  // Runs one logical call: attempts `attempt` with a fresh ClientContext
  // each time, retrying per `retry`.
  template <typename Response>
  absl::StatusOr<Response> Run(
      const char* method, bool has_stub, Retry retry, const CallOptions& call,
      const std::function<grpc::Status(grpc::ClientContext*, Response*)>&
          attempt);

  void PrepareContext(grpc::ClientContext* context, absl::Time deadline,
                      const CallOptions& call) const;
  absl::Duration Backoff(int attempt);
  // Prepares `stream`'s context for a streaming call with `call`'s deadline
  // (none when unset).
  template <typename Event>
  void PrepareStream(EventStream<Event>& stream, const CallOptions& call) const;

  std::shared_ptr<grpc::Channel> channel_;  // null for CreateWithStubs
  Stubs stubs_;
  const ClientOptions options_;
  const Clock& clock_;
  RandomSource& random_;
};

}  // namespace token_authority::client

#endif  // CLIENT_CLIENT_H_

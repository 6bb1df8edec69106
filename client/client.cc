#include "client/client.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "convert/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace token_authority::client {
namespace {

constexpr char kAuthorizationHeader[] = "authorization";
constexpr char kOrganizationHeader[] = "x-organization-id";

absl::Status ValidateOptions(const ClientOptions& options) {
  TA_RETURN_IF_ERROR(ValidateRetryPolicy(options.retry));
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default_deadline: must be positive");
  }
  // The key travels in a header: gRPC aborts the process on a header value
  // with control characters, so such a key (e.g. two lines pasted from the
  // creation output) is refused here, without echoing it.
  for (size_t i = 0; i < options.api_key.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(options.api_key[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "api_key: character ", i + 1,
          " is a space, control or non-ASCII character; the key is one line "
          "of printable ASCII"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRetryPolicy(const RetryPolicy& policy) {
  if (policy.max_attempts < 1 || policy.max_attempts > 10) {
    return absl::InvalidArgumentError("retry.max_attempts: must be 1 to 10");
  }
  if (policy.initial_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "retry.initial_backoff: must be positive");
  }
  if (policy.max_backoff < policy.initial_backoff) {
    return absl::InvalidArgumentError(
        "retry.max_backoff: must be at least initial_backoff");
  }
  if (!(policy.multiplier >= 1.0) || policy.multiplier > 10.0) {
    return absl::InvalidArgumentError("retry.multiplier: must be 1 to 10");
  }
  if (!(policy.jitter >= 0.0) || policy.jitter > 1.0) {
    return absl::InvalidArgumentError("retry.jitter: must be 0 to 1");
  }
  return absl::OkStatus();
}

// EventStream ---------------------------------------------------------------

template <typename Event>
EventStream<Event>::~EventStream() {
  if (reader_ != nullptr && !finished_) {
    // A reader must be finished before it is destroyed; cancel so Finish()
    // returns at once.
    context_->TryCancel();
    Event ignored;
    while (reader_->Read(&ignored)) {
    }
    reader_->Finish().ok();
  }
}

template <typename Event>
bool EventStream<Event>::Next(Event* event) {
  if (finished_) return false;
  return reader_->Read(event);
}

template <typename Event>
absl::Status EventStream<Event>::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError("stream already finished");
  }
  finished_ = true;
  return convert::FromGrpcStatus(reader_->Finish());
}

template <typename Event>
void EventStream<Event>::Cancel() {
  context_->TryCancel();
}

template class EventStream<v1::RevocationEvent>;
template class EventStream<v1::OrganizationStateEvent>;

// TokenAuthorityClient --------------------------------------------------------

absl::StatusOr<std::unique_ptr<TokenAuthorityClient>>
TokenAuthorityClient::Create(const std::string& target, ClientOptions options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("target: the server address is empty");
  }
  TA_RETURN_IF_ERROR(ValidateOptions(options));
  if (options.tls_client_cert_pem.empty() !=
      options.tls_client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_cert_pem: a client certificate needs its key and the "
        "other way round");
  }
  if (options.insecure && (!options.tls_root_ca_pem.empty() ||
                           !options.tls_client_cert_pem.empty())) {
    return absl::InvalidArgumentError(
        "insecure: plaintext cannot be combined with TLS certificates");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_ca_pem;
    ssl.pem_cert_chain = options.tls_client_cert_pem;
    ssl.pem_private_key = options.tls_client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  // Keep the connection alive through idle periods (watch streams).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target, credentials, args);
  Stubs stubs;
  stubs.tokens = v1::TokenService::NewStub(channel);
  stubs.keys = v1::KeyService::NewStub(channel);
  stubs.audit = v1::AuditService::NewStub(channel);
  stubs.admin = v1::AdminService::NewStub(channel);
  return std::unique_ptr<TokenAuthorityClient>(new TokenAuthorityClient(
      std::move(channel), std::move(stubs), std::move(options)));
}

absl::StatusOr<std::unique_ptr<TokenAuthorityClient>>
TokenAuthorityClient::CreateWithStubs(Stubs stubs, ClientOptions options) {
  TA_RETURN_IF_ERROR(ValidateOptions(options));
  return std::unique_ptr<TokenAuthorityClient>(
      new TokenAuthorityClient(nullptr, std::move(stubs), std::move(options)));
}

TokenAuthorityClient::TokenAuthorityClient(
    std::shared_ptr<grpc::Channel> channel, Stubs stubs, ClientOptions options)
    : channel_(std::move(channel)),
      stubs_(std::move(stubs)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      random_(options_.random != nullptr ? *options_.random
                                         : RandomSource::Secure()) {}

TokenAuthorityClient::~TokenAuthorityClient() = default;

absl::StatusOr<std::string> TokenAuthorityClient::NewRequestId() {
  TA_ASSIGN_OR_RETURN(std::string bytes, random_.Bytes(16));
  return absl::WebSafeBase64Escape(bytes);
}

void TokenAuthorityClient::PrepareContext(grpc::ClientContext* context,
                                          absl::Time deadline,
                                          const CallOptions& call) const {
  if (deadline != absl::InfiniteFuture()) {
    context->set_deadline(absl::ToChronoTime(deadline));
  }
  if (!options_.api_key.empty()) {
    context->AddMetadata(kAuthorizationHeader,
                         absl::StrCat("Bearer ", options_.api_key));
  }
  const std::string& organization = !call.organization_id.empty()
                                        ? call.organization_id
                                        : options_.organization_id;
  if (!organization.empty()) {
    context->AddMetadata(kOrganizationHeader, organization);
  }
}

absl::Duration TokenAuthorityClient::Backoff(int attempt) {
  const RetryPolicy& p = options_.retry;
  absl::Duration base = p.initial_backoff;
  for (int i = 1; i < attempt && base < p.max_backoff; ++i) {
    base = base * p.multiplier;
  }
  base = std::min(base, p.max_backoff);
  if (p.jitter == 0.0) return base;
  uint8_t bytes[8];
  if (!random_.Fill(absl::MakeSpan(bytes)).ok()) return base;
  uint64_t r;
  std::memcpy(&r, bytes, sizeof(r));
  // u in [0, 1) with 53 bits of precision.
  const double u = static_cast<double>(r >> 11) / 9007199254740992.0;
  const double factor = 1.0 - p.jitter + 2.0 * p.jitter * u;
  return base * factor;
}

template <typename Response>
absl::StatusOr<Response> TokenAuthorityClient::Run(
    const char* method, bool has_stub, Retry retry, const CallOptions& call,
    const std::function<grpc::Status(grpc::ClientContext*, Response*)>&
        attempt) {
  if (!has_stub) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, ": this client has no stub for the service"));
  }
  const absl::Duration budget = call.deadline > absl::ZeroDuration()
                                    ? call.deadline
                                    : options_.default_deadline;
  const absl::Time deadline = clock_.Now() + budget;
  const int max_attempts =
      retry == Retry::kOnUnavailable ? options_.retry.max_attempts : 1;
  absl::Status last;
  for (int n = 1;; ++n) {
    grpc::ClientContext context;
    PrepareContext(&context, deadline, call);
    Response response;
    const grpc::Status status = attempt(&context, &response);
    if (status.ok()) return response;
    last = convert::FromGrpcStatus(status);
    if (last.code() != absl::StatusCode::kUnavailable || n >= max_attempts) {
      break;
    }
    const absl::Duration wait = Backoff(n);
    if (clock_.Now() + wait >= deadline) break;
    if (options_.sleep) {
      options_.sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
  }
  return last;
}

// The unary calls: one line each, naming the stub, method and retry class.
#define TA_CLIENT_UNARY(Stub, Method, Request, Response, RetryClass) \
  absl::StatusOr<v1::Response> TokenAuthorityClient::Method(         \
      const v1::Request& request, const CallOptions& call) {         \
    auto* stub = stubs_.Stub.get();                                  \
    return Run<v1::Response>(                                        \
        #Method, stub != nullptr, Retry::RetryClass, call,           \
        [stub, &request](grpc::ClientContext* c, v1::Response* r) {  \
          return stub->Method(c, request, r);                        \
        });                                                          \
  }

TA_CLIENT_UNARY(tokens, GetToken, GetTokenRequest, Token, kOnUnavailable)
TA_CLIENT_UNARY(tokens, ListTokens, ListTokensRequest, ListTokensResponse,
                kOnUnavailable)
TA_CLIENT_UNARY(tokens, DecodeToken, DecodeTokenRequest, DecodeTokenResponse,
                kOnUnavailable)
TA_CLIENT_UNARY(tokens, VerifyToken, VerifyTokenRequest, VerifyTokenResponse,
                kOnUnavailable)
TA_CLIENT_UNARY(tokens, RevokeToken, RevokeTokenRequest, Token, kOnUnavailable)
TA_CLIENT_UNARY(tokens, RevokeTokens, RevokeTokensRequest, RevokeTokensResponse,
                kOnUnavailable)
TA_CLIENT_UNARY(keys, ListSigningKeys, ListSigningKeysRequest,
                ListSigningKeysResponse, kOnUnavailable)
TA_CLIENT_UNARY(keys, RotateSigningKey, RotateSigningKeyRequest,
                RotateSigningKeyResponse, kNever)
TA_CLIENT_UNARY(keys, GetJwks, GetJwksRequest, GetJwksResponse, kOnUnavailable)
TA_CLIENT_UNARY(audit, ListAuditEvents, ListAuditEventsRequest,
                ListAuditEventsResponse, kOnUnavailable)
TA_CLIENT_UNARY(admin, CreateOrganization, CreateOrganizationRequest,
                Organization, kNever)
TA_CLIENT_UNARY(admin, UpdateOrganization, UpdateOrganizationRequest,
                Organization, kOnUnavailable)
TA_CLIENT_UNARY(admin, ListOrganizations, ListOrganizationsRequest,
                ListOrganizationsResponse, kOnUnavailable)
TA_CLIENT_UNARY(admin, CreateApiKey, CreateApiKeyRequest, CreateApiKeyResponse,
                kNever)
TA_CLIENT_UNARY(admin, ListApiKeys, ListApiKeysRequest, ListApiKeysResponse,
                kOnUnavailable)
TA_CLIENT_UNARY(admin, RevokeApiKey, RevokeApiKeyRequest, ApiKey,
                kOnUnavailable)

#undef TA_CLIENT_UNARY

absl::StatusOr<v1::IssueTokenResponse> TokenAuthorityClient::IssueToken(
    v1::IssueTokenRequest request, const CallOptions& call) {
  auto* stub = stubs_.tokens.get();
  if (stub != nullptr && request.request_id().empty()) {
    // Once per logical call: every retry below carries the same key, so the
    // server answers a repeat with the token it already issued.
    TA_ASSIGN_OR_RETURN(*request.mutable_request_id(), NewRequestId());
  }
  return Run<v1::IssueTokenResponse>(
      "IssueToken", stub != nullptr, Retry::kOnUnavailable, call,
      [stub, &request](grpc::ClientContext* c, v1::IssueTokenResponse* r) {
        return stub->IssueToken(c, request, r);
      });
}

template <typename Event>
void TokenAuthorityClient::PrepareStream(EventStream<Event>& stream,
                                         const CallOptions& call) const {
  stream.context_ = std::make_unique<grpc::ClientContext>();
  const absl::Time deadline = call.deadline > absl::ZeroDuration()
                                  ? clock_.Now() + call.deadline
                                  : absl::InfiniteFuture();
  PrepareContext(stream.context_.get(), deadline, call);
}

absl::StatusOr<std::unique_ptr<RevocationStream>>
TokenAuthorityClient::WatchRevocations(
    const v1::WatchRevocationsRequest& request, const CallOptions& call) {
  if (stubs_.tokens == nullptr) {
    return absl::FailedPreconditionError(
        "WatchRevocations: this client has no stub for the service");
  }
  std::unique_ptr<RevocationStream> stream(new RevocationStream());
  PrepareStream(*stream, call);
  stream->reader_ =
      stubs_.tokens->WatchRevocations(stream->context_.get(), request);
  if (stream->reader_ == nullptr) {
    return absl::InternalError("WatchRevocations: the stub returned no stream");
  }
  return stream;
}

absl::StatusOr<std::unique_ptr<OrganizationStateStream>>
TokenAuthorityClient::WatchOrganizationStates(
    const v1::WatchOrganizationStatesRequest& request,
    const CallOptions& call) {
  if (stubs_.tokens == nullptr) {
    return absl::FailedPreconditionError(
        "WatchOrganizationStates: this client has no stub for the service");
  }
  std::unique_ptr<OrganizationStateStream> stream(
      new OrganizationStateStream());
  PrepareStream(*stream, call);
  stream->reader_ =
      stubs_.tokens->WatchOrganizationStates(stream->context_.get(), request);
  if (stream->reader_ == nullptr) {
    return absl::InternalError(
        "WatchOrganizationStates: the stub returned no stream");
  }
  return stream;
}

}  // namespace token_authority::client

// TokenService adapter.
#include <string>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "convert/proto_convert.h"
#include "convert/status.h"
#include "server/early_release_allocator.h"
#include "server/grpc_services.h"
#include "server/proto_conversion.h"
#include "server/watch_reactors.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

namespace token_authority::server {
namespace {

class TokenServiceImpl final : public v1::TokenService::CallbackService {
 public:
  explicit TokenServiceImpl(const ServiceDeps& deps) : deps_(deps) {
    // Replies that can be large: their messages are freed once serialized
    // (a client that does not read pins only the bytes).
    SetMessageAllocatorFor_ListTokens(&list_tokens_messages_);
  }

  grpc::ServerUnaryReactor* IssueToken(
      grpc::CallbackServerContext* context,
      const v1::IssueTokenRequest* request,
      v1::IssueTokenResponse* response) override {
    // Checked and signed on gRPC's thread; answered from the store's
    // completion thread once the row is durable (no thread waits for the
    // commit).
    return RunUnaryAsync(
        deps_, context, response, "TokenService/IssueToken",
        [this, request, response](const Caller& caller, CallInfo& info,
                                  Respond respond) {
          if (!request->request_id().empty()) {
            info.request_id = request->request_id();
          }
          std::vector<token::FieldViolation> violations;
          token::TokenSpec spec =
              convert::FromProtoSpec(request->spec(), &violations);
          deps_.authority->IssueTokenAsync(
              caller, spec, request->request_id(), std::move(violations),
              [response, respond = std::move(respond)](
                  absl::StatusOr<IssuedToken> issued) {
                if (issued.ok()) ToProto(*issued, response);
                respond(issued.status());
              });
        });
  }

  grpc::ServerUnaryReactor* GetToken(grpc::CallbackServerContext* context,
                                     const v1::GetTokenRequest* request,
                                     v1::Token* response) override {
    return RunUnary(
        deps_, context, response, "TokenService/GetToken", Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(TokenRecord r, deps_.authority->GetToken(
                                                 caller, request->token_id()));
          ToProto(r, response);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const v1::ListTokensRequest* request,
      v1::ListTokensResponse* response) override {
    return RunUnary(
        deps_, context, response, "TokenService/ListTokens",
        Execution::kListing,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(storage::TokenFilter filter, FromProto(*request));
          TA_ASSIGN_OR_RETURN(
              storage::Page<TokenRecord> page,
              deps_.authority->ListTokens(
                  caller, std::move(filter),
                  PageFromProto(request->page_size(), request->page_token())));
          for (const TokenRecord& r : page.items) {
            ToProto(r, response->add_tokens());
          }
          response->set_next_page_token(page.next_page_token);
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* DecodeToken(
      grpc::CallbackServerContext* context,
      const v1::DecodeTokenRequest* request,
      v1::DecodeTokenResponse* response) override {
    return RunUnary(deps_, context, response, "TokenService/DecodeToken",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(
                          DecodeResult r,
                          deps_.authority->DecodeToken(caller, request->jwt()));
                      ToProto(r, response);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* VerifyToken(
      grpc::CallbackServerContext* context,
      const v1::VerifyTokenRequest* request,
      v1::VerifyTokenResponse* response) override {
    // The hot path: memory only, on gRPC's thread.
    return RunUnary(deps_, context, response, "TokenService/VerifyToken",
                    Execution::kInline,
                    [this, request, response](const Caller& caller,
                                              CallInfo& info) -> absl::Status {
                      info.organization_id = request->organization_id();
                      TA_ASSIGN_OR_RETURN(token::VerifyResult r,
                                          deps_.authority->VerifyToken(
                                              caller, FromProto(*request)));
                      ToProto(r, response);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const v1::RevokeTokenRequest* request,
                                        v1::Token* response) override {
    return RunUnary(deps_, context, response, "TokenService/RevokeToken",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(
                          TokenRecord r,
                          deps_.authority->RevokeToken(
                              caller, request->token_id(), request->reason()));
                      ToProto(r, response);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* RevokeTokens(
      grpc::CallbackServerContext* context,
      const v1::RevokeTokensRequest* request,
      v1::RevokeTokensResponse* response) override {
    return RunUnary(deps_, context, response, "TokenService/RevokeTokens",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(storage::RevokeFilter filter,
                                          FromProto(*request));
                      TA_ASSIGN_OR_RETURN(int64_t count,
                                          deps_.authority->RevokeTokens(
                                              caller, filter, request->reason(),
                                              request->dry_run()));
                      response->set_revoked_count(count);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerWriteReactor<v1::RevocationEvent>* WatchRevocations(
      grpc::CallbackServerContext* context,
      const v1::WatchRevocationsRequest* request) override {
    const auto start = std::chrono::steady_clock::now();
    CallInfo info;
    absl::StatusOr<Caller> caller = AuthenticateCall(deps_, *context, &info);
    absl::Status status = caller.status();
    if (status.ok())
      status = deps_.authority->AuthorizeWatchRevocations(*caller);
    if (status.ok() && request->since_sequence() < 0) {
      status =
          absl::InvalidArgumentError("since_sequence: must not be negative");
    }
    if (!status.ok()) {
      return new FailedWatch<v1::RevocationEvent>(
          deps_, "TokenService/WatchRevocations", info, status, start);
    }
    return StartRevocationWatch(deps_, *caller, std::move(info),
                                request->since_sequence(), start);
  }

  grpc::ServerWriteReactor<v1::OrganizationStateEvent>* WatchOrganizationStates(
      grpc::CallbackServerContext* context,
      const v1::WatchOrganizationStatesRequest* request) override {
    constexpr absl::string_view kMethod =
        "TokenService/WatchOrganizationStates";
    const auto start = std::chrono::steady_clock::now();
    CallInfo info;
    absl::StatusOr<Caller> caller = AuthenticateCall(deps_, *context, &info);
    absl::StatusOr<std::vector<std::string>> ids =
        caller.ok() ? deps_.authority->AuthorizeWatchOrganizationStates(
                          *caller, {request->organization_ids().begin(),
                                    request->organization_ids().end()})
                    : caller.status();
    if (!ids.ok()) {
      return new FailedWatch<v1::OrganizationStateEvent>(deps_, kMethod, info,
                                                         ids.status(), start);
    }
    return StartOrganizationStateWatch(deps_, *caller, std::move(info),
                                       *std::move(ids), start);
  }

 private:
  const ServiceDeps deps_;
  EarlyReleaseAllocator<v1::ListTokensRequest, v1::ListTokensResponse>
      list_tokens_messages_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewTokenService(const ServiceDeps& deps) {
  return std::make_unique<TokenServiceImpl>(deps);
}

}  // namespace token_authority::server

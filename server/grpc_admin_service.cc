// AdminService adapter.
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "server/early_release_allocator.h"
#include "server/grpc_services.h"
#include "server/proto_conversion.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"

namespace token_authority::server {
namespace {

class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(const ServiceDeps& deps) : deps_(deps) {
    // Replies that can be large: their messages are freed once serialized
    // (a client that does not read pins only the bytes).
    SetMessageAllocatorFor_ListOrganizations(&list_organizations_messages_);
    SetMessageAllocatorFor_ListApiKeys(&list_api_keys_messages_);
  }

  grpc::ServerUnaryReactor* CreateOrganization(
      grpc::CallbackServerContext* context,
      const v1::CreateOrganizationRequest* request,
      v1::Organization* response) override {
    return RunUnary(deps_, context, response, "AdminService/CreateOrganization",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo& info) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(storage::Organization org,
                                          deps_.authority->CreateOrganization(
                                              caller, request->name(),
                                              request->secure_enabled()));
                      info.organization_id = org.id;
                      ToProto(org, response);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* UpdateOrganization(
      grpc::CallbackServerContext* context,
      const v1::UpdateOrganizationRequest* request,
      v1::Organization* response) override {
    return RunUnary(deps_, context, response, "AdminService/UpdateOrganization",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo& info) -> absl::Status {
                      info.organization_id = request->organization_id();
                      TA_ASSIGN_OR_RETURN(
                          storage::Organization org,
                          deps_.authority->UpdateOrganization(
                              caller, request->organization_id(),
                              request->secure_enabled(), request->name()));
                      ToProto(org, response);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* ListOrganizations(
      grpc::CallbackServerContext* context,
      const v1::ListOrganizationsRequest* request,
      v1::ListOrganizationsResponse* response) override {
    return RunUnary(deps_, context, response, "AdminService/ListOrganizations",
                    Execution::kListing,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(
                          storage::Page<storage::Organization> page,
                          deps_.authority->ListOrganizations(
                              caller, PageFromProto(request->page_size(),
                                                    request->page_token())));
                      for (const storage::Organization& o : page.items) {
                        ToProto(o, response->add_organizations());
                      }
                      response->set_next_page_token(page.next_page_token);
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* CreateApiKey(
      grpc::CallbackServerContext* context,
      const v1::CreateApiKeyRequest* request,
      v1::CreateApiKeyResponse* response) override {
    return RunUnary(deps_, context, response, "AdminService/CreateApiKey",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo& info) -> absl::Status {
                      info.organization_id = request->organization_id();
                      TA_ASSIGN_OR_RETURN(storage::ApiKeyRole role,
                                          FromProto(request->role()));
                      TA_ASSIGN_OR_RETURN(
                          CreatedApiKey created,
                          deps_.authority->CreateApiKey(
                              caller, request->organization_id(), role));
                      ToProto(created.key, response->mutable_api_key());
                      response->set_secret(std::move(created.secret));
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* ListApiKeys(
      grpc::CallbackServerContext* context,
      const v1::ListApiKeysRequest* request,
      v1::ListApiKeysResponse* response) override {
    return RunUnary(
        deps_, context, response, "AdminService/ListApiKeys",
        Execution::kListing,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(
              std::vector<storage::ApiKey> keys,
              deps_.authority->ListApiKeys(caller, request->organization_id(),
                                           request->include_revoked()));
          for (const storage::ApiKey& k : keys) {
            ToProto(k, response->add_api_keys());
          }
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* context,
                                         const v1::RevokeApiKeyRequest* request,
                                         v1::ApiKey* response) override {
    return RunUnary(deps_, context, response, "AdminService/RevokeApiKey",
                    Execution::kBlocking,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(storage::ApiKey key,
                                          deps_.authority->RevokeApiKey(
                                              caller, request->api_key_id()));
                      ToProto(key, response);
                      return absl::OkStatus();
                    });
  }

 private:
  const ServiceDeps deps_;
  EarlyReleaseAllocator<v1::ListOrganizationsRequest,
                        v1::ListOrganizationsResponse>
      list_organizations_messages_;
  EarlyReleaseAllocator<v1::ListApiKeysRequest, v1::ListApiKeysResponse>
      list_api_keys_messages_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAdminService(const ServiceDeps& deps) {
  return std::make_unique<AdminServiceImpl>(deps);
}

}  // namespace token_authority::server

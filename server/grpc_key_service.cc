// KeyService adapter.
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "convert/proto_convert.h"
#include "server/grpc_services.h"
#include "server/proto_conversion.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"

namespace token_authority::server {
namespace {

class KeyServiceImpl final : public v1::KeyService::CallbackService {
 public:
  explicit KeyServiceImpl(const ServiceDeps& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* ListSigningKeys(
      grpc::CallbackServerContext* context,
      const v1::ListSigningKeysRequest* request,
      v1::ListSigningKeysResponse* response) override {
    // Served from memory.
    return RunUnary(deps_, context, response, "KeyService/ListSigningKeys",
                    Execution::kInline,
                    [this, request, response](const Caller& caller,
                                              CallInfo&) -> absl::Status {
                      TA_ASSIGN_OR_RETURN(
                          std::vector<storage::SigningKey> keys,
                          deps_.authority->ListSigningKeys(
                              caller, request->include_retired()));
                      for (const storage::SigningKey& k : keys) {
                        ToProto(k, response->add_keys());
                      }
                      return absl::OkStatus();
                    });
  }

  grpc::ServerUnaryReactor* RotateSigningKey(
      grpc::CallbackServerContext* context,
      const v1::RotateSigningKeyRequest* request,
      v1::RotateSigningKeyResponse* response) override {
    return RunUnary(
        deps_, context, response, "KeyService/RotateSigningKey",
        Execution::kBlocking,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(token::Algorithm alg, convert::FromProtoAlgorithm(
                                                        request->algorithm()));
          TA_ASSIGN_OR_RETURN(storage::SigningKey key,
                              deps_.authority->RotateSigningKey(caller, alg));
          ToProto(key, response->mutable_key());
          return absl::OkStatus();
        });
  }

  grpc::ServerUnaryReactor* GetJwks(grpc::CallbackServerContext* context,
                                    const v1::GetJwksRequest* request,
                                    v1::GetJwksResponse* response) override {
    // Served from memory.
    return RunUnary(
        deps_, context, response, "KeyService/GetJwks", Execution::kInline,
        [this, request, response](const Caller& caller,
                                  CallInfo& info) -> absl::Status {
          if (!request->organization_id().empty()) {
            info.organization_id = request->organization_id();
          }
          TA_ASSIGN_OR_RETURN(
              std::string jwks,
              deps_.authority->GetJwks(caller, request->organization_id()));
          response->set_jwks_json(std::move(jwks));
          return absl::OkStatus();
        });
  }

 private:
  const ServiceDeps deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewKeyService(const ServiceDeps& deps) {
  return std::make_unique<KeyServiceImpl>(deps);
}

}  // namespace token_authority::server

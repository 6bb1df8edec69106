// The gRPC adapters of the four services (callback API). Each handler
// authenticates, converts the request, calls TokenAuthority and converts the
// answer back (see grpc_call.h); no logic lives here.
#ifndef SERVER_GRPC_SERVICES_H_
#define SERVER_GRPC_SERVICES_H_

#include <memory>

#include "grpcpp/impl/service_type.h"
#include "server/grpc_call.h"

namespace token_authority::server {

// Each returns a service to register with a grpc::ServerBuilder. `deps` must
// outlive the server.
std::unique_ptr<grpc::Service> NewTokenService(const ServiceDeps& deps);
std::unique_ptr<grpc::Service> NewKeyService(const ServiceDeps& deps);
std::unique_ptr<grpc::Service> NewAuditService(const ServiceDeps& deps);
std::unique_ptr<grpc::Service> NewAdminService(const ServiceDeps& deps);

}  // namespace token_authority::server

#endif  // SERVER_GRPC_SERVICES_H_

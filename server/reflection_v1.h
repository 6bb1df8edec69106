// grpc.reflection.v1 beside gRPC's own v1alpha. Debian's gRPC 1.51 serves
// only grpc.reflection.v1alpha.ServerReflection, and grpcurl, Postman and the
// Node reflection clients ask for v1 first. The messages of the two are the
// same (proto/grpc/reflection/v1/reflection.proto); this service answers
// from protobuf's generated descriptor pool, as v1alpha does, and lists the
// services the server registered. Linking it also puts grpc.health.v1's
// descriptor into that pool (proto/grpc/health/v1/health.proto), so that
// both versions can describe grpc.health.v1.Health.
#ifndef SERVER_REFLECTION_V1_H_
#define SERVER_REFLECTION_V1_H_

#include <memory>

#include "grpcpp/impl/server_builder_option.h"

namespace token_authority::server {

// The option to hand to ServerBuilder::SetOption: registers the v1 service
// and, once the server is built, gives it the server's list of services.
std::unique_ptr<grpc::ServerBuilderOption> NewReflectionV1Option();

}  // namespace token_authority::server

#endif  // SERVER_REFLECTION_V1_H_

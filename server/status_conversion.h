// The one place where absl::Status becomes grpc::Status (and back, for tests
// and clients of the in-process server). The core never sees gRPC types.
#ifndef SERVER_STATUS_CONVERSION_H_
#define SERVER_STATUS_CONVERSION_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace token_authority::server {

// Maps `status` to a grpc::Status with the same code (absl and gRPC share the
// numbering) and message. Unknown codes become UNKNOWN. Thread-safe, pure.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse of ToGrpcStatus. Thread-safe, pure.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace token_authority::server

#endif  // SERVER_STATUS_CONVERSION_H_

// The one place where grpc::Status becomes absl::Status on the client side.
#ifndef CLIENT_STATUS_H_
#define CLIENT_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace token_authority::client {

// Converts a gRPC status to an absl::Status with the same code and message.
// gRPC and absl share the canonical code numbering (0-16); any other value
// becomes UNKNOWN. Thread-safe, never fails.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace token_authority::client

#endif  // CLIENT_STATUS_H_

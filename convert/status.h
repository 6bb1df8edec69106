// The one place where absl::Status becomes grpc::Status and back, for the
// server's answers and the client's results alike. The core never sees gRPC
// types.
#ifndef CONVERT_STATUS_H_
#define CONVERT_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace token_authority::convert {

// The same code (absl and gRPC share the canonical numbering 0-16) and
// message; any other code becomes UNKNOWN. Thread-safe, pure.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace token_authority::convert

#endif  // CONVERT_STATUS_H_

#include "convert/status.h"

#include <string>

namespace token_authority::convert {
namespace {

// Both enumerations use the canonical google.rpc.Code numbering 0..16.
bool IsCanonicalCode(int code) { return code >= 0 && code <= 16; }

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  return grpc::Status(IsCanonicalCode(code)
                          ? static_cast<grpc::StatusCode>(code)
                          : grpc::StatusCode::UNKNOWN,
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  return absl::Status(IsCanonicalCode(code)
                          ? static_cast<absl::StatusCode>(code)
                          : absl::StatusCode::kUnknown,
                      status.error_message());
}

}  // namespace token_authority::convert

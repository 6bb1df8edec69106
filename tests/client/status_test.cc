#include "client/status.h"

#include "gtest/gtest.h"

namespace token_authority::client {
namespace {

TEST(FromGrpcStatusTest, OkIsOk) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(FromGrpcStatusTest, KeepsEveryCanonicalCodeAndTheMessage) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status s = FromGrpcStatus(
        grpc::Status(static_cast<grpc::StatusCode>(code), "what happened"));
    EXPECT_EQ(static_cast<int>(s.code()), code);
    EXPECT_EQ(s.message(), "what happened");
  }
  EXPECT_EQ(
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "x")).code(),
      absl::StatusCode::kNotFound);
}

TEST(FromGrpcStatusTest, OutOfRangeCodeBecomesUnknown) {
  // 20: no gRPC code, yet within the values grpc::StatusCode (-1..16) can
  // hold; a value outside that range would be undefined behaviour already in
  // the cast (UBSan's enum check refuses e.g. 99).
  const absl::Status s =
      FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "odd");
}

}  // namespace
}  // namespace token_authority::client

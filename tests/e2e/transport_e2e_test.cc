// The transport edge of the real server: requests that never reach a handler
// get a clear status (unparsable, invalid UTF-8, too large, compressed, of an
// unknown method) and, when gRPC hands the call to the server at all, one
// call-log line with the peer; a normal call gets exactly one line.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kVerify[] = "/tokenauthority.v1.TokenService/VerifyToken";

class TransportE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        verifier_, server_->CreateApiKey("", storage::ApiKeyRole::kVerifier));
    stub_ = std::make_unique<grpc::GenericStub>(server_->NewChannel());
  }

  // A unary call of `method` with `body` as the raw request bytes.
  grpc::Status RawCall(const std::string& method, const std::string& body,
                       const std::string& request_id) {
    grpc::ClientContext context;
    TestServer::Authorize(&context, verifier_.api_key);
    context.AddMetadata("x-request-id", request_id);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::CompletionQueue cq;
    auto call = stub_->PrepareUnaryCall(&context, method, request, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return status;
  }

  // The call log's lines holding "request_id=<id> " (the line is written
  // when gRPC destroys the call, just after the client has its answer).
  std::vector<std::string> LinesOf(const std::string& id, size_t want = 1) {
    std::vector<std::string> lines;
    for (int i = 0; i < 500; ++i) {
      lines.clear();
      for (absl::string_view line :
           absl::StrSplit(server_->CallLogContents(), '\n')) {
        if (absl::StrContains(line, absl::StrCat("request_id=", id, " "))) {
          lines.emplace_back(line);
        }
      }
      if (lines.size() >= want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return lines;
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials verifier_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

// Field 1 (VerifyTokenRequest.jwt), length-delimited, holding `value`.
std::string JwtField(const std::string& value) {
  std::string out("\x0a", 1);
  size_t n = value.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out + value;
}

TEST_F(TransportE2eTest, InvalidUtf8IsInvalidArgumentAndLogged) {
  const grpc::Status status =
      RawCall(kVerify, JwtField("abc\xff\xfe"), "utf8-probe");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("could not be parsed"));
  EXPECT_THAT(status.error_message(), HasSubstr("UTF-8"));
  const auto lines = LinesOf("utf8-probe");
  ASSERT_EQ(lines.size(), 1u) << server_->CallLogContents();
  EXPECT_THAT(lines[0], HasSubstr("rpc method=TokenService/VerifyToken org=- "
                                  "code=INVALID_ARGUMENT"));
  EXPECT_THAT(lines[0], HasSubstr("peer=ipv4:127.0.0.1:"));
}

TEST_F(TransportE2eTest, MalformedProtobufIsInvalidArgument) {
  // Field 1 claims 100 bytes and has 2.
  const grpc::Status status =
      RawCall(kVerify, std::string("\x0a\x64xy", 4), "truncated");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(LinesOf("truncated").size(), 1u);
}

TEST_F(TransportE2eTest, TooLargeIsResourceExhaustedAndLogged) {
  const grpc::Status status =
      RawCall(kVerify, JwtField(std::string(100 * 1024, 'a')), "too-large");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  // gRPC 1.51's core refuses it before any call reaches the server's code, so
  // it has no call-log line (README "Call log": a known limitation).
}

TEST_F(TransportE2eTest, UnknownMethodIsLogged) {
  const grpc::Status status =
      RawCall("/tokenauthority.v1.TokenService/NoSuchMethod", "", "unknown-m");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  const auto lines = LinesOf("unknown-m");
  ASSERT_EQ(lines.size(), 1u) << server_->CallLogContents();
  EXPECT_THAT(lines[0], HasSubstr("method=TokenService/NoSuchMethod org=- "
                                  "code=UNIMPLEMENTED"));
}

TEST_F(TransportE2eTest, CompressedRequestIsRefusedBeforeItIsInflated) {
  auto stub = server_->TokenStub();
  v1::VerifyTokenRequest req;
  req.set_jwt(std::string(32 * 1024, 'a'));  // compresses to almost nothing
  req.set_organization_id("o");
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier_.api_key);
  context.AddMetadata("x-request-id", "gzip-probe");
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  v1::VerifyTokenResponse resp;
  const grpc::Status status = stub->VerifyToken(&context, req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
      << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("gzip"));
  // Refused by gRPC's core from the headers: no call-log line (as above).

  // The same request uncompressed reaches the handler.
  grpc::ClientContext plain;
  TestServer::Authorize(&plain, verifier_.api_key);
  const grpc::Status ok = stub->VerifyToken(&plain, req, &resp);
  EXPECT_NE(ok.error_code(), grpc::StatusCode::UNIMPLEMENTED)
      << ok.error_message();
}

TEST_F(TransportE2eTest, AHandledCallHasExactlyOneLine) {
  v1::VerifyTokenRequest req;
  req.set_jwt("not-a-jwt");
  req.set_organization_id("o");
  std::string body;
  ASSERT_TRUE(req.SerializeToString(&body));
  const grpc::Status status = RawCall(kVerify, body, "handled-once");
  // The handler's answer (allowed=false, MALFORMED), not the transport's.
  EXPECT_TRUE(status.ok()) << status.error_message();
  // Give a second line, if any, the time to appear.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto lines = LinesOf("handled-once");
  ASSERT_EQ(lines.size(), 1u) << server_->CallLogContents();
  EXPECT_THAT(lines[0], HasSubstr("peer=ipv4:127.0.0.1:"));
}

}  // namespace
}  // namespace token_authority::testing

#include "client/client.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "grpcpp/test/client_context_test_peer.h"
#include "grpcpp/test/mock_stream.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tokenauthority/v1/admin_service_mock.grpc.pb.h"
#include "tokenauthority/v1/audit_service_mock.grpc.pb.h"
#include "tokenauthority/v1/key_service_mock.grpc.pb.h"
#include "tokenauthority/v1/token_service_mock.grpc.pb.h"

namespace token_authority::client {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::SetArgPointee;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

grpc::Status Unavailable() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused");
}

std::multimap<std::string, std::string> SentMetadata(
    grpc::ClientContext* context) {
  return grpc::testing::ClientContextTestPeer(context).GetSendInitialMetadata();
}

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() : clock_(kNow), random_(7) {}

  // Builds a client over mocks; the mocks stay reachable through the raw
  // pointers below.
  std::unique_ptr<TokenAuthorityClient> MakeClient(ClientOptions options = {}) {
    auto tokens = std::make_unique<tokenauthority::v1::MockTokenServiceStub>();
    auto keys = std::make_unique<tokenauthority::v1::MockKeyServiceStub>();
    auto audit = std::make_unique<tokenauthority::v1::MockAuditServiceStub>();
    auto admin = std::make_unique<tokenauthority::v1::MockAdminServiceStub>();
    tokens_ = tokens.get();
    keys_ = keys.get();
    audit_ = audit.get();
    admin_ = admin.get();
    TokenAuthorityClient::Stubs stubs;
    stubs.tokens = std::move(tokens);
    stubs.keys = std::move(keys);
    stubs.audit = std::move(audit);
    stubs.admin = std::move(admin);
    if (options.api_key.empty()) options.api_key = "tak_secret";
    options.clock = &clock_;
    options.random = &random_;
    // Sleeping advances the fake clock and records the wait.
    options.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      clock_.Advance(d);
    };
    auto client =
        TokenAuthorityClient::CreateWithStubs(std::move(stubs), options);
    EXPECT_THAT(client, IsOk());
    return std::move(client).value();
  }

  FakeClock clock_;
  FakeRandom random_;
  std::vector<absl::Duration> sleeps_;
  tokenauthority::v1::MockTokenServiceStub* tokens_ = nullptr;
  tokenauthority::v1::MockKeyServiceStub* keys_ = nullptr;
  tokenauthority::v1::MockAuditServiceStub* audit_ = nullptr;
  tokenauthority::v1::MockAdminServiceStub* admin_ = nullptr;
};

TEST_F(ClientTest, SendsBearerKeyAndDeadline) {
  ClientOptions options;
  options.api_key = "tak_abc.def";
  options.default_deadline = absl::Seconds(7);
  auto client = MakeClient(options);
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* c,
                          const tokenauthority::v1::GetTokenRequest& req,
                          tokenauthority::v1::Token* resp) {
        auto md = SentMetadata(c);
        EXPECT_EQ(md.count("authorization"), 1u);
        EXPECT_EQ(md.find("authorization")->second, "Bearer tak_abc.def");
        EXPECT_EQ(md.count("x-organization-id"), 0u);
        EXPECT_EQ(absl::FromChrono(c->deadline()), kNow + absl::Seconds(7));
        resp->set_id(req.token_id());
        return grpc::Status::OK;
      }));
  tokenauthority::v1::GetTokenRequest request;
  request.set_token_id("tok1");
  auto token = client->GetToken(request);
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->id(), "tok1");
}

TEST_F(ClientTest, OrganizationHeaderFromOptionsAndPerCallOverride) {
  ClientOptions options;
  options.organization_id = "org-default";
  auto client = MakeClient(options);
  std::vector<std::string> seen;
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .Times(2)
      .WillRepeatedly(
          Invoke([&seen](grpc::ClientContext* c, const auto&, auto*) {
            auto md = SentMetadata(c);
            EXPECT_EQ(md.count("x-organization-id"), 1u);
            seen.push_back(md.find("x-organization-id")->second);
            return grpc::Status::OK;
          }));
  EXPECT_OK(client->ListSigningKeys({}));
  CallOptions call;
  call.organization_id = "org-other";
  call.deadline = absl::Seconds(3);
  EXPECT_OK(client->ListSigningKeys({}, call));
  EXPECT_THAT(seen, ::testing::ElementsAre("org-default", "org-other"));
}

TEST_F(ClientTest, PerCallDeadline) {
  auto client = MakeClient();
  EXPECT_CALL(*audit_, ListAuditEvents(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext* c, const auto&, auto*) {
        EXPECT_EQ(absl::FromChrono(c->deadline()), kNow + absl::Seconds(2));
        return grpc::Status::OK;
      }));
  CallOptions call;
  call.deadline = absl::Seconds(2);
  EXPECT_OK(client->ListAuditEvents({}, call));
}

TEST_F(ClientTest, ConvertsErrorsWithCodeAndMessage) {
  auto client = MakeClient();
  EXPECT_CALL(*tokens_, RevokeToken(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "token tok9 not found")));
  EXPECT_THAT(client->RevokeToken({}),
              StatusIs(absl::StatusCode::kNotFound, "token tok9 not found"));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ClientTest, RetriesUnavailableWithGrowingJitteredBackoff) {
  ClientOptions options;
  options.retry.max_attempts = 4;
  options.retry.initial_backoff = absl::Milliseconds(100);
  options.retry.multiplier = 2.0;
  options.retry.jitter = 0.2;
  auto client = MakeClient(options);
  tokenauthority::v1::VerifyTokenResponse ok;
  ok.set_allowed(true);
  EXPECT_CALL(*tokens_, VerifyToken(_, _, _))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Unavailable()))
      .WillOnce(DoAll(SetArgPointee<2>(ok), Return(grpc::Status::OK)));
  auto answer = client->VerifyToken({});
  ASSERT_THAT(answer, IsOk());
  EXPECT_TRUE(answer->allowed());
  ASSERT_EQ(sleeps_.size(), 3u);
  const absl::Duration bases[] = {absl::Milliseconds(100),
                                  absl::Milliseconds(200),
                                  absl::Milliseconds(400)};
  for (int i = 0; i < 3; ++i) {
    EXPECT_GE(sleeps_[i], bases[i] * 0.8) << i;
    EXPECT_LE(sleeps_[i], bases[i] * 1.2) << i;
  }
}

TEST_F(ClientTest, GivesUpAfterMaxAttempts) {
  ClientOptions options;
  options.retry.max_attempts = 3;
  auto client = MakeClient(options);
  EXPECT_CALL(*keys_, GetJwks(_, _, _))
      .Times(3)
      .WillRepeatedly(Return(Unavailable()));
  EXPECT_THAT(client->GetJwks({}),
              StatusIs(absl::StatusCode::kUnavailable, "connection refused"));
  EXPECT_EQ(sleeps_.size(), 2u);
}

TEST_F(ClientTest, BackoffIsCappedAtMaxBackoff) {
  ClientOptions options;
  options.retry.max_attempts = 6;
  options.retry.initial_backoff = absl::Milliseconds(100);
  options.retry.max_backoff = absl::Milliseconds(300);
  options.retry.jitter = 0.0;
  options.default_deadline = absl::Minutes(1);
  auto client = MakeClient(options);
  EXPECT_CALL(*admin_, ListOrganizations(_, _, _))
      .Times(6)
      .WillRepeatedly(Return(Unavailable()));
  EXPECT_THAT(client->ListOrganizations({}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(sleeps_, ::testing::ElementsAre(
                           absl::Milliseconds(100), absl::Milliseconds(200),
                           absl::Milliseconds(300), absl::Milliseconds(300),
                           absl::Milliseconds(300)));
}

TEST_F(ClientTest, RetriesStopAtTheDeadlineWhichCoversAllAttempts) {
  ClientOptions options;
  options.retry.max_attempts = 10;
  options.retry.initial_backoff = absl::Milliseconds(400);
  options.retry.jitter = 0.0;
  options.default_deadline = absl::Seconds(1);
  auto client = MakeClient(options);
  std::vector<absl::Time> deadlines;
  EXPECT_CALL(*tokens_, ListTokens(_, _, _))
      .WillRepeatedly(
          Invoke([&deadlines](grpc::ClientContext* c, const auto&, auto*) {
            deadlines.push_back(absl::FromChrono(c->deadline()));
            return Unavailable();
          }));
  EXPECT_THAT(client->ListTokens({}), StatusIs(absl::StatusCode::kUnavailable));
  // 400 ms then 800 ms would pass the 1 s deadline: two attempts only, both
  // with the same absolute deadline.
  ASSERT_EQ(deadlines.size(), 2u);
  EXPECT_EQ(deadlines[0], kNow + absl::Seconds(1));
  EXPECT_EQ(deadlines[1], kNow + absl::Seconds(1));
  EXPECT_THAT(sleeps_, ::testing::ElementsAre(absl::Milliseconds(400)));
}

TEST_F(ClientTest, DoesNotRetryOtherCodes) {
  auto client = MakeClient();
  EXPECT_CALL(*tokens_, DecodeToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                    "Deadline Exceeded")));
  EXPECT_THAT(client->DecodeToken({}),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_CALL(*tokens_, GetToken(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "role auditor")));
  EXPECT_THAT(client->GetToken({}),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ClientTest, NonIdempotentCallsAreNotRetried) {
  auto client = MakeClient();
  EXPECT_CALL(*admin_, CreateOrganization(_, _, _))
      .WillOnce(Return(Unavailable()));
  EXPECT_CALL(*admin_, CreateApiKey(_, _, _)).WillOnce(Return(Unavailable()));
  EXPECT_CALL(*keys_, RotateSigningKey(_, _, _))
      .WillOnce(Return(Unavailable()));
  EXPECT_THAT(client->CreateOrganization({}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(client->CreateApiKey({}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(client->RotateSigningKey({}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(ClientTest, IssueTokenReusesOneGeneratedRequestIdAcrossRetries) {
  auto client = MakeClient();
  std::vector<std::string> ids;
  tokenauthority::v1::IssueTokenResponse issued;
  issued.set_jwt("a.b.c");
  EXPECT_CALL(*tokens_, IssueToken(_, _, _))
      .WillOnce(Invoke([&ids](grpc::ClientContext*, const auto& req, auto*) {
        ids.push_back(req.request_id());
        return Unavailable();
      }))
      .WillOnce(Invoke([&ids](grpc::ClientContext*, const auto& req, auto*) {
        ids.push_back(req.request_id());
        return Unavailable();
      }))
      .WillOnce(
          Invoke([&ids, &issued](grpc::ClientContext*, const auto& req,
                                 tokenauthority::v1::IssueTokenResponse* r) {
            ids.push_back(req.request_id());
            *r = issued;
            return grpc::Status::OK;
          }));
  tokenauthority::v1::IssueTokenRequest request;
  request.mutable_spec()->mutable_target()->set_stream_group_id("grp");
  auto answer = client->IssueToken(request);
  ASSERT_THAT(answer, IsOk());
  EXPECT_EQ(answer->jwt(), "a.b.c");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].size(), 22u);  // 16 bytes, base64url
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);

  // A second logical call gets a new key.
  std::string second;
  EXPECT_CALL(*tokens_, IssueToken(_, _, _))
      .WillOnce(Invoke([&second](grpc::ClientContext*, const auto& req, auto*) {
        second = req.request_id();
        return grpc::Status::OK;
      }));
  ASSERT_THAT(client->IssueToken(request), IsOk());
  EXPECT_EQ(second.size(), 22u);
  EXPECT_NE(second, ids[0]);
}

TEST_F(ClientTest, IssueTokenKeepsTheCallersRequestId) {
  auto client = MakeClient();
  std::vector<std::string> ids;
  EXPECT_CALL(*tokens_, IssueToken(_, _, _))
      .Times(2)
      .WillRepeatedly(
          Invoke([&ids](grpc::ClientContext*, const auto& req, auto*) {
            ids.push_back(req.request_id());
            return ids.size() == 1 ? Unavailable() : grpc::Status::OK;
          }));
  tokenauthority::v1::IssueTokenRequest request;
  request.set_request_id("order-4711");
  ASSERT_THAT(client->IssueToken(request), IsOk());
  EXPECT_THAT(ids, ::testing::ElementsAre("order-4711", "order-4711"));
}

TEST_F(ClientTest, IssueTokenAlreadyExistsIsNotRetried) {
  auto client = MakeClient();
  EXPECT_CALL(*tokens_, IssueToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                    "request_id used with another spec")));
  EXPECT_THAT(client->IssueToken({}),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(ClientTest, EveryUnaryMethodReachesItsStub) {
  auto client = MakeClient();
  EXPECT_CALL(*tokens_, IssueToken(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, GetToken(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, ListTokens(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, DecodeToken(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, VerifyToken(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, RevokeToken(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*tokens_, RevokeTokens(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*keys_, ListSigningKeys(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*keys_, RotateSigningKey(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*keys_, GetJwks(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*audit_, ListAuditEvents(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, CreateOrganization(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, UpdateOrganization(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, ListOrganizations(_, _, _))
      .WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, CreateApiKey(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, ListApiKeys(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_CALL(*admin_, RevokeApiKey(_, _, _)).WillOnce(Return(grpc::Status()));
  EXPECT_OK(client->IssueToken({}));
  EXPECT_OK(client->GetToken({}));
  EXPECT_OK(client->ListTokens({}));
  EXPECT_OK(client->DecodeToken({}));
  EXPECT_OK(client->VerifyToken({}));
  EXPECT_OK(client->RevokeToken({}));
  EXPECT_OK(client->RevokeTokens({}));
  EXPECT_OK(client->ListSigningKeys({}));
  EXPECT_OK(client->RotateSigningKey({}));
  EXPECT_OK(client->GetJwks({}));
  EXPECT_OK(client->ListAuditEvents({}));
  EXPECT_OK(client->CreateOrganization({}));
  EXPECT_OK(client->UpdateOrganization({}));
  EXPECT_OK(client->ListOrganizations({}));
  EXPECT_OK(client->CreateApiKey({}));
  EXPECT_OK(client->ListApiKeys({}));
  EXPECT_OK(client->RevokeApiKey({}));
}

TEST_F(ClientTest, MissingStubIsFailedPrecondition) {
  ClientOptions options;
  options.clock = &clock_;
  auto client = TokenAuthorityClient::CreateWithStubs(
      TokenAuthorityClient::Stubs{}, options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->GetJwks({}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT((*client)->WatchRevocations({}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ClientTest, WatchRevocationsStreamsEventsWithMetadataAndNoDeadline) {
  auto client = MakeClient();
  auto* reader = new grpc::testing::MockClientReader<
      tokenauthority::v1::RevocationEvent>();
  tokenauthority::v1::RevocationEvent first, second;
  first.set_sequence(5);
  first.set_token_id("t5");
  second.set_sequence(6);
  second.set_token_id("t6");
  EXPECT_CALL(*reader, Read(_))
      .WillOnce(DoAll(SetArgPointee<0>(first), Return(true)))
      .WillOnce(DoAll(SetArgPointee<0>(second), Return(true)))
      .WillOnce(Return(false));
  EXPECT_CALL(*reader, Finish())
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone")));
  EXPECT_CALL(*tokens_, WatchRevocationsRaw(_, _))
      .WillOnce(Invoke(
          [reader](grpc::ClientContext* c,
                   const tokenauthority::v1::WatchRevocationsRequest& req) {
            EXPECT_EQ(req.since_sequence(), 4);
            EXPECT_EQ(SentMetadata(c).count("authorization"), 1u);
            EXPECT_EQ(c->deadline(),
                      std::chrono::system_clock::time_point::max());
            return reader;
          }));
  tokenauthority::v1::WatchRevocationsRequest request;
  request.set_since_sequence(4);
  auto stream = client->WatchRevocations(request);
  ASSERT_THAT(stream, IsOk());
  tokenauthority::v1::RevocationEvent event;
  ASSERT_TRUE((*stream)->Next(&event));
  EXPECT_EQ(event.sequence(), 5);
  ASSERT_TRUE((*stream)->Next(&event));
  EXPECT_EQ(event.token_id(), "t6");
  EXPECT_FALSE((*stream)->Next(&event));
  EXPECT_THAT((*stream)->Finish(),
              StatusIs(absl::StatusCode::kUnavailable, "gone"));
}

TEST(ClientCreateTest, ChecksOptions) {
  ClientOptions ok;
  ok.insecure = true;
  EXPECT_THAT(TokenAuthorityClient::Create("", ok),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("target")));
  ClientOptions half = ok;
  half.insecure = false;
  half.tls_client_cert_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", half),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("tls_client_cert_pem")));
  ClientOptions mixed = ok;
  mixed.tls_root_ca_pem = "pem";
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", mixed),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("insecure")));
  ClientOptions bad_retry = ok;
  bad_retry.retry.max_attempts = 0;
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", bad_retry),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("retry.max_attempts")));
  ClientOptions bad_deadline = ok;
  bad_deadline.default_deadline = absl::ZeroDuration();
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", bad_deadline),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("default_deadline")));
  // A key that gRPC would abort on as a header value (found by hand: two
  // lines pasted into TOKENCTL_API_KEY crashed tokenctl).
  ClientOptions two_lines = ok;
  two_lines.api_key = "ta_k1_secret\nThe secret is shown only now";
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", two_lines),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("api_key: character 13")));
  ok.api_key = "ta_k1_Secret-_09";
  EXPECT_THAT(TokenAuthorityClient::Create("127.0.0.1:1", ok), IsOk());
}

TEST(ClientCreateTest, UnreachableServerIsUnavailableAfterRetries) {
  // Port 1 on loopback refuses connections: the real channel reports
  // UNAVAILABLE, which the client retries and then returns.
  ClientOptions options;
  options.insecure = true;
  options.retry.max_attempts = 2;
  options.retry.initial_backoff = absl::Milliseconds(10);
  options.default_deadline = absl::Seconds(5);
  ASSERT_OK_AND_ASSIGN(auto client,
                       TokenAuthorityClient::Create("127.0.0.1:1", options));
  EXPECT_THAT(client->GetJwks({}), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace token_authority::client

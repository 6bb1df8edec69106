// TokenService end to end: the real server over loopback, the generated
// stubs. Every RPC's success and each error code; idempotent issue under
// concurrent retries; a revocation seen by VerifyToken and by watchers.
#include <openssl/sha.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::testing {
namespace {

using storage::ApiKeyRole;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using TS = v1::TokenService::Stub;

class TokenServiceE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        issuer_, server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
    org_ = issuer_.organization_id;
    ASSERT_OK_AND_ASSIGN(verifier_,
                         server_->CreateApiKey("", ApiKeyRole::kVerifier));
    ASSERT_OK_AND_ASSIGN(auditor_,
                         server_->CreateApiKey(org_, ApiKeyRole::kAuditor));
    stub_ = server_->TokenStub();
  }

  absl::StatusOr<v1::IssueTokenResponse> Issue(
      const std::string& key, v1::TokenSpec spec = StreamsSpec({"cam1"}),
      const std::string& request_id = "", const std::string& org = "") {
    v1::IssueTokenRequest req;
    *req.mutable_spec() = std::move(spec);
    req.set_request_id(request_id);
    return Call(*stub_, &TS::IssueToken, req, key, org);
  }

  absl::StatusOr<v1::VerifyTokenResponse> Verify(
      const std::string& jwt, const std::string& stream = "cam1") {
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(org_);
    req.set_stream_name(stream);
    return Call(*stub_, &TS::VerifyToken, req, verifier_.api_key);
  }

  std::unique_ptr<TestServer> server_;
  OrgCredentials issuer_, verifier_, auditor_;
  std::string org_;
  std::unique_ptr<TS> stub_;
};

TEST_F(TokenServiceE2eTest, IssueThenVerify) {
  v1::TokenSpec spec = StreamsSpec({"cam1", "cam2"});
  spec.mutable_lifetime()->set_seconds(3600);
  spec.set_tag("launch");
  spec.set_user_id("viewer-7");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                       Issue(issuer_.api_key, spec, "r-1"));
  const v1::Token& t = issued.token();
  EXPECT_EQ(t.organization_id(), org_);
  EXPECT_EQ(t.target().stream_names().names_size(), 2);
  EXPECT_EQ(t.expires_at().seconds() - t.issued_at().seconds(), 3600);
  EXPECT_EQ(t.tag(), "launch");
  EXPECT_EQ(t.user_id(), "viewer-7");
  EXPECT_EQ(t.algorithm(), v1::ALGORITHM_ES256);
  EXPECT_EQ(t.state(), v1::TOKEN_STATE_ACTIVE);
  EXPECT_EQ(t.issued_by(), issuer_.api_key_id);
  EXPECT_EQ(t.request_id(), "r-1");
  EXPECT_EQ(issued.security_config(),
            absl::StrCat("security: { jwtoken: \"", issued.jwt(), "\" }"));
  EXPECT_EQ(issued.entry_security_config(),
            absl::StrCat("h5live: { security: { jwtoken: \"", issued.jwt(),
                         "\" } }"));

  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(issued.jwt(), "cam2"));
  EXPECT_TRUE(v.allowed()) << v.detail();
  EXPECT_EQ(v.reason(), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(v.token_id(), t.id());
  ASSERT_OK_AND_ASSIGN(v, Verify(issued.jwt(), "cam3"));
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason(), v1::DENY_REASON_TARGET_MISMATCH);
  EXPECT_THAT(v.detail(), Not(IsEmpty()));
  ASSERT_OK_AND_ASSIGN(v, Verify("not-a-jwt"));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_MALFORMED);
}

TEST_F(TokenServiceE2eTest, IpAndDomainAreStoredAsTheVerifierComparesThem) {
  v1::TokenSpec spec = StreamsSpec({"cam1"});
  spec.set_client_ip("2001:DB8::0:1");
  spec.set_domain("Player.Example.COM.");
  spec.set_tag("canonical");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse issued,
                       Issue(issuer_.api_key, spec));
  EXPECT_EQ(issued.token().client_ip(), "2001:db8::1");
  EXPECT_EQ(issued.token().domain(), "player.example.com");
  // Stored so: read back and listed.
  v1::GetTokenRequest get;
  get.set_token_id(issued.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token got,
                       Call(*stub_, &TS::GetToken, get, issuer_.api_key));
  EXPECT_EQ(got.client_ip(), "2001:db8::1");
  EXPECT_EQ(got.domain(), "player.example.com");
  v1::ListTokensRequest list;
  list.set_tag("canonical");
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse page,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  ASSERT_EQ(page.tokens_size(), 1);
  EXPECT_EQ(page.tokens(0).client_ip(), "2001:db8::1");
  // Signed so.
  v1::DecodeTokenRequest decode;
  decode.set_jwt(issued.jwt());
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse decoded,
                       Call(*stub_, &TS::DecodeToken, decode, issuer_.api_key));
  EXPECT_THAT(decoded.payload_json(), HasSubstr("2001:db8::1"));
  EXPECT_THAT(decoded.payload_json(), Not(HasSubstr("2001:DB8")));
  EXPECT_THAT(decoded.payload_json(), HasSubstr("player.example.com\""));

  // The viewer's address in its canonical form, and in another spelling.
  for (const char* viewer : {"2001:db8::1", "2001:0DB8:0:0:0:0:0:1"}) {
    v1::VerifyTokenRequest req;
    req.set_jwt(issued.jwt());
    req.set_organization_id(org_);
    req.set_stream_name("cam1");
    req.set_client_ip(viewer);
    req.set_domain("PLAYER.example.com");
    ASSERT_OK_AND_ASSIGN(
        v1::VerifyTokenResponse v,
        Call(*stub_, &TS::VerifyToken, req, verifier_.api_key));
    EXPECT_TRUE(v.allowed()) << viewer << ": " << v.detail();
  }
  v1::VerifyTokenRequest other;
  other.set_jwt(issued.jwt());
  other.set_organization_id(org_);
  other.set_stream_name("cam1");
  other.set_client_ip("2001:db8::2");
  other.set_domain("player.example.com");
  ASSERT_OK_AND_ASSIGN(
      v1::VerifyTokenResponse v,
      Call(*stub_, &TS::VerifyToken, other, verifier_.api_key));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_IP_MISMATCH);

  // A CIDR with host bits set becomes its network.
  spec.set_client_ip("10.1.2.3/8");
  spec.set_domain("*.Example.com");
  ASSERT_OK_AND_ASSIGN(issued, Issue(issuer_.api_key, spec));
  EXPECT_EQ(issued.token().client_ip(), "10.0.0.0/8");
  EXPECT_EQ(issued.token().domain(), "*.example.com");
}

TEST_F(TokenServiceE2eTest, IssueTargetsAndDefaults) {
  v1::TokenSpec group;
  group.mutable_target()->set_stream_group_id("group-1");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse g, Issue(issuer_.api_key, group));
  EXPECT_EQ(g.token().target().stream_group_id(), "group-1");
  // Default lifetime: 14 days.
  EXPECT_EQ(g.token().expires_at().seconds() - g.token().issued_at().seconds(),
            14 * 24 * 3600);
  v1::TokenSpec whole;
  whole.mutable_target()->set_organization(true);
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse w, Issue(issuer_.api_key, whole));
  EXPECT_TRUE(w.token().target().organization());
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(w.jwt(), "anything"));
  EXPECT_TRUE(v.allowed());
}

TEST_F(TokenServiceE2eTest, IssueErrors) {
  // INVALID_ARGUMENT listing every bad field.
  v1::TokenSpec bad = StreamsSpec({"ok", "no spaces"});
  bad.set_client_ip("10.0.0.0/33");
  bad.set_domain("-bad-.com");
  bad.set_user_id(std::string(200, 'u'));
  bad.mutable_lifetime()->set_seconds(-5);
  absl::StatusOr<v1::IssueTokenResponse> r = Issue(issuer_.api_key, bad);
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  for (const char* field :
       {"stream_names:", "client_ip:", "domain:", "user_id:", "lifetime:"}) {
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(field));
  }
  v1::TokenSpec no_target;
  EXPECT_THAT(
      Issue(issuer_.api_key, no_target),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target")));
  v1::TokenSpec false_org;
  false_org.mutable_target()->set_organization(false);
  EXPECT_THAT(
      Issue(issuer_.api_key, false_org),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target")));
  // UNAUTHENTICATED.
  EXPECT_THAT(Issue(""), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Issue("ta_k0000000000000000_" + std::string(43, 'A')),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // PERMISSION_DENIED.
  EXPECT_THAT(Issue(auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Issue(verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // FAILED_PRECONDITION.
  ASSERT_OK_AND_ASSIGN(OrgCredentials basic, server_->CreateOrganizationWithKey(
                                                 ApiKeyRole::kIssuer, false));
  EXPECT_THAT(
      Issue(basic.api_key),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               absl::StrCat("secure playback is not enabled for "
                            "organisation ",
                            basic.organization_id, ": upgrade needed")));
  // ALREADY_EXISTS.
  ASSERT_OK(Issue(issuer_.api_key, StreamsSpec({"a"}), "same").status());
  EXPECT_THAT(Issue(issuer_.api_key, StreamsSpec({"b"}), "same"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // Admin: needs x-organization-id; an unknown one is NOT_FOUND.
  EXPECT_THAT(Issue(server_->admin_key()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x-organization-id")));
  EXPECT_THAT(Issue(server_->admin_key(), StreamsSpec({"a"}), "", "ghost"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse by_admin,
      Issue(server_->admin_key(), StreamsSpec({"a"}), "", org_));
  EXPECT_EQ(by_admin.token().organization_id(), org_);
}

TEST_F(TokenServiceE2eTest, OversizedRequestIsResourceExhausted) {
  v1::IssueTokenRequest req;
  *req.mutable_spec() = StreamsSpec({"cam1"});
  req.mutable_spec()->set_tag(std::string(70 * 1024, 't'));
  EXPECT_THAT(Call(*stub_, &TS::IssueToken, req, issuer_.api_key),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(TokenServiceE2eTest, IdempotentIssueUnderConcurrentRetries) {
  constexpr int kThreads = 16;
  std::vector<std::string> ids(kThreads);
  std::vector<std::string> payloads(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto stub = server_->TokenStub();  // each on its own channel
      v1::IssueTokenRequest req;
      *req.mutable_spec() = StreamsSpec({"cam1"});
      req.set_request_id("retry-me");
      absl::StatusOr<v1::IssueTokenResponse> r =
          Call(*stub, &TS::IssueToken, req, issuer_.api_key);
      if (!r.ok()) {
        failures.fetch_add(1);
        return;
      }
      ids[i] = r->token().id();
      payloads[i] = r->jwt().substr(0, r->jwt().rfind('.'));
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
  // Same header and claims: the signature may differ (ECDSA), nothing else.
  EXPECT_EQ(std::set<std::string>(payloads.begin(), payloads.end()).size(), 1u);
  v1::ListTokensRequest list;
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse all,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  EXPECT_EQ(all.tokens_size(), 1);
}

TEST_F(TokenServiceE2eTest, GetAndListTokens) {
  v1::TokenSpec spec = StreamsSpec({"cam1"});
  spec.set_tag("t1");
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse a, Issue(issuer_.api_key, spec));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse b, Issue(issuer_.api_key));
  v1::GetTokenRequest get;
  get.set_token_id(a.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token got,
                       Call(*stub_, &TS::GetToken, get, auditor_.api_key));
  EXPECT_EQ(got.id(), a.token().id());
  EXPECT_EQ(got.tag(), "t1");
  get.set_token_id("AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_THAT(Call(*stub_, &TS::GetToken, get, auditor_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Call(*stub_, &TS::GetToken, get, verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));

  v1::ListTokensRequest list;
  list.set_tag("t1");
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse page,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  ASSERT_EQ(page.tokens_size(), 1);
  EXPECT_EQ(page.tokens(0).id(), a.token().id());
  list.Clear();
  list.set_page_size(1);
  ASSERT_OK_AND_ASSIGN(page,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  ASSERT_EQ(page.tokens_size(), 1);
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse page2,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  ASSERT_EQ(page2.tokens_size(), 1);
  EXPECT_NE(page2.tokens(0).id(), page.tokens(0).id());
  list.set_page_token("garbage");
  EXPECT_THAT(Call(*stub_, &TS::ListTokens, list, issuer_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  list.Clear();
  list.set_page_size(5000);
  EXPECT_THAT(Call(*stub_, &TS::ListTokens, list, issuer_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  list.Clear();
  list.set_state(v1::TOKEN_STATE_REVOKED);
  ASSERT_OK_AND_ASSIGN(page,
                       Call(*stub_, &TS::ListTokens, list, issuer_.api_key));
  EXPECT_EQ(page.tokens_size(), 0);
  EXPECT_THAT(Call(*stub_, &TS::ListTokens, list, verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenServiceE2eTest, DecodeToken) {
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse a, Issue(issuer_.api_key));
  v1::DecodeTokenRequest req;
  req.set_jwt(a.jwt());
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse d,
                       Call(*stub_, &TS::DecodeToken, req, auditor_.api_key));
  EXPECT_TRUE(d.signature_valid());
  EXPECT_EQ(d.state(), v1::TOKEN_STATE_ACTIVE);
  EXPECT_THAT(d.problems(), IsEmpty());
  EXPECT_THAT(d.header_json(), HasSubstr("\"ES256\""));
  EXPECT_THAT(d.payload_json(), HasSubstr(a.token().id()));
  EXPECT_EQ(d.token().id(), a.token().id());
  EXPECT_EQ(d.token().key_id(), a.token().key_id());
  EXPECT_EQ(d.token().issued_by(), issuer_.api_key_id);

  // Tampered: the signature no longer matches, and it says so.
  std::string tampered = a.jwt();
  tampered[tampered.size() - 3] =
      tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  req.set_jwt(tampered);
  ASSERT_OK_AND_ASSIGN(d, Call(*stub_, &TS::DecodeToken, req, issuer_.api_key));
  EXPECT_FALSE(d.signature_valid());
  EXPECT_THAT(d.problems(), Not(IsEmpty()));
  // Never "active": the state says it is not a token of this authority, and
  // the real token's record (same token id) is not shown for it.
  EXPECT_EQ(d.state(), v1::TOKEN_STATE_INVALID);
  EXPECT_EQ(d.token().state(), v1::TOKEN_STATE_INVALID);
  EXPECT_EQ(d.token().issued_by(), "");

  // A malformed signature segment: invalid too.
  req.set_jwt(a.jwt().substr(0, a.jwt().rfind('.') + 1) + "%%%");
  ASSERT_OK_AND_ASSIGN(d, Call(*stub_, &TS::DecodeToken, req, issuer_.api_key));
  EXPECT_EQ(d.state(), v1::TOKEN_STATE_INVALID);

  req.set_jwt("");
  EXPECT_THAT(Call(*stub_, &TS::DecodeToken, req, issuer_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  req.set_jwt(a.jwt());
  EXPECT_THAT(Call(*stub_, &TS::DecodeToken, req, verifier_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenServiceE2eTest, VerifyErrors) {
  v1::VerifyTokenRequest req;
  req.set_jwt("x");
  EXPECT_THAT(Call(*stub_, &TS::VerifyToken, req, verifier_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("organization_id: required")));
  req.set_organization_id(org_);
  EXPECT_THAT(Call(*stub_, &TS::VerifyToken, req, issuer_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Call(*stub_, &TS::VerifyToken, req, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // Unknown organisation: a denial, not an error.
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse a, Issue(issuer_.api_key));
  req.set_jwt(a.jwt());
  req.set_organization_id("ghost");
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v,
                       Call(*stub_, &TS::VerifyToken, req, verifier_.api_key));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_ORGANIZATION_DISABLED);
}

TEST_F(TokenServiceE2eTest, RevokeTokenIsSeenByVerifyAndWatchers) {
  // A watcher from the start.
  grpc::ClientContext watch_context;
  TestServer::Authorize(&watch_context, verifier_.api_key);
  watch_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(60));
  v1::WatchRevocationsRequest watch;
  auto watch_stub = server_->TokenStub();
  std::unique_ptr<grpc::ClientReader<v1::RevocationEvent>> reader =
      watch_stub->WatchRevocations(&watch_context, watch);

  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse a, Issue(issuer_.api_key));
  // Verified once before (its signature check is now in the verify cache).
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse before, Verify(a.jwt()));
  EXPECT_TRUE(before.allowed()) << before.detail();
  v1::RevokeTokenRequest rev;
  rev.set_token_id(a.token().id());
  rev.set_reason("leaked on a forum");
  ASSERT_OK_AND_ASSIGN(v1::Token revoked,
                       Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key));
  EXPECT_EQ(revoked.state(), v1::TOKEN_STATE_REVOKED);
  EXPECT_EQ(revoked.revocation_reason(), "leaked on a forum");
  EXPECT_TRUE(revoked.has_revoked_at());

  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(a.jwt()));
  EXPECT_FALSE(v.allowed());
  EXPECT_EQ(v.reason(), v1::DENY_REASON_REVOKED);

  v1::RevocationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.token_id(), a.token().id());
  EXPECT_EQ(event.organization_id(), org_);
  EXPECT_EQ(event.sequence(), 1);
  EXPECT_EQ(event.expires_at().seconds(), a.token().expires_at().seconds());

  // Idempotent.
  rev.set_reason("again");
  ASSERT_OK_AND_ASSIGN(v1::Token again,
                       Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key));
  EXPECT_EQ(again.revocation_reason(), "leaked on a forum");
  EXPECT_EQ(again.revoked_at().seconds(), revoked.revoked_at().seconds());
  // Errors.
  rev.set_token_id("AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_THAT(Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key),
              StatusIs(absl::StatusCode::kNotFound));
  rev.set_token_id(a.token().id());
  EXPECT_THAT(Call(*stub_, &TS::RevokeToken, rev, auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
  rev.set_reason(std::string(600, 'r'));
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse b, Issue(issuer_.api_key));
  rev.set_token_id(b.token().id());
  EXPECT_THAT(
      Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
  watch_context.TryCancel();
  while (reader->Read(&event)) {
  }
  (void)reader->Finish();
}

TEST_F(TokenServiceE2eTest, RevokeTokensBulk) {
  for (int i = 0; i < 3; ++i) {
    v1::TokenSpec spec = StreamsSpec({"cam1"});
    spec.set_user_id("bad-user");
    ASSERT_OK(Issue(issuer_.api_key, spec).status());
  }
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse keep, Issue(issuer_.api_key));
  v1::RevokeTokensRequest req;
  req.set_user_id("bad-user");
  req.set_dry_run(true);
  ASSERT_OK_AND_ASSIGN(v1::RevokeTokensResponse r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 3);
  req.set_dry_run(false);
  req.set_reason("abuse");
  ASSERT_OK_AND_ASSIGN(r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 3);
  ASSERT_OK_AND_ASSIGN(r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 0);
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(keep.jwt()));
  EXPECT_TRUE(v.allowed());
  v1::RevokeTokensRequest none;
  EXPECT_THAT(Call(*stub_, &TS::RevokeTokens, none, issuer_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Call(*stub_, &TS::RevokeTokens, req, auditor_.api_key),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenServiceE2eTest, RevokeTokensByState) {
  for (int i = 0; i < 2; ++i) {
    v1::TokenSpec spec = StreamsSpec({"cam1"});
    spec.set_tag("premiere");
    ASSERT_OK(Issue(issuer_.api_key, spec).status());
  }
  v1::TokenSpec later = StreamsSpec({"cam1"});
  later.set_tag("premiere");
  later.mutable_not_before()->set_seconds(absl::ToUnixSeconds(
      Clock::Real().Now() + absl::Hours(2)));  // the server's clock is real
  later.mutable_lifetime()->set_seconds(86400);
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse pending,
                       Issue(issuer_.api_key, later));
  EXPECT_EQ(pending.token().state(), v1::TOKEN_STATE_NOT_YET_VALID);

  v1::RevokeTokensRequest req;
  req.set_tag("premiere");
  req.set_dry_run(true);
  req.set_state(v1::TOKEN_STATE_ACTIVE);
  ASSERT_OK_AND_ASSIGN(v1::RevokeTokensResponse r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 2);
  req.set_state(v1::TOKEN_STATE_NOT_YET_VALID);
  ASSERT_OK_AND_ASSIGN(r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 1);
  req.set_state(v1::TOKEN_STATE_UNSPECIFIED);
  ASSERT_OK_AND_ASSIGN(r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 3);

  req.set_dry_run(false);
  req.set_state(v1::TOKEN_STATE_NOT_YET_VALID);
  ASSERT_OK_AND_ASSIGN(r,
                       Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key));
  EXPECT_EQ(r.revoked_count(), 1);
  v1::GetTokenRequest get;
  get.set_token_id(pending.token().id());
  ASSERT_OK_AND_ASSIGN(v1::Token t,
                       Call(*stub_, &TS::GetToken, get, issuer_.api_key));
  EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
  v1::ListTokensRequest active;
  active.set_tag("premiere");
  active.set_state(v1::TOKEN_STATE_ACTIVE);
  ASSERT_OK_AND_ASSIGN(v1::ListTokensResponse list,
                       Call(*stub_, &TS::ListTokens, active, issuer_.api_key));
  EXPECT_THAT(list.tokens(), SizeIs(2));

  // Nothing to revoke in these states, and unknown values: INVALID_ARGUMENT
  // naming the field, nothing revoked.
  for (v1::TokenState bad : {v1::TOKEN_STATE_EXPIRED, v1::TOKEN_STATE_REVOKED,
                             static_cast<v1::TokenState>(42)}) {
    req.set_state(bad);
    EXPECT_THAT(Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         ::testing::StartsWith("state: ")));
  }
  req.set_state(v1::TOKEN_STATE_EXPIRED);
  EXPECT_THAT(Call(*stub_, &TS::RevokeTokens, req, issuer_.api_key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "state: only active or not yet valid tokens can be "
                       "revoked"));
  ASSERT_OK_AND_ASSIGN(list,
                       Call(*stub_, &TS::ListTokens, active, issuer_.api_key));
  EXPECT_THAT(list.tokens(), SizeIs(2));
}

// Lowercase hex SHA-256, as OrganizationStateEvent.jwks_sha256 is defined.
std::string HexSha256(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// An open WatchOrganizationStates stream; every Read waits at most 10 s.
class StateWatch {
 public:
  StateWatch(TestServer& server, const std::string& key,
             const std::vector<std::string>& orgs)
      : stub_(server.TokenStub()) {
    TestServer::Authorize(&context_, key);
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    v1::WatchOrganizationStatesRequest req;
    for (const std::string& o : orgs) req.add_organization_ids(o);
    reader_ = stub_->WatchOrganizationStates(&context_, req);
  }
  ~StateWatch() {
    if (reader_ == nullptr) return;
    context_.TryCancel();
    v1::OrganizationStateEvent e;
    while (reader_->Read(&e)) {
    }
    (void)reader_->Finish();
  }
  bool Read(v1::OrganizationStateEvent* e) { return reader_->Read(e); }
  // After Read returned false.
  grpc::StatusCode Finish() {
    finished_code_ = reader_->Finish().error_code();
    reader_ = nullptr;
    return finished_code_;
  }

 private:
  std::unique_ptr<TS> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::OrganizationStateEvent>> reader_;
  grpc::StatusCode finished_code_ = grpc::StatusCode::OK;
};

TEST_F(TokenServiceE2eTest, WatchOrganizationStatesSnapshotThenChanges) {
  ASSERT_OK_AND_ASSIGN(v1::Organization other,
                       server_->CreateOrganization("other"));
  auto keys = server_->KeyStub();
  auto jwks_digest = [&](const std::string& org) -> std::string {
    v1::GetJwksRequest req;
    req.set_organization_id(org);
    auto r =
        Call(*keys, &v1::KeyService::Stub::GetJwks, req, verifier_.api_key);
    return r.ok() ? HexSha256(r->jwks_json()) : "error";
  };
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse token, Issue(issuer_.api_key));

  StateWatch watch(*server_, verifier_.api_key, {org_, other.id(), org_});
  v1::OrganizationStateEvent e;
  // The snapshot: each organisation once (the duplicate is ignored), in the
  // order asked.
  ASSERT_TRUE(watch.Read(&e));
  EXPECT_EQ(e.organization_id(), org_);
  EXPECT_TRUE(e.secure_enabled());
  EXPECT_TRUE(e.snapshot());
  EXPECT_EQ(e.jwks_sha256(), jwks_digest(org_));
  EXPECT_GT(e.changed_at().seconds(), 0);
  const std::string first_digest = e.jwks_sha256();
  ASSERT_TRUE(watch.Read(&e));
  EXPECT_EQ(e.organization_id(), other.id());
  EXPECT_TRUE(e.snapshot());
  EXPECT_EQ(e.jwks_sha256(), jwks_digest(other.id()));

  auto admin = server_->AdminStub();
  v1::UpdateOrganizationRequest off;
  off.set_organization_id(org_);
  off.set_secure_enabled(false);
  ASSERT_OK(Call(*admin, &v1::AdminService::Stub::UpdateOrganization, off,
                 server_->admin_key())
                .status());
  ASSERT_TRUE(watch.Read(&e));
  EXPECT_EQ(e.organization_id(), org_);
  EXPECT_FALSE(e.secure_enabled());
  EXPECT_FALSE(e.snapshot());
  EXPECT_EQ(e.jwks_sha256(), first_digest);
  ASSERT_OK_AND_ASSIGN(v1::VerifyTokenResponse v, Verify(token.jwt()));
  EXPECT_EQ(v.reason(), v1::DENY_REASON_ORGANIZATION_DISABLED);

  // A name-only update of the other organisation changes nothing a verifier
  // needs: no event (the next one is the rotation below).
  v1::UpdateOrganizationRequest rename;
  rename.set_organization_id(other.id());
  rename.set_secure_enabled(true);
  rename.set_name("renamed");
  ASSERT_OK(Call(*admin, &v1::AdminService::Stub::UpdateOrganization, rename,
                 server_->admin_key())
                .status());

  v1::RotateSigningKeyRequest rotate;
  ASSERT_OK(Call(*keys, &v1::KeyService::Stub::RotateSigningKey, rotate,
                 issuer_.api_key)
                .status());
  ASSERT_TRUE(watch.Read(&e));
  EXPECT_EQ(e.organization_id(), org_);
  EXPECT_FALSE(e.secure_enabled());
  EXPECT_NE(e.jwks_sha256(), first_digest);
  EXPECT_EQ(e.jwks_sha256(), jwks_digest(org_));

  off.set_secure_enabled(true);
  ASSERT_OK(Call(*admin, &v1::AdminService::Stub::UpdateOrganization, off,
                 server_->admin_key())
                .status());
  ASSERT_TRUE(watch.Read(&e));
  EXPECT_EQ(e.organization_id(), org_);
  EXPECT_TRUE(e.secure_enabled());

  // A new stream starts with the current state again.
  StateWatch again(*server_, verifier_.api_key, {org_});
  ASSERT_TRUE(again.Read(&e));
  EXPECT_TRUE(e.snapshot());
  EXPECT_TRUE(e.secure_enabled());
  EXPECT_EQ(e.jwks_sha256(), jwks_digest(org_));
}

TEST_F(TokenServiceE2eTest, WatchOrganizationStatesRolesAndErrors) {
  ASSERT_OK_AND_ASSIGN(v1::Organization other,
                       server_->CreateOrganization("other"));
  v1::OrganizationStateEvent e;
  // Issuers and auditors: their own organisation, named or implied.
  for (const OrgCredentials& own : {issuer_, auditor_}) {
    for (const std::vector<std::string>& orgs :
         {std::vector<std::string>{}, std::vector<std::string>{org_}}) {
      StateWatch watch(*server_, own.api_key, orgs);
      ASSERT_TRUE(watch.Read(&e));
      EXPECT_EQ(e.organization_id(), org_);
      EXPECT_TRUE(e.snapshot());
    }
  }
  // ... never another one, whether it exists or not.
  for (const std::string& foreign :
       {other.id(), std::string("org_00000000000000ff")}) {
    StateWatch watch(*server_, issuer_.api_key, {org_, foreign});
    EXPECT_FALSE(watch.Read(&e));
    EXPECT_EQ(watch.Finish(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // An admin acting for an organisation may leave the list empty.
  {
    grpc::ClientContext context;
    TestServer::Authorize(&context, server_->admin_key(), other.id());
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    auto reader = stub_->WatchOrganizationStates(
        &context, v1::WatchOrganizationStatesRequest());
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_EQ(e.organization_id(), other.id());
    context.TryCancel();
    while (reader->Read(&e)) {
    }
    (void)reader->Finish();
  }
  struct Case {
    std::string key;
    std::vector<std::string> orgs;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {verifier_.api_key, {}, grpc::StatusCode::INVALID_ARGUMENT},
      {verifier_.api_key, {"not an id"}, grpc::StatusCode::INVALID_ARGUMENT},
      {verifier_.api_key,
       {org_, "org_00000000000000ff"},
       grpc::StatusCode::NOT_FOUND},
      {"", {org_}, grpc::StatusCode::UNAUTHENTICATED},
      {"ta_kbogus_bogus", {org_}, grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.orgs.empty() ? "(none)" : c.orgs.back());
    StateWatch watch(*server_, c.key, c.orgs);
    EXPECT_FALSE(watch.Read(&e));
    EXPECT_EQ(watch.Finish(), c.code);
  }
  std::vector<std::string> many(1001, org_);
  StateWatch too_many(*server_, verifier_.api_key, many);
  EXPECT_FALSE(too_many.Read(&e));
  EXPECT_EQ(too_many.Finish(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TokenServiceE2eTest, ShutdownEndsStateWatchersWithUnavailable) {
  StateWatch watch(*server_, verifier_.api_key, {org_});
  v1::OrganizationStateEvent e;
  ASSERT_TRUE(watch.Read(&e));
  // A long grace: the stream must be ended by the server at once, not by the
  // grace period running out (the watch's own 10 s deadline would answer
  // DEADLINE_EXCEEDED first).
  server_->Stop(absl::Seconds(60));
  EXPECT_FALSE(watch.Read(&e));
  EXPECT_EQ(watch.Finish(), grpc::StatusCode::UNAVAILABLE);
}

// Reads `n` events from a new watch stream starting after `since`.
std::vector<v1::RevocationEvent> ReadEvents(TestServer& server,
                                            const std::string& key,
                                            int64_t since, int n) {
  grpc::ClientContext context;
  TestServer::Authorize(&context, key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  v1::WatchRevocationsRequest req;
  req.set_since_sequence(since);
  auto stub = server.TokenStub();
  auto reader = stub->WatchRevocations(&context, req);
  std::vector<v1::RevocationEvent> out;
  v1::RevocationEvent e;
  while (static_cast<int>(out.size()) < n && reader->Read(&e)) out.push_back(e);
  context.TryCancel();
  while (reader->Read(&e)) {
  }
  (void)reader->Finish();
  return out;
}

TEST_F(TokenServiceE2eTest, WatcherReconnectsWithoutGapOrDuplicate) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t, Issue(issuer_.api_key));
    ids.push_back(t.token().id());
  }
  // Revoke three, read two, "disconnect", revoke the rest concurrently with
  // a reconnect from the last sequence seen.
  for (int i = 0; i < 3; ++i) {
    v1::RevokeTokenRequest rev;
    rev.set_token_id(ids[i]);
    ASSERT_OK(Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key).status());
  }
  std::vector<v1::RevocationEvent> first =
      ReadEvents(*server_, verifier_.api_key, 0, 2);
  ASSERT_THAT(first, SizeIs(2));
  const int64_t last = first.back().sequence();
  std::thread revoker([&] {
    for (int i = 3; i < 6; ++i) {
      v1::RevokeTokenRequest rev;
      rev.set_token_id(ids[i]);
      auto stub = server_->TokenStub();
      EXPECT_OK(Call(*stub, &TS::RevokeToken, rev, issuer_.api_key).status());
    }
  });
  std::vector<v1::RevocationEvent> rest =
      ReadEvents(*server_, verifier_.api_key, last, 4);
  revoker.join();
  ASSERT_THAT(rest, SizeIs(4));
  int64_t expected = last + 1;
  for (const v1::RevocationEvent& e : rest) {
    EXPECT_EQ(e.sequence(), expected++);
  }
  std::vector<std::string> seen;
  for (const auto& e : first) seen.push_back(e.token_id());
  for (const auto& e : rest) seen.push_back(e.token_id());
  EXPECT_EQ(seen, ids);
}

TEST_F(TokenServiceE2eTest, WatchErrors) {
  grpc::ClientContext context;
  TestServer::Authorize(&context, issuer_.api_key);
  v1::WatchRevocationsRequest req;
  auto reader = stub_->WatchRevocations(&context, req);
  v1::RevocationEvent e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext context2;
  auto reader2 = stub_->WatchRevocations(&context2, req);
  EXPECT_FALSE(reader2->Read(&e));
  EXPECT_EQ(reader2->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext context3;
  TestServer::Authorize(&context3, verifier_.api_key);
  req.set_since_sequence(-1);
  auto reader3 = stub_->WatchRevocations(&context3, req);
  EXPECT_FALSE(reader3->Read(&e));
  EXPECT_EQ(reader3->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TokenServiceE2eTest, ShutdownEndsWatchersWithUnavailable) {
  grpc::ClientContext context;
  TestServer::Authorize(&context, verifier_.api_key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  v1::WatchRevocationsRequest req;
  auto reader = stub_->WatchRevocations(&context, req);
  // Make sure the stream is established before stopping.
  ASSERT_OK_AND_ASSIGN(v1::IssueTokenResponse t, Issue(issuer_.api_key));
  v1::RevokeTokenRequest rev;
  rev.set_token_id(t.token().id());
  ASSERT_OK(Call(*stub_, &TS::RevokeToken, rev, issuer_.api_key).status());
  v1::RevocationEvent e;
  ASSERT_TRUE(reader->Read(&e));
  server_->Stop(absl::Seconds(5));
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TokenServiceE2eTest, OneLogLinePerCallWithoutSecrets) {
  ASSERT_OK_AND_ASSIGN(
      v1::IssueTokenResponse a,
      Issue(issuer_.api_key, StreamsSpec({"cam1"}), "req-log"));
  ASSERT_OK(Verify(a.jwt()).status());
  EXPECT_THAT(Issue("bad-key"), StatusIs(absl::StatusCode::kUnauthenticated));
  const std::string log = server_->CallLogContents();
  EXPECT_THAT(log, HasSubstr(absl::StrCat("rpc method=TokenService/IssueToken "
                                          "org=",
                                          org_, " code=OK latency_us=")));
  EXPECT_THAT(log, HasSubstr("request_id=req-log"));
  EXPECT_THAT(log, HasSubstr("method=TokenService/VerifyToken"));
  EXPECT_THAT(log, HasSubstr("code=UNAUTHENTICATED"));
  // Never a token, a JWT or a key.
  EXPECT_THAT(log, Not(HasSubstr(a.jwt().substr(0, 20))));
  EXPECT_THAT(log, Not(HasSubstr(a.jwt().substr(a.jwt().rfind('.')))));
  EXPECT_THAT(log, Not(HasSubstr(issuer_.api_key)));
  EXPECT_THAT(log, Not(HasSubstr(server_->admin_key())));
  EXPECT_THAT(log, Not(HasSubstr("bad-key")));
}

}  // namespace
}  // namespace token_authority::testing

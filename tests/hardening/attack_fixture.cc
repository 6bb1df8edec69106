#include "tests/hardening/attack_fixture.h"

#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"
#include "convert/status.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/jws.h"

namespace token_authority::hardening {
namespace {

using storage::ApiKeyRole;
using ::testing::Contains;
using testing::TestServer;
using token::Algorithm;
using token::DenyReason;

int g_attack_cases = 0;

// Every case of the suite, counted as it runs: a case that silently stops
// running (a loop over an empty list, a skipped branch) changes the count.
// Update it, with the reason in the commit, when cases are added or removed.
constexpr int kExpectedAttackCases = 524;

class CountPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("attack cases run: %d\n", g_attack_cases);
    std::fflush(stdout);
    const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
    if (unit.test_to_run_count() == unit.total_test_count()) {
      EXPECT_EQ(g_attack_cases, kExpectedAttackCases)
          << "attack cases run by the whole suite";
    }
  }
};
[[maybe_unused]] ::testing::Environment* const kCountPrinter =
    ::testing::AddGlobalTestEnvironment(new CountPrinter);

// Runs a unary TokenService/KeyService call with a deadline and a key.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                           const Request&,
                                                           Response*),
                              const Request& request,
                              const std::string& api_key) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  TestServer::Authorize(&context, api_key);
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return convert::FromGrpcStatus(status);
  return response;
}

v1::Algorithm ToProto(Algorithm alg) {
  return static_cast<v1::Algorithm>(static_cast<int>(alg));
}

}  // namespace

int AttackCasesRun() { return g_attack_cases; }

bool TestHooks::IsOrganizationDisabled(absl::string_view org) const {
  return disabled.count(std::string(org)) > 0;
}
bool TestHooks::IsRevoked(const token::Claims& claims) const {
  return revoked.count(claims.token_id()) > 0;
}

std::string B64(absl::string_view data) { return token::Base64UrlEncode(data); }

std::string SignSegments(absl::string_view header_b64,
                         absl::string_view payload_b64,
                         const token::SigningKey& key) {
  const std::string input = absl::StrCat(header_b64, ".", payload_b64);
  absl::StatusOr<std::string> sig = key.Sign(input);
  EXPECT_TRUE(sig.ok()) << sig.status();
  return absl::StrCat(input, ".", B64(sig.ok() ? *sig : ""));
}

std::string SignRaw(absl::string_view header_json,
                    absl::string_view payload_json,
                    const token::SigningKey& key) {
  return SignSegments(B64(header_json), B64(payload_json), key);
}

std::string HeaderFor(const token::SigningKey& key, absl::string_view alg) {
  return absl::StrCat("{\"alg\":\"",
                      alg.empty() ? token::AlgorithmName(key.algorithm()) : alg,
                      "\",\"typ\":\"JWT\",\"kid\":\"", key.kid(), "\"}");
}

void AttackTest::SetUp() { StartServer(kDefaultLeeway); }

void AttackTest::StartServer(absl::Duration leeway) {
  server_.reset();
  leeway_ = leeway;
  testing::TestServerOptions options;
  options.use_fake_clock = true;
  options.authority.leeway = leeway;
  options.authority.maintenance_interval = absl::ZeroDuration();
  ASSERT_OK_AND_ASSIGN(server_, TestServer::Start(options));
  ASSERT_OK_AND_ASSIGN(a_,
                       server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(b_,
                       server_->CreateOrganizationWithKey(ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(verifier_,
                       server_->CreateApiKey("", ApiKeyRole::kVerifier));
  token::VerifierOptions vo;
  vo.leeway = leeway;
  core_ = std::make_unique<token::TokenVerifier>(vo);
  hooks_ = TestHooks();
  for (Algorithm alg : {Algorithm::kRs256, Algorithm::kEdDsa, Algorithm::kHs256,
                        Algorithm::kEs256}) {
    RotateA(alg);
  }
  ReloadKeys();
  ASSERT_EQ(Keys(a_.organization_id).entries().size(), 5u);
  ASSERT_EQ(Primary(a_.organization_id).algorithm(), Algorithm::kEs256);
}

void AttackTest::ReloadKeys() {
  key_sets_.clear();
  for (const std::string& org : {a_.organization_id, b_.organization_id}) {
    absl::StatusOr<std::vector<storage::SigningKey>> rows =
        server_->server()->store()->ListSigningKeys(org);
    ASSERT_OK(rows);
    std::vector<token::KeySetEntry> entries;
    for (const storage::SigningKey& row : *rows) {
      absl::StatusOr<std::unique_ptr<const token::SigningKey>> key =
          token::SigningKey::FromPrivateKey(row.algorithm, row.private_key,
                                            row.created_at);
      ASSERT_OK(key);
      // The core recomputes the same kid from the key material.
      ASSERT_EQ((*key)->kid(), row.kid);
      std::shared_ptr<const token::SigningKey> shared = std::move(*key);
      by_kid_[row.kid] = shared;
      entries.push_back({shared, row.state});
    }
    absl::StatusOr<token::KeySet> set =
        token::KeySet::Create(org, std::move(entries));
    ASSERT_OK(set);
    key_sets_.emplace(org, std::move(*set));
  }
}

absl::Time AttackTest::Now() const { return server_->clock()->Now(); }
void AttackTest::SetNow(absl::Time t) { server_->clock()->Set(t); }

std::string AttackTest::NewJti() {
  absl::StatusOr<std::string> jti = token::NewTokenId(random_);
  EXPECT_TRUE(jti.ok());
  return jti.ok() ? *jti : "";
}

std::string AttackTest::Claims(const std::string& org, absl::string_view target,
                               absl::string_view extra, std::string jti) {
  const int64_t now = absl::ToUnixSeconds(Now());
  return Claims(org, now - 10, now - 10, now + 3600, target, extra,
                std::move(jti));
}

std::string AttackTest::Claims(const std::string& org, int64_t iat, int64_t nbf,
                               int64_t exp, absl::string_view target,
                               absl::string_view extra, std::string jti) {
  if (jti.empty()) jti = NewJti();
  return absl::Substitute(
      "{\"iss\":\"token-authority\",\"jti\":\"$0\",\"iat\":$1,\"nbf\":$2,"
      "\"exp\":$3,\"org\":\"$4\",$5$6}",
      jti, iat, nbf, exp, org,
      target.empty() ? absl::string_view("\"streams\":[\"cam1\"]") : target,
      extra);
}

std::string AttackTest::GoodToken() {
  const token::SigningKey& key = Primary(a_.organization_id);
  return SignRaw(HeaderFor(key), Claims(a_.organization_id), key);
}

token::PlaybackRequest AttackTest::Playback(const std::string& org) {
  token::PlaybackRequest r;
  r.organization_id = org.empty() ? a_.organization_id : org;
  r.stream_name = "cam1";
  return r;
}

const token::KeySet& AttackTest::Keys(const std::string& org) const {
  return key_sets_.at(org);
}

const token::SigningKey& AttackTest::KeyOf(const std::string& org,
                                           Algorithm alg) const {
  const token::SigningKey* found = nullptr;
  for (const token::KeySetEntry& e : Keys(org).entries()) {
    if (e.state != token::KeyState::kRetired && e.key->algorithm() == alg &&
        (found == nullptr || e.key->created_at() >= found->created_at())) {
      found = e.key.get();
    }
  }
  EXPECT_NE(found, nullptr) << token::AlgorithmName(alg);
  return *found;
}

const token::SigningKey& AttackTest::Primary(const std::string& org) const {
  return *Keys(org).primary();
}

const token::SigningKey& AttackTest::KeyByKid(const std::string& kid) const {
  return *by_kid_.at(kid);
}

absl::StatusOr<v1::VerifyTokenResponse> AttackTest::ServerVerify(
    const std::string& jwt, const token::PlaybackRequest& request) {
  v1::VerifyTokenRequest req;
  req.set_jwt(jwt);
  req.set_organization_id(request.organization_id);
  req.set_stream_group_id(request.stream_group_id);
  req.set_stream_name(request.stream_name);
  req.set_client_ip(request.client_ip);
  req.set_domain(request.domain);
  auto stub = server_->TokenStub();
  return Call(*stub, &v1::TokenService::Stub::VerifyToken, req,
              verifier_.api_key);
}

absl::StatusOr<v1::DecodeTokenResponse> AttackTest::ServerDecode(
    const std::string& jwt, const std::string& org) {
  v1::DecodeTokenRequest req;
  req.set_jwt(jwt);
  auto stub = server_->TokenStub();
  return Call(*stub, &v1::TokenService::Stub::DecodeToken, req,
              org == b_.organization_id ? b_.api_key : a_.api_key);
}

void AttackTest::Deny(const std::string& name, const std::string& jwt,
                      DenyReason want, DecodeCheck decode,
                      const token::PlaybackRequest* request,
                      const std::string& keys_org) {
  ++g_attack_cases;
  SCOPED_TRACE(name);
  const token::PlaybackRequest playback =
      request != nullptr ? *request : Playback();
  std::string org = keys_org;
  if (org.empty()) org = playback.organization_id;
  if (org.empty()) org = a_.organization_id;
  const absl::Time now = Now();

  // The core.
  const token::VerifyResult core =
      core_->Verify(jwt, playback, Keys(org), now, &hooks_);
  EXPECT_FALSE(core.allowed);
  EXPECT_EQ(token::DenyReasonName(core.reason), token::DenyReasonName(want))
      << "core detail: " << core.detail;

  // The server.
  absl::StatusOr<v1::VerifyTokenResponse> verdict = ServerVerify(jwt, playback);
  ASSERT_OK(verdict);
  EXPECT_FALSE(verdict->allowed());
  EXPECT_EQ(token::DenyReasonName(
                static_cast<DenyReason>(static_cast<int>(verdict->reason()))),
            token::DenyReasonName(want))
      << "server detail: " << verdict->detail();
  EXPECT_EQ(verdict->detail(), core.detail);

  if (decode == DecodeCheck::kNone || jwt.empty()) return;
  absl::StatusOr<v1::DecodeTokenResponse> decoded = ServerDecode(jwt, org);
  ASSERT_OK(decoded);
  EXPECT_GT(decoded->problems_size(), 0);
  if (decode == DecodeCheck::kRevoked) {
    EXPECT_EQ(decoded->state(), v1::TOKEN_STATE_REVOKED);
    return;
  }
  const token::DecodedToken d =
      token::DecodeToken(jwt, &Keys(org), now, leeway_);
  const token::TokenProblem* problem = nullptr;
  for (const token::TokenProblem& p : d.problems) {
    if (p.reason == want) {
      problem = &p;
      break;
    }
  }
  ASSERT_NE(problem, nullptr)
      << "core DecodeToken lists no " << token::DenyReasonName(want)
      << " problem; first: "
      << (d.problems.empty() ? "(none)" : d.problems[0].detail);
  EXPECT_THAT(decoded->problems(), Contains(problem->detail));
  if (want == DenyReason::kBadSignature || want == DenyReason::kUnknownKey ||
      want == DenyReason::kUnsupportedAlgorithm) {
    EXPECT_FALSE(d.signature_valid);
    EXPECT_FALSE(decoded->signature_valid());
  }
}

void AttackTest::CountCase() { ++g_attack_cases; }

void AttackTest::Allow(const std::string& name, const std::string& jwt,
                       const token::PlaybackRequest* request) {
  SCOPED_TRACE(name);
  const token::PlaybackRequest playback =
      request != nullptr ? *request : Playback();
  const token::VerifyResult core = core_->Verify(
      jwt, playback, Keys(playback.organization_id), Now(), &hooks_);
  EXPECT_TRUE(core.allowed)
      << token::DenyReasonName(core.reason) << ": " << core.detail;
  absl::StatusOr<v1::VerifyTokenResponse> verdict = ServerVerify(jwt, playback);
  ASSERT_OK(verdict);
  EXPECT_TRUE(verdict->allowed()) << verdict->detail();
}

v1::IssueTokenResponse AttackTest::IssueA() {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      "cam1");
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  auto stub = server_->TokenStub();
  absl::StatusOr<v1::IssueTokenResponse> r =
      Call(*stub, &v1::TokenService::Stub::IssueToken, req, a_.api_key);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : v1::IssueTokenResponse();
}

void AttackTest::RevokeA(const std::string& token_id) {
  v1::RevokeTokenRequest req;
  req.set_token_id(token_id);
  req.set_reason("attack suite");
  auto stub = server_->TokenStub();
  absl::StatusOr<v1::Token> r =
      Call(*stub, &v1::TokenService::Stub::RevokeToken, req, a_.api_key);
  ASSERT_OK(r);
  ASSERT_EQ(r->state(), v1::TOKEN_STATE_REVOKED);
  hooks_.revoked.insert(token_id);
}

void AttackTest::RotateA(Algorithm alg) {
  v1::RotateSigningKeyRequest req;
  req.set_algorithm(ToProto(alg));
  auto stub = server_->KeyStub();
  ASSERT_OK(
      Call(*stub, &v1::KeyService::Stub::RotateSigningKey, req, a_.api_key)
          .status());
}

}  // namespace token_authority::hardening

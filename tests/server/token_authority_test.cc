// TokenAuthority over a real SQLite store in a temporary directory, with a
// FakeClock and a FakeRandom.
#include "server/token_authority.h"

#include <openssl/sha.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/time_scale.h"
#include "token/base64url.h"
#include "token/jws.h"

namespace token_authority::server {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using token_authority::testing::IsOk;
using token_authority::testing::IsOkAndHolds;
using token_authority::testing::StatusIs;

constexpr absl::Duration kLeeway = absl::Seconds(60);

std::string PayloadOf(const std::string& jwt) {
  auto seg = token::SplitJws(jwt);
  if (!seg.ok()) return "";
  auto payload = token::Base64UrlDecode(seg->payload_b64);
  return payload.ok() ? *payload : "";
}

std::string HeaderOf(const std::string& jwt) {
  auto seg = token::SplitJws(jwt);
  if (!seg.ok()) return "";
  auto header = token::Base64UrlDecode(seg->header_b64);
  return header.ok() ? *header : "";
}

token::TokenSpec Streams(std::vector<std::string> names) {
  token::TokenSpec spec;
  spec.target = token::Target::Streams(std::move(names));
  return spec;
}

class TokenAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-core-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.leeway = kLeeway;
    options_.maintenance_interval = absl::ZeroDuration();
    options_.feed.poll_interval = absl::ZeroDuration();
    ASSERT_NO_FATAL_FAILURE(Open());
    ASSERT_OK_AND_ASSIGN(CreatedApiKey admin,
                         authority_->CreateBootstrapAdminKey());
    admin_ = Caller{admin.key.id, ApiKeyRole::kAdmin, ""};
    ASSERT_NO_FATAL_FAILURE(MakeOrg(&org_a_, &issuer_a_));
    ASSERT_NO_FATAL_FAILURE(MakeOrg(&org_b_, &issuer_b_));
    ASSERT_OK_AND_ASSIGN(
        CreatedApiKey v,
        authority_->CreateApiKey(admin_, "", ApiKeyRole::kVerifier));
    verifier_ = Caller{v.key.id, ApiKeyRole::kVerifier, ""};
    ASSERT_OK_AND_ASSIGN(
        CreatedApiKey au,
        authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kAuditor));
    auditor_a_ = Caller{au.key.id, ApiKeyRole::kAuditor, org_a_};
  }

  void TearDown() override {
    authority_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Open() {
    storage::SqliteTokenStoreOptions o;
    o.path = dir_ + "/db";
    o.key_encryption_key_path = dir_ + "/kek.key";
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(store_, storage::SqliteTokenStore::Open(o));
    ASSERT_OK_AND_ASSIGN(
        authority_,
        TokenAuthority::Create(options_, store_.get(), clock_, random_));
  }

  void Reopen() {
    authority_.reset();
    store_.reset();
    Open();
  }

  void MakeOrg(std::string* org, Caller* issuer, bool secure = true) {
    ASSERT_OK_AND_ASSIGN(storage::Organization o,
                         authority_->CreateOrganization(admin_, "org", secure));
    *org = o.id;
    ASSERT_OK_AND_ASSIGN(
        CreatedApiKey k,
        authority_->CreateApiKey(admin_, o.id, ApiKeyRole::kIssuer));
    *issuer = Caller{k.key.id, ApiKeyRole::kIssuer, o.id};
  }

  absl::StatusOr<IssuedToken> Issue(const Caller& caller,
                                    std::vector<std::string> streams = {"cam1"},
                                    const std::string& request_id = "") {
    return authority_->IssueToken(caller, Streams(std::move(streams)),
                                  request_id);
  }

  token::VerifyResult Verify(const std::string& jwt, const std::string& org,
                             const std::string& stream = "cam1") {
    VerifyRequest r;
    r.jwt = jwt;
    r.playback.organization_id = org;
    r.playback.stream_name = stream;
    absl::StatusOr<token::VerifyResult> v =
        authority_->VerifyToken(verifier_, r);
    EXPECT_OK(v.status());
    return v.ok() ? *v : token::VerifyResult{};
  }

  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1767225600)};  // 2026-01-01
  FakeRandom random_{42};
  TokenAuthorityOptions options_;
  std::unique_ptr<storage::SqliteTokenStore> store_;
  std::unique_ptr<TokenAuthority> authority_;
  Caller admin_, verifier_, auditor_a_, issuer_a_, issuer_b_;
  std::string org_a_, org_b_;
};

// --- Options ---------------------------------------------------------------

TEST_F(TokenAuthorityTest, CreateRejectsBadOptions) {
  TokenAuthorityOptions bad = options_;
  bad.leeway = absl::Seconds(-1);
  EXPECT_THAT(
      TokenAuthority::Create(bad, store_.get(), clock_, random_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leeway")));
  bad = options_;
  bad.limits.default_lifetime = bad.limits.max_lifetime + absl::Seconds(1);
  EXPECT_THAT(TokenAuthority::Create(bad, store_.get(), clock_, random_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("default_lifetime")));
  bad = options_;
  bad.issuer = "";
  EXPECT_THAT(
      TokenAuthority::Create(bad, store_.get(), clock_, random_),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("issuer")));
  bad = options_;
  bad.verify_cache_entries = kMaxVerifyCacheEntries + 1;
  EXPECT_THAT(TokenAuthority::Create(bad, store_.get(), clock_, random_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("verify_cache_entries")));
  EXPECT_THAT(TokenAuthority::Create(options_, nullptr, clock_, random_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- Authentication --------------------------------------------------------

TEST_F(TokenAuthorityTest, AuthenticateAcceptsTheSecretOnce) {
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey k,
      authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kIssuer));
  EXPECT_THAT(k.key.secret_hash, IsEmpty());
  ASSERT_OK_AND_ASSIGN(Caller c, authority_->Authenticate(k.secret, ""));
  EXPECT_EQ(c.api_key_id, k.key.id);
  EXPECT_EQ(c.role, ApiKeyRole::kIssuer);
  EXPECT_EQ(c.organization_id, org_a_);
  // The same organisation named in the header is fine.
  EXPECT_OK(authority_->Authenticate(k.secret, org_a_).status());
}

TEST_F(TokenAuthorityTest, AuthenticateRefusesBadKeys) {
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey k,
      authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kIssuer));
  EXPECT_THAT(authority_->Authenticate("", ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(authority_->Authenticate("garbage", ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  std::string wrong = k.secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_THAT(authority_->Authenticate(wrong, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // Well-formed but unknown id.
  std::string unknown = k.secret;
  unknown[4] = unknown[4] == 'a' ? 'b' : 'a';
  EXPECT_THAT(authority_->Authenticate(unknown, ""),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // Another organisation in the header.
  EXPECT_THAT(authority_->Authenticate(k.secret, org_b_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Revoked: refused at once.
  ASSERT_OK(authority_->RevokeApiKey(admin_, k.key.id).status());
  EXPECT_THAT(
      authority_->Authenticate(k.secret, ""),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("revoked")));
}

TEST_F(TokenAuthorityTest, AdminActsForTheNamedOrganization) {
  ASSERT_OK_AND_ASSIGN(CreatedApiKey k, authority_->CreateApiKey(
                                            admin_, "", ApiKeyRole::kAdmin));
  ASSERT_OK_AND_ASSIGN(Caller c, authority_->Authenticate(k.secret, org_b_));
  EXPECT_EQ(c.role, ApiKeyRole::kAdmin);
  EXPECT_EQ(c.organization_id, org_b_);
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(c));
  EXPECT_EQ(t.record.token.organization_id, org_b_);
  EXPECT_EQ(t.record.token.issued_by, k.key.id);
  // Without the header, organisation-scoped calls need one.
  ASSERT_OK_AND_ASSIGN(Caller bare, authority_->Authenticate(k.secret, ""));
  EXPECT_THAT(Issue(bare), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("x-organization-id")));
  // An unknown organisation.
  ASSERT_OK_AND_ASSIGN(Caller ghost,
                       authority_->Authenticate(k.secret, "nope"));
  EXPECT_THAT(Issue(ghost), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(TokenAuthorityTest, RateLimitPerKeyWithRetryHint) {
  options_.rate_limit_per_second = 2;
  options_.rate_limit_burst = 2;
  Reopen();
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey k,
      authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey other,
      authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kIssuer));
  EXPECT_OK(authority_->Authenticate(k.secret, "").status());
  EXPECT_OK(authority_->Authenticate(k.secret, "").status());
  EXPECT_THAT(
      authority_->Authenticate(k.secret, ""),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("retry after")));
  // Another key is not starved.
  EXPECT_OK(authority_->Authenticate(other.secret, "").status());
  clock_.Advance(absl::Milliseconds(600));
  EXPECT_OK(authority_->Authenticate(k.secret, "").status());
}

// --- IssueToken ------------------------------------------------------------

TEST_F(TokenAuthorityTest, IssueSignsStoresAndAnswersWithSnippets) {
  token::TokenSpec spec = Streams({"cam1", "cam2"});
  spec.lifetime = absl::Hours(2);
  spec.client_ip = "203.0.113.0/24";
  spec.domain = "*.example.com";
  spec.user_id = "u-1";
  spec.tag = "launch";
  ASSERT_OK_AND_ASSIGN(IssuedToken t,
                       authority_->IssueToken(issuer_a_, spec, "r-1"));
  EXPECT_TRUE(t.created);
  const storage::Token& row = t.record.token;
  EXPECT_EQ(row.organization_id, org_a_);
  EXPECT_THAT(row.streams, ElementsAre("cam1", "cam2"));
  EXPECT_EQ(row.issued_at, clock_.Now());
  EXPECT_EQ(row.expires_at, clock_.Now() + absl::Hours(2));
  EXPECT_EQ(row.client_ip, "203.0.113.0/24");
  EXPECT_EQ(row.algorithm, token::Algorithm::kEs256);
  EXPECT_EQ(row.issued_by, issuer_a_.api_key_id);
  EXPECT_EQ(row.request_id, "r-1");
  EXPECT_EQ(t.record.state, storage::TokenState::kActive);
  EXPECT_EQ(t.security_config,
            absl::StrCat("security: { jwtoken: \"", t.jwt, "\" }"));
  EXPECT_EQ(t.entry_security_config,
            absl::StrCat("h5live: { security: { jwtoken: \"", t.jwt, "\" } }"));
  EXPECT_THAT(HeaderOf(t.jwt), HasSubstr(row.key_id));
  EXPECT_THAT(PayloadOf(t.jwt), HasSubstr(absl::StrCat("\"jti\":\"", row.id)));
  // Durable: the store has it.
  ASSERT_OK_AND_ASSIGN(storage::Token stored, store_->GetToken(org_a_, row.id));
  EXPECT_EQ(stored.jwt_sha256.size(), 32u);
  // Bound to the network and the domain.
  EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kIpMismatch);
  VerifyRequest r;
  r.jwt = t.jwt;
  r.playback.organization_id = org_a_;
  r.playback.stream_name = "cam2";
  r.playback.client_ip = "203.0.113.99";
  r.playback.domain = "www.example.com";
  ASSERT_OK_AND_ASSIGN(token::VerifyResult v,
                       authority_->VerifyToken(verifier_, r));
  EXPECT_TRUE(v.allowed) << v.detail;
  EXPECT_EQ(v.token_id, row.id);
  r.playback.domain = "example.com";
  ASSERT_OK_AND_ASSIGN(v, authority_->VerifyToken(verifier_, r));
  EXPECT_EQ(v.reason, token::DenyReason::kDomainMismatch);
}

TEST_F(TokenAuthorityTest, IssueReportsEveryBadFieldAtOnce) {
  token::TokenSpec spec = Streams({"ok", "bad name!"});
  spec.client_ip = "300.1.1.1";
  spec.domain = "evil_example.com";
  spec.tag = std::string(129, 't');
  spec.lifetime = absl::Hours(24 * 400);
  absl::StatusOr<IssuedToken> r =
      authority_->IssueToken(issuer_a_, spec, std::string(200, 'r'));
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(r.status().message());
  for (const char* field : {"stream_names", "client_ip", "domain", "tag",
                            "lifetime", "request_id"}) {
    EXPECT_THAT(msg, HasSubstr(absl::StrCat(field, ":"))) << msg;
  }
  // No target at all, plus a conversion problem from the adapter.
  token::TokenSpec none;
  r = authority_->IssueToken(issuer_a_, none, "",
                             {{"expires_at", "not a valid timestamp"}});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("target:"),
                                HasSubstr("expires_at: not a valid"))));
  // Nothing was stored.
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->CountTokens(org_a_, {}));
  EXPECT_EQ(n, 0);
}

TEST_F(TokenAuthorityTest, IssueNeedsTheSecurePackage) {
  std::string org;
  Caller issuer;
  ASSERT_NO_FATAL_FAILURE(MakeOrg(&org, &issuer, /*secure=*/false));
  EXPECT_THAT(Issue(issuer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("secure playback is not enabled for "
                                    "organisation ",
                                    org, ": upgrade needed")));
  ASSERT_OK(authority_->UpdateOrganization(admin_, org, true, "").status());
  EXPECT_OK(Issue(issuer).status());
}

TEST_F(TokenAuthorityTest, IssueRoles) {
  EXPECT_THAT(Issue(auditor_a_), StatusIs(absl::StatusCode::kPermissionDenied));
  Caller v = verifier_;
  v.organization_id = org_a_;
  EXPECT_THAT(Issue(v), StatusIs(absl::StatusCode::kPermissionDenied));
  Caller admin = admin_;
  admin.organization_id = org_a_;
  EXPECT_OK(Issue(admin).status());
}

TEST_F(TokenAuthorityTest, IssueIsIdempotentByRequestId) {
  ASSERT_OK_AND_ASSIGN(IssuedToken first, Issue(issuer_a_, {"cam1"}, "req-1"));
  clock_.Advance(absl::Seconds(30));
  ASSERT_OK_AND_ASSIGN(IssuedToken again, Issue(issuer_a_, {"cam1"}, "req-1"));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.record.token.id, first.record.token.id);
  EXPECT_EQ(PayloadOf(again.jwt), PayloadOf(first.jwt));  // same claims
  EXPECT_EQ(HeaderOf(again.jwt), HeaderOf(first.jwt));    // same key
  EXPECT_TRUE(Verify(again.jwt, org_a_).allowed);
  // A different spec under the same request_id.
  EXPECT_THAT(Issue(issuer_a_, {"cam2"}, "req-1"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("req-1")));
  // The same request_id in another organisation is another request.
  ASSERT_OK_AND_ASSIGN(IssuedToken other, Issue(issuer_b_, {"cam1"}, "req-1"));
  EXPECT_NE(other.record.token.id, first.record.token.id);
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->CountTokens(org_a_, {}));
  EXPECT_EQ(n, 1);
}

// IssueTokenAsync's result, waited for (std::mutex: this test runs under
// ThreadSanitizer, which does not see Debian's uninstrumented abseil).
struct AsyncIssue {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<IssuedToken>> result;
  std::thread::id thread;
  int calls = 0;
  TokenAuthority::IssueTokenDone Callback() {
    return [this](absl::StatusOr<IssuedToken> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      result = std::move(r);
      thread = std::this_thread::get_id();
      cv.notify_all();
    };
  }
  absl::StatusOr<IssuedToken> Wait() {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock,
                     absl::ToChronoSeconds(
                         token_authority::testing::Scaled(absl::Seconds(30))),
                     [this] { return result.has_value(); })) {
      return absl::DeadlineExceededError("no IssueToken callback within 30 s");
    }
    return *result;
  }
};

TEST_F(TokenAuthorityTest, IssueTokenAsyncAnswersOnceDurableFromTheStore) {
  AsyncIssue a;
  authority_->IssueTokenAsync(issuer_a_, Streams({"cam1"}), "req-async", {},
                              a.Callback());
  ASSERT_OK_AND_ASSIGN(IssuedToken first, a.Wait());
  EXPECT_TRUE(first.created);
  EXPECT_NE(a.thread, std::this_thread::get_id());  // the store's thread
  EXPECT_TRUE(Verify(first.jwt, org_a_).allowed);
  EXPECT_THAT(first.security_config, HasSubstr(first.jwt));
  // Durable and readable by the time of the answer.
  ASSERT_OK_AND_ASSIGN(TokenRecord row,
                       authority_->GetToken(issuer_a_, first.record.token.id));
  EXPECT_EQ(row.token.request_id, "req-async");

  // The same request id again: the earlier token, signed again on the
  // store's completion thread.
  AsyncIssue again;
  authority_->IssueTokenAsync(issuer_a_, Streams({"cam1"}), "req-async", {},
                              again.Callback());
  ASSERT_OK_AND_ASSIGN(IssuedToken second, again.Wait());
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.record.token.id, first.record.token.id);
  EXPECT_EQ(PayloadOf(second.jwt), PayloadOf(first.jwt));
  // ... with another spec: ALREADY_EXISTS.
  AsyncIssue other;
  authority_->IssueTokenAsync(issuer_a_, Streams({"cam2"}), "req-async", {},
                              other.Callback());
  EXPECT_THAT(other.Wait(), StatusIs(absl::StatusCode::kAlreadyExists));

  // A bad spec: INVALID_ARGUMENT at once, on this thread, nothing written.
  AsyncIssue bad;
  authority_->IssueTokenAsync(issuer_a_, Streams({"bad stream!"}), "", {},
                              bad.Callback());
  EXPECT_EQ(bad.thread, std::this_thread::get_id());
  EXPECT_THAT(bad.Wait(), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("stream_names")));
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->CountTokens(org_a_, {}));
  EXPECT_EQ(n, 1);
  for (AsyncIssue* x : {&a, &again, &other, &bad}) EXPECT_EQ(x->calls, 1);
}

TEST_F(TokenAuthorityTest, ConcurrentAsyncIssuesAllLand) {
  constexpr int kCalls = 64;
  std::vector<std::unique_ptr<AsyncIssue>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<AsyncIssue>());
    authority_->IssueTokenAsync(issuer_a_, Streams({"cam1"}),
                                i % 2 == 0 ? "" : "same-request", {},
                                calls.back()->Callback());
  }
  std::set<std::string> ids;
  for (auto& c : calls) {
    ASSERT_OK_AND_ASSIGN(IssuedToken t, c->Wait());
    ids.insert(t.record.token.id);
  }
  // 32 without a request id, and one for the 32 retries of "same-request".
  EXPECT_EQ(ids.size(), kCalls / 2 + 1u);
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->CountTokens(org_a_, {}));
  EXPECT_EQ(n, kCalls / 2 + 1);
}

TEST_F(TokenAuthorityTest, RetryAfterRotationIsSignedByTheOriginalKey) {
  ASSERT_OK_AND_ASSIGN(IssuedToken first, Issue(issuer_a_, {"cam1"}, "req-9"));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEdDsa)
                .status());
  ASSERT_OK_AND_ASSIGN(IssuedToken again, Issue(issuer_a_, {"cam1"}, "req-9"));
  EXPECT_EQ(HeaderOf(again.jwt), HeaderOf(first.jwt));
  EXPECT_TRUE(Verify(again.jwt, org_a_).allowed);
}

// --- Get / List / Decode ---------------------------------------------------

TEST_F(TokenAuthorityTest, GetTokenIsScopedToTheOrganization) {
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  ASSERT_OK_AND_ASSIGN(TokenRecord r,
                       authority_->GetToken(auditor_a_, t.record.token.id));
  EXPECT_EQ(r.token.id, t.record.token.id);
  EXPECT_THAT(authority_->GetToken(issuer_b_, t.record.token.id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->GetToken(verifier_, t.record.token.id),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(authority_->GetToken(issuer_a_, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  clock_.Advance(absl::Hours(24 * 15));
  ASSERT_OK_AND_ASSIGN(r, authority_->GetToken(issuer_a_, t.record.token.id));
  EXPECT_EQ(r.state, storage::TokenState::kExpired);
}

TEST_F(TokenAuthorityTest, ListTokensFiltersAndPages) {
  for (int i = 0; i < 5; ++i) {
    token::TokenSpec spec = Streams({"cam1"});
    spec.tag = i % 2 == 0 ? "even" : "odd";
    ASSERT_OK(authority_->IssueToken(issuer_a_, spec, "").status());
    clock_.Advance(absl::Seconds(1));
  }
  ASSERT_OK(Issue(issuer_b_).status());
  storage::TokenFilter filter;
  filter.tag = "even";
  ASSERT_OK_AND_ASSIGN(auto page,
                       authority_->ListTokens(auditor_a_, filter, {2, ""}));
  ASSERT_THAT(page.items, SizeIs(2));
  EXPECT_FALSE(page.next_page_token.empty());
  EXPECT_GE(page.items[0].token.issued_at, page.items[1].token.issued_at);
  ASSERT_OK_AND_ASSIGN(
      auto rest,
      authority_->ListTokens(auditor_a_, filter, {2, page.next_page_token}));
  EXPECT_THAT(rest.items, SizeIs(1));
  EXPECT_TRUE(rest.next_page_token.empty());
  ASSERT_OK_AND_ASSIGN(auto all, authority_->ListTokens(issuer_a_, {}, {}));
  EXPECT_THAT(all.items, SizeIs(5));
  for (const TokenRecord& r : all.items)
    EXPECT_EQ(r.token.organization_id, org_a_);
  EXPECT_THAT(authority_->ListTokens(verifier_, {}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, DecodeValidRevokedAndForeignTokens) {
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  ASSERT_OK_AND_ASSIGN(DecodeResult d,
                       authority_->DecodeToken(auditor_a_, t.jwt));
  EXPECT_TRUE(d.decoded.signature_valid);
  EXPECT_THAT(d.problems, IsEmpty());
  EXPECT_EQ(d.state, storage::TokenState::kActive);
  ASSERT_TRUE(d.record.has_value());

  // Revoked 250 ms into a second: the sentence says the whole second, as
  // every other time people read.
  clock_.Advance(absl::Milliseconds(250));
  ASSERT_OK(
      authority_->RevokeToken(issuer_a_, t.record.token.id, "leaked").status());
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(issuer_a_, t.jwt));
  EXPECT_EQ(d.state, storage::TokenState::kRevoked);
  EXPECT_THAT(d.problems,
              Contains("The token was revoked at 2026-01-01T00:00:00Z "
                       "(reason: leaked)."));

  // Org B decodes org A's token: no signature match, no record revealed.
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(issuer_b_, t.jwt));
  EXPECT_FALSE(d.decoded.signature_valid);
  EXPECT_FALSE(d.record.has_value());
  EXPECT_THAT(d.problems, Not(IsEmpty()));
  EXPECT_TRUE(d.invalid);
  EXPECT_FALSE(d.state.has_value());
  // Org A's own decode of a token that verifies is not invalid.
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(issuer_a_, t.jwt));
  EXPECT_FALSE(d.invalid);

  // Expired and malformed tokens decode too.
  ASSERT_OK_AND_ASSIGN(IssuedToken t2, Issue(issuer_a_));
  clock_.Advance(absl::Hours(24 * 15));
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(issuer_a_, t2.jwt));
  EXPECT_EQ(d.state, storage::TokenState::kExpired);
  EXPECT_THAT(d.problems, Not(IsEmpty()));
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(issuer_a_, "not.a.jwt"));
  EXPECT_THAT(d.problems, Not(IsEmpty()));
  EXPECT_THAT(authority_->DecodeToken(issuer_a_, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(authority_->DecodeToken(verifier_, t.jwt),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // An admin without x-organization-id decodes with the token's org.
  ASSERT_OK_AND_ASSIGN(d, authority_->DecodeToken(admin_, t2.jwt));
  EXPECT_TRUE(d.decoded.signature_valid);
}

// --- VerifyToken -----------------------------------------------------------

TEST_F(TokenAuthorityTest, VerifyRules) {
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  EXPECT_TRUE(Verify(t.jwt, org_a_).allowed);
  EXPECT_EQ(Verify(t.jwt, org_a_, "cam9").reason,
            token::DenyReason::kTargetMismatch);
  // Org A's token checked for org B: B has no key with that kid.
  EXPECT_EQ(Verify(t.jwt, org_b_).reason, token::DenyReason::kUnknownKey);
  EXPECT_EQ(Verify(t.jwt, "no-such-org").reason,
            token::DenyReason::kOrganizationDisabled);
  EXPECT_EQ(Verify("x.y", org_a_).reason, token::DenyReason::kMalformed);
  EXPECT_EQ(Verify("x.y", "no-such-org").reason, token::DenyReason::kMalformed);
  clock_.Advance(absl::Hours(24 * 14) + kLeeway + absl::Seconds(1));
  EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kExpired);
  // Roles.
  VerifyRequest r;
  r.jwt = t.jwt;
  r.playback.organization_id = org_a_;
  EXPECT_THAT(authority_->VerifyToken(issuer_a_, r),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_OK(authority_->VerifyToken(admin_, r).status());
  // The organisation is required: never taken from the token.
  r.playback.organization_id.clear();
  for (const Caller& caller : {admin_, verifier_}) {
    EXPECT_THAT(authority_->VerifyToken(caller, r),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("organization_id: required")));
  }
}

TEST_F(TokenAuthorityTest, DisabledOrganizationsTokensStopVerifying) {
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, false, "").status());
  token::VerifyResult v = Verify(t.jwt, org_a_);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, token::DenyReason::kOrganizationDisabled);
  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, true, "").status());
  EXPECT_TRUE(Verify(t.jwt, org_a_).allowed);
}

// --- Revocation ------------------------------------------------------------

TEST_F(TokenAuthorityTest, RevokeIsImmediateIdempotentAndScoped) {
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  const std::string id = t.record.token.id;
  EXPECT_THAT(authority_->RevokeToken(issuer_b_, id, "x"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->RevokeToken(auditor_a_, id, "x"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(TokenRecord r,
                       authority_->RevokeToken(issuer_a_, id, "leaked"));
  EXPECT_EQ(r.state, storage::TokenState::kRevoked);
  EXPECT_EQ(r.token.revocation_reason, "leaked");
  EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kRevoked);
  clock_.Advance(absl::Seconds(5));
  ASSERT_OK_AND_ASSIGN(TokenRecord again,
                       authority_->RevokeToken(issuer_a_, id, "other"));
  EXPECT_EQ(again.token.revoked_at, r.token.revoked_at);
  EXPECT_EQ(again.token.revocation_reason, "leaked");
  // The feed published exactly one event.
  ASSERT_OK_AND_ASSIGN(auto events, authority_->revocation_feed().Read(0, 100));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].token_id, id);
  EXPECT_EQ(events[0].organization_id, org_a_);
}

TEST_F(TokenAuthorityTest, RevokeTokensBulkWithDryRun) {
  std::vector<IssuedToken> tagged;
  for (int i = 0; i < 3; ++i) {
    token::TokenSpec spec = Streams({"cam1"});
    spec.tag = "campaign";
    ASSERT_OK_AND_ASSIGN(IssuedToken t,
                         authority_->IssueToken(issuer_a_, spec, ""));
    tagged.push_back(t);
  }
  ASSERT_OK_AND_ASSIGN(IssuedToken untagged, Issue(issuer_a_));
  token::TokenSpec b_spec = Streams({"cam1"});
  b_spec.tag = "campaign";
  ASSERT_OK_AND_ASSIGN(IssuedToken other_org,
                       authority_->IssueToken(issuer_b_, b_spec, ""));

  storage::RevokeFilter filter;
  filter.tag = "campaign";
  ASSERT_OK_AND_ASSIGN(
      int64_t n, authority_->RevokeTokens(issuer_a_, filter, "end", true));
  EXPECT_EQ(n, 3);
  EXPECT_TRUE(Verify(tagged[0].jwt, org_a_).allowed);
  ASSERT_OK_AND_ASSIGN(
      n, authority_->RevokeTokens(issuer_a_, filter, "end", false));
  EXPECT_EQ(n, 3);
  for (const IssuedToken& t : tagged) {
    EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kRevoked);
  }
  EXPECT_TRUE(Verify(untagged.jwt, org_a_).allowed);
  EXPECT_TRUE(Verify(other_org.jwt, org_b_).allowed);
  EXPECT_THAT(authority_->RevokeTokens(issuer_a_, {}, "", false),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // One tokens.revoked event with the count, one token.revoked per token.
  storage::AuditFilter audit;
  audit.action = storage::AuditAction::kTokensRevoked;
  ASSERT_OK_AND_ASSIGN(auto bulk,
                       authority_->ListAuditEvents(auditor_a_, audit, {}));
  ASSERT_THAT(bulk.items, SizeIs(1));
  EXPECT_THAT(bulk.items[0].detail, HasSubstr("3"));
  audit.action = storage::AuditAction::kTokenRevoked;
  ASSERT_OK_AND_ASSIGN(auto each,
                       authority_->ListAuditEvents(auditor_a_, audit, {}));
  EXPECT_THAT(each.items, SizeIs(3));
}

TEST_F(TokenAuthorityTest, WatchAuthorization) {
  EXPECT_OK(authority_->AuthorizeWatchRevocations(verifier_));
  EXPECT_OK(authority_->AuthorizeWatchRevocations(admin_));
  EXPECT_THAT(authority_->AuthorizeWatchRevocations(issuer_a_),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, OrganizationStateWatchAuthorization) {
  using Ids = std::vector<std::string>;
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(
                  verifier_, {org_a_, org_b_, org_a_}),
              IsOkAndHolds(ElementsAre(org_a_, org_b_)));
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(admin_, {org_b_}),
              IsOkAndHolds(ElementsAre(org_b_)));
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(issuer_a_, {}),
              IsOkAndHolds(ElementsAre(org_a_)));
  EXPECT_THAT(
      authority_->AuthorizeWatchOrganizationStates(auditor_a_, Ids{org_a_}),
      IsOkAndHolds(ElementsAre(org_a_)));
  EXPECT_THAT(
      authority_->AuthorizeWatchOrganizationStates(issuer_a_, Ids{org_b_}),
      StatusIs(absl::StatusCode::kPermissionDenied));
  // Checked before existence: an issuer learns nothing about other ids.
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(
                  auditor_a_, Ids{"org_00000000000000ff"}),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(
                  verifier_, Ids{"org_00000000000000ff"}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(verifier_, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("organization_ids:")));
  EXPECT_THAT(
      authority_->AuthorizeWatchOrganizationStates(verifier_, Ids{"a b"}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("organization_ids:")));
  EXPECT_THAT(authority_->AuthorizeWatchOrganizationStates(verifier_,
                                                           Ids(1001, org_a_)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("organization_ids:")));
}

TEST_F(TokenAuthorityTest, OrganizationStatesFollowEveryChange) {
  OrganizationStateFeed& feed = authority_->organization_state_feed();
  auto state = [&] {
    std::optional<OrganizationState> s = feed.Get(org_a_);
    EXPECT_TRUE(s.has_value());
    return s.value_or(OrganizationState());
  };
  auto digest = [&] {
    absl::StatusOr<std::string> jwks = authority_->GetJwks(issuer_a_, "");
    EXPECT_TRUE(jwks.ok());
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(jwks->data()), jwks->size(),
           d);
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(d), sizeof(d)));
  };
  const OrganizationState created = state();
  EXPECT_TRUE(created.secure_enabled);
  EXPECT_EQ(created.jwks_sha256, digest());

  int wakes = 0;
  const uint64_t id = feed.Subscribe([&](bool) { ++wakes; });
  clock_.Advance(absl::Seconds(5));
  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, false, "").status());
  OrganizationState off = state();
  EXPECT_FALSE(off.secure_enabled);
  EXPECT_GT(off.version, created.version);
  EXPECT_EQ(off.changed_at, clock_.Now());
  EXPECT_EQ(wakes, 1);
  // A rename changes nothing a verifier needs: no new version, no wake.
  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, false, "new name")
                .status());
  EXPECT_EQ(state().version, off.version);
  EXPECT_EQ(wakes, 1);

  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, true, "").status());
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  clock_.Advance(absl::Seconds(2));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEs256)
                .status());
  const OrganizationState rotated = state();
  EXPECT_TRUE(rotated.secure_enabled);
  EXPECT_NE(rotated.jwks_sha256, created.jwks_sha256);
  EXPECT_EQ(rotated.jwks_sha256, digest());
  EXPECT_EQ(wakes, 3);
  // Retirement of the old key changes the JWK Set too.
  clock_.Advance(options_.limits.default_lifetime + kLeeway + absl::Hours(1));
  ASSERT_OK(authority_->RunMaintenance());
  EXPECT_NE(state().jwks_sha256, rotated.jwks_sha256);
  EXPECT_EQ(state().jwks_sha256, digest());
  EXPECT_EQ(wakes, 4);
  feed.Unsubscribe(id);

  // After a restart the same state is served again.
  const OrganizationState before = state();
  ASSERT_OK(authority_->UpdateOrganization(admin_, org_a_, false, "").status());
  Reopen();
  OrganizationStateFeed& reopened = authority_->organization_state_feed();
  ASSERT_TRUE(reopened.Get(org_a_).has_value());
  EXPECT_FALSE(reopened.Get(org_a_)->secure_enabled);
  EXPECT_EQ(reopened.Get(org_a_)->jwks_sha256, before.jwks_sha256);
  ASSERT_TRUE(reopened.Get(org_b_).has_value());
  EXPECT_TRUE(reopened.Get(org_b_)->secure_enabled);
}

// --- Keys ------------------------------------------------------------------

TEST_F(TokenAuthorityTest, RotationKeepsOldTokensVerifying) {
  ASSERT_OK_AND_ASSIGN(IssuedToken before, Issue(issuer_a_));
  ASSERT_OK_AND_ASSIGN(auto keys,
                       authority_->ListSigningKeys(issuer_a_, false));
  ASSERT_THAT(keys, SizeIs(1));
  const std::string old_kid = keys[0].kid;
  EXPECT_THAT(keys[0].private_key, IsEmpty());

  ASSERT_OK_AND_ASSIGN(
      storage::SigningKey rotated,
      authority_->RotateSigningKey(issuer_a_, token::Algorithm::kRs256));
  EXPECT_EQ(rotated.algorithm, token::Algorithm::kRs256);
  EXPECT_EQ(rotated.state, token::KeyState::kPrimary);
  EXPECT_THAT(rotated.private_key, IsEmpty());
  ASSERT_OK_AND_ASSIGN(keys, authority_->ListSigningKeys(issuer_a_, false));
  ASSERT_THAT(keys, SizeIs(2));
  EXPECT_EQ(keys[0].kid, rotated.kid);  // newest first
  EXPECT_EQ(keys[1].state, token::KeyState::kActive);

  ASSERT_OK_AND_ASSIGN(IssuedToken after, Issue(issuer_a_));
  EXPECT_EQ(after.record.token.key_id, rotated.kid);
  EXPECT_EQ(after.record.token.algorithm, token::Algorithm::kRs256);
  EXPECT_TRUE(Verify(before.jwt, org_a_).allowed);
  EXPECT_TRUE(Verify(after.jwt, org_a_).allowed);

  ASSERT_OK_AND_ASSIGN(std::string jwks, authority_->GetJwks(issuer_a_, ""));
  EXPECT_THAT(jwks, HasSubstr(old_kid));
  EXPECT_THAT(jwks, HasSubstr(rotated.kid));
  EXPECT_THAT(
      authority_->RotateSigningKey(auditor_a_, token::Algorithm::kEs256),
      StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, Hs256KeysSignButNeverAppearInTheJwks) {
  ASSERT_OK_AND_ASSIGN(
      storage::SigningKey k,
      authority_->RotateSigningKey(issuer_a_, token::Algorithm::kHs256));
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  EXPECT_EQ(t.record.token.algorithm, token::Algorithm::kHs256);
  EXPECT_TRUE(Verify(t.jwt, org_a_).allowed);
  ASSERT_OK_AND_ASSIGN(std::string jwks,
                       authority_->GetJwks(verifier_, org_a_));
  EXPECT_THAT(jwks, Not(HasSubstr(k.kid)));
  EXPECT_THAT(jwks, Not(HasSubstr("\"oct\"")));
}

TEST_F(TokenAuthorityTest, OldKeysRetireWhenTheirTokensHaveExpired) {
  token::TokenSpec spec = Streams({"cam1"});
  spec.lifetime = absl::Hours(1);
  ASSERT_OK_AND_ASSIGN(IssuedToken t,
                       authority_->IssueToken(issuer_a_, spec, ""));
  clock_.Advance(absl::Seconds(2));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEs256)
                .status());
  ASSERT_OK_AND_ASSIGN(auto keys, authority_->ListSigningKeys(issuer_a_, true));
  ASSERT_THAT(keys, SizeIs(2));
  const std::string old_kid = keys[1].kid;

  // Still needed: the token is valid.
  ASSERT_OK(authority_->RunMaintenance());
  ASSERT_OK_AND_ASSIGN(keys, authority_->ListSigningKeys(issuer_a_, false));
  EXPECT_THAT(keys, SizeIs(2));
  // Expired, but within the leeway: still needed.
  clock_.Advance(absl::Hours(1) + absl::Seconds(30));
  ASSERT_OK(authority_->RunMaintenance());
  ASSERT_OK_AND_ASSIGN(keys, authority_->ListSigningKeys(issuer_a_, false));
  EXPECT_THAT(keys, SizeIs(2));
  // Beyond the leeway: retired.
  clock_.Advance(kLeeway);
  ASSERT_OK(authority_->RunMaintenance());
  ASSERT_OK_AND_ASSIGN(keys, authority_->ListSigningKeys(issuer_a_, false));
  ASSERT_THAT(keys, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(keys, authority_->ListSigningKeys(issuer_a_, true));
  ASSERT_THAT(keys, SizeIs(2));
  EXPECT_EQ(keys[1].kid, old_kid);
  EXPECT_EQ(keys[1].state, token::KeyState::kRetired);
  ASSERT_OK_AND_ASSIGN(std::string jwks, authority_->GetJwks(issuer_a_, ""));
  EXPECT_THAT(jwks, Not(HasSubstr(old_kid)));
  EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kUnknownKey);
  // The primary is never retired.
  clock_.Advance(absl::Hours(24 * 400));
  ASSERT_OK(authority_->RunMaintenance());
  EXPECT_OK(Issue(issuer_a_).status());
}

TEST_F(TokenAuthorityTest, KeyOfATokenIssuedInTheRotationInstantStays) {
  // The fake clock does not move: the token's issued_at equals the new key's
  // creation time.
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEs256)
                .status());
  ASSERT_OK(authority_->RunMaintenance());
  ASSERT_OK_AND_ASSIGN(auto keys,
                       authority_->ListSigningKeys(issuer_a_, false));
  EXPECT_THAT(keys, SizeIs(2));
  EXPECT_TRUE(Verify(t.jwt, org_a_).allowed);
}

TEST_F(TokenAuthorityTest,
       OlderKeysRetireEvenIfANewerKeySignedInTheSameSecond) {
  // Three rotations in the same instant, then a token of the third key: the
  // first two keys signed nothing live and retire; the third stays.
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEdDsa)
                .status());
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kHs256)
                .status());
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(issuer_a_));
  clock_.Advance(absl::Seconds(1));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEs256)
                .status());
  ASSERT_OK(authority_->RunMaintenance());
  ASSERT_OK_AND_ASSIGN(auto keys,
                       authority_->ListSigningKeys(issuer_a_, false));
  ASSERT_THAT(keys, SizeIs(2));
  EXPECT_EQ(keys[1].kid, t.record.token.key_id);
  EXPECT_TRUE(Verify(t.jwt, org_a_).allowed);
}

TEST_F(TokenAuthorityTest, GetJwksRules) {
  EXPECT_OK(authority_->GetJwks(issuer_a_, org_a_).status());
  EXPECT_THAT(authority_->GetJwks(issuer_a_, org_b_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_OK(authority_->GetJwks(verifier_, org_b_).status());
  EXPECT_THAT(authority_->GetJwks(verifier_, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(authority_->GetJwks(verifier_, "ghost"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->GetJwks(auditor_a_, ""),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// --- Audit -----------------------------------------------------------------

TEST_F(TokenAuthorityTest, AuditIsScoped) {
  ASSERT_OK(Issue(issuer_a_, {"cam1"}, "req-a").status());
  ASSERT_OK(Issue(issuer_b_).status());
  storage::AuditFilter filter;
  filter.action = storage::AuditAction::kTokenIssued;
  ASSERT_OK_AND_ASSIGN(auto page,
                       authority_->ListAuditEvents(auditor_a_, filter, {}));
  ASSERT_THAT(page.items, SizeIs(1));
  EXPECT_EQ(page.items[0].organization_id, org_a_);
  EXPECT_EQ(page.items[0].actor, issuer_a_.api_key_id);
  EXPECT_EQ(page.items[0].request_id, "req-a");
  // The admin without an organisation sees the service-wide events.
  ASSERT_OK_AND_ASSIGN(auto service,
                       authority_->ListAuditEvents(admin_, {}, {}));
  for (const auto& e : service.items) EXPECT_EQ(e.organization_id, "");
  EXPECT_THAT(service.items, Not(IsEmpty()));
  EXPECT_THAT(authority_->ListAuditEvents(verifier_, {}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// --- Admin -----------------------------------------------------------------

TEST_F(TokenAuthorityTest, CreateOrganizationMakesAnEs256PrimaryKey) {
  ASSERT_OK_AND_ASSIGN(storage::Organization o,
                       authority_->CreateOrganization(admin_, "Acme", true));
  EXPECT_EQ(o.name, "Acme");
  EXPECT_TRUE(o.secure_enabled);
  Caller admin = admin_;
  admin.organization_id = o.id;
  ASSERT_OK_AND_ASSIGN(auto keys, authority_->ListSigningKeys(admin, false));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].algorithm, token::Algorithm::kEs256);
  EXPECT_EQ(keys[0].state, token::KeyState::kPrimary);
  EXPECT_THAT(authority_->CreateOrganization(admin_, "", true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(
      authority_->CreateOrganization(admin_, std::string(129, 'n'), true),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(authority_->CreateOrganization(issuer_a_, "x", true),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, UpdateAndListOrganizations) {
  ASSERT_OK_AND_ASSIGN(
      storage::Organization o,
      authority_->UpdateOrganization(admin_, org_a_, true, "Renamed"));
  EXPECT_EQ(o.name, "Renamed");
  EXPECT_THAT(authority_->UpdateOrganization(admin_, "ghost", true, ""),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->UpdateOrganization(issuer_a_, org_a_, true, ""),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(auto page, authority_->ListOrganizations(admin_, {}));
  EXPECT_THAT(page.items, SizeIs(2));
  EXPECT_THAT(authority_->ListOrganizations(verifier_, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, ApiKeyRules) {
  EXPECT_THAT(authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kAdmin),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(authority_->CreateApiKey(admin_, "", ApiKeyRole::kIssuer),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(authority_->CreateApiKey(admin_, "", ApiKeyRole::kAuditor),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(authority_->CreateApiKey(admin_, "ghost", ApiKeyRole::kIssuer),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->CreateApiKey(issuer_a_, org_a_, ApiKeyRole::kIssuer),
              StatusIs(absl::StatusCode::kPermissionDenied));
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey v,
      authority_->CreateApiKey(admin_, org_b_, ApiKeyRole::kVerifier));
  EXPECT_THAT(v.secret, HasSubstr(v.key.id));

  ASSERT_OK_AND_ASSIGN(auto all, authority_->ListApiKeys(admin_, "", false));
  // bootstrap admin, verifier, 2 issuers, auditor, the new verifier.
  EXPECT_THAT(all, SizeIs(6));
  for (const auto& k : all) EXPECT_THAT(k.secret_hash, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto b, authority_->ListApiKeys(admin_, org_b_, false));
  EXPECT_THAT(b, SizeIs(2));
  ASSERT_OK(authority_->RevokeApiKey(admin_, v.key.id).status());
  ASSERT_OK_AND_ASSIGN(b, authority_->ListApiKeys(admin_, org_b_, false));
  EXPECT_THAT(b, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(b, authority_->ListApiKeys(admin_, org_b_, true));
  EXPECT_THAT(b, SizeIs(2));
  // Idempotent.
  EXPECT_OK(authority_->RevokeApiKey(admin_, v.key.id).status());
  EXPECT_THAT(authority_->RevokeApiKey(admin_, "kffffffffffffffff"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(authority_->ListApiKeys(issuer_a_, "", false),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(TokenAuthorityTest, HasActiveAdminKey) {
  EXPECT_TRUE(authority_->HasActiveAdminKey());
  // The last one cannot be revoked (admin_key_reset_test.cc tests it in
  // full); with a second one it can.
  EXPECT_THAT(authority_->RevokeApiKey(admin_, admin_.api_key_id),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(authority_->HasActiveAdminKey());
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey second,
      authority_->CreateApiKey(admin_, "", ApiKeyRole::kAdmin));
  ASSERT_OK(authority_->RevokeApiKey(admin_, admin_.api_key_id).status());
  EXPECT_TRUE(authority_->HasActiveAdminKey());
}

// --- Restart ---------------------------------------------------------------

TEST_F(TokenAuthorityTest, ReopenKeepsEverything) {
  ASSERT_OK_AND_ASSIGN(
      CreatedApiKey k,
      authority_->CreateApiKey(admin_, org_a_, ApiKeyRole::kIssuer));
  ASSERT_OK_AND_ASSIGN(IssuedToken before_rotation, Issue(issuer_a_));
  ASSERT_OK(authority_->RotateSigningKey(issuer_a_, token::Algorithm::kEdDsa)
                .status());
  ASSERT_OK_AND_ASSIGN(IssuedToken after_rotation, Issue(issuer_a_));
  ASSERT_OK_AND_ASSIGN(IssuedToken revoked, Issue(issuer_a_));
  ASSERT_OK(authority_->RevokeToken(issuer_a_, revoked.record.token.id, "r")
                .status());
  ASSERT_OK_AND_ASSIGN(auto jwks_before, authority_->GetJwks(issuer_a_, ""));

  Reopen();
  EXPECT_TRUE(Verify(before_rotation.jwt, org_a_).allowed);
  EXPECT_TRUE(Verify(after_rotation.jwt, org_a_).allowed);
  EXPECT_EQ(Verify(revoked.jwt, org_a_).reason, token::DenyReason::kRevoked);
  ASSERT_OK_AND_ASSIGN(Caller c, authority_->Authenticate(k.secret, ""));
  EXPECT_EQ(c.organization_id, org_a_);
  ASSERT_OK_AND_ASSIGN(auto jwks_after, authority_->GetJwks(issuer_a_, ""));
  EXPECT_EQ(jwks_after, jwks_before);
  ASSERT_OK_AND_ASSIGN(IssuedToken next, Issue(issuer_a_));
  EXPECT_EQ(next.record.token.algorithm, token::Algorithm::kEdDsa);
  // The feed resumes after the last sequence.
  EXPECT_EQ(authority_->revocation_feed().last_sequence(), 1);
  ASSERT_OK_AND_ASSIGN(auto events, authority_->revocation_feed().Read(0, 10));
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].token_id, revoked.record.token.id);
}

TEST_F(TokenAuthorityTest, LoadRepairsAnOrganizationWithoutPrimaryKey) {
  storage::Organization o;
  o.id = "half-made";
  o.name = "crashed during creation";
  o.secure_enabled = true;
  ASSERT_OK(store_->CreateOrganization(o, {}).status());
  Reopen();
  Caller admin = admin_;
  admin.organization_id = "half-made";
  ASSERT_OK_AND_ASSIGN(auto keys, authority_->ListSigningKeys(admin, false));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].state, token::KeyState::kPrimary);
  ASSERT_OK_AND_ASSIGN(IssuedToken t, Issue(admin));
  EXPECT_TRUE(Verify(t.jwt, "half-made").allowed);
}

TEST_F(TokenAuthorityTest, ExpiredRevocationsAreForgotten) {
  token::TokenSpec spec = Streams({"cam1"});
  spec.lifetime = absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(IssuedToken t,
                       authority_->IssueToken(issuer_a_, spec, ""));
  ASSERT_OK(authority_->RevokeToken(issuer_a_, t.record.token.id, "").status());
  clock_.Advance(absl::Minutes(5) + kLeeway + absl::Seconds(2));
  ASSERT_OK(authority_->RunMaintenance());
  // Refused as expired (revocation no longer needed).
  EXPECT_EQ(Verify(t.jwt, org_a_).reason, token::DenyReason::kExpired);
}

}  // namespace
}  // namespace token_authority::server

#include "client/local_verifier.h"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/verdict.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/key_set.h"
#include "token/signing_key.h"
#include "token/verifier.h"
#include "tokenauthority/v1/key_service_mock.grpc.pb.h"
#include "tokenauthority/v1/token_service_mock.grpc.pb.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;
using R = ::token_authority::token::DenyReason;

const absl::Time kNow = absl::FromUnixSeconds(1740830400);

// Polls `done` every few milliseconds until it holds or `timeout` passes.
template <typename F>
bool Eventually(F done, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = Clock::Real().Now() + timeout;
  while (Clock::Real().Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

// An organisation with keys, able to mint tokens.
struct Org {
  std::string id;
  std::shared_ptr<const token::SigningKey> key;
  std::unique_ptr<token::KeySet> keys;

  static Org Make(const std::string& id, token::Algorithm alg,
                  RandomSource& random) {
    Org org;
    org.id = id;
    auto key = token::SigningKey::Generate(alg, kNow, random);
    EXPECT_THAT(key, IsOk());
    org.key = std::shared_ptr<const token::SigningKey>(std::move(*key));
    auto set =
        token::KeySet::Create(id, {{org.key, token::KeyState::kPrimary}});
    EXPECT_THAT(set, IsOk());
    org.keys = std::make_unique<token::KeySet>(*std::move(set));
    return org;
  }

  std::string Jwks() const { return keys->ToJwksJson(); }

  // A token for stream group "grp" valid from kNow for `life`.
  std::string Mint(const std::string& jti, absl::Duration life = absl::Hours(1),
                   const std::string& group = "grp") const {
    token::ClaimsBuilder b;
    b.SetIssuer("token-authority")
        .SetTokenId(jti)
        .SetIssuedAt(kNow)
        .SetExpiresAt(kNow + life)
        .SetOrganizationId(id)
        .SetTarget(token::Target::StreamGroup(group));
    auto claims = b.Build();
    EXPECT_THAT(claims, IsOk());
    auto signed_token = keys->Sign(*claims);
    EXPECT_THAT(signed_token, IsOk());
    return signed_token->jwt;
  }
};

// 22 base64url characters, as token ids are.
std::string Jti(char c) { return std::string(21, c) + "A"; }

token::PlaybackRequest Play(const std::string& org,
                            const std::string& group = "grp") {
  token::PlaybackRequest r;
  r.organization_id = org;
  r.stream_group_id = group;
  return r;
}

v1::RevocationEvent Revocation(int64_t seq, const std::string& org,
                               const std::string& jti, absl::Time expires) {
  v1::RevocationEvent e;
  e.set_sequence(seq);
  e.set_organization_id(org);
  e.set_token_id(jti);
  *e.mutable_revoked_at() = convert::ToProtoTimestamp(kNow);
  *e.mutable_expires_at() = convert::ToProtoTimestamp(expires);
  return e;
}

class OfflineVerifierTest : public ::testing::Test {
 protected:
  OfflineVerifierTest()
      : clock_(kNow + absl::Minutes(1)),
        org_a_(Org::Make("org-a", token::Algorithm::kEs256, random_)),
        org_b_(Org::Make("org-b", token::Algorithm::kEdDsa, random_)) {}

  std::unique_ptr<LocalVerifier> Make() {
    LocalVerifierOptions options;
    options.clock = &clock_;
    auto v = LocalVerifier::FromJwks(
        {{org_a_.id, org_a_.Jwks()}, {org_b_.id, org_b_.Jwks()}}, options);
    EXPECT_THAT(v, IsOk());
    return std::move(v).value();
  }

  FakeRandom random_;
  FakeClock clock_;
  Org org_a_, org_b_;
};

TEST_F(OfflineVerifierTest, AllowsAndRefusesWithTheServersReasons) {
  auto v = Make();
  const std::string jwt = org_a_.Mint(Jti('a'));
  token::VerifyResult ok = Verdict(*v, jwt, Play("org-a"));
  EXPECT_TRUE(ok.allowed) << ok.detail;
  EXPECT_EQ(ok.token_id, Jti('a'));
  EXPECT_EQ(Verdict(*v, org_b_.Mint(Jti('b')), Play("org-b")).allowed, true);

  EXPECT_EQ(Verdict(*v, jwt, Play("org-a", "other")).reason,
            R::kTargetMismatch);
  // Checked for another organisation: its keys do not know the kid.
  EXPECT_EQ(Verdict(*v, jwt, Play("org-b")).reason, R::kUnknownKey);
  EXPECT_EQ(Verdict(*v, "not-a-jwt", Play("org-a")).reason, R::kMalformed);
  std::string tampered = jwt;
  tampered[tampered.size() - 3] =
      tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Verdict(*v, tampered, Play("org-a")).reason, R::kBadSignature);

  clock_.Advance(absl::Hours(2));
  token::VerifyResult expired = Verdict(*v, jwt, Play("org-a"));
  EXPECT_EQ(expired.reason, R::kExpired);
  EXPECT_THAT(expired.detail, HasSubstr("expired"));
}

// The organisation is never taken from the token: a request without one is
// INVALID_ARGUMENT, as the server answers, whatever the token says.
TEST_F(OfflineVerifierTest, OrganisationIsRequired) {
  auto v = Make();
  for (const std::string& jwt : {org_b_.Mint(Jti('b')), std::string("a.b")}) {
    EXPECT_THAT(v->Verify(jwt, Play("")),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("organization_id: required")));
  }
  v1::VerifyTokenRequest req;
  req.set_jwt(org_b_.Mint(Jti('b')));
  EXPECT_THAT(v->Verify(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("organization_id: required")));
  // Named, B's token plays B's streams only.
  EXPECT_TRUE(Verdict(*v, org_b_.Mint(Jti('b')), Play("org-b")).allowed);
  EXPECT_FALSE(Verdict(*v, org_b_.Mint(Jti('b')), Play("org-a")).allowed);
}

TEST_F(OfflineVerifierTest, UnknownOrganisationAsTheServerSaysIt) {
  auto v = Make();
  RandomSource& r = random_;
  Org stranger = Org::Make("org-z", token::Algorithm::kEs256, r);
  const token::VerifyResult res =
      Verdict(*v, stranger.Mint(Jti('z')), Play("org-z"));
  EXPECT_EQ(res.reason, R::kOrganizationDisabled);
  EXPECT_THAT(res.detail, HasSubstr("does not know organisation \"org-z\""));
  EXPECT_EQ(Verdict(*v, stranger.Mint(Jti('z')), Play("org-q")).reason,
            R::kOrganizationDisabled);
  // A broken token is refused for what it is first.
  EXPECT_EQ(Verdict(*v, "a.b", Play("org-z")).reason, R::kMalformed);
}

TEST_F(OfflineVerifierTest, RevocationRefusesUntilPrunedAfterExpiry) {
  auto v = Make();
  const std::string jwt = org_a_.Mint(Jti('r'), absl::Hours(1));
  const std::string other = org_a_.Mint(Jti('s'), absl::Hours(1));
  v->ApplyRevocation(Revocation(7, "org-a", Jti('r'), kNow + absl::Hours(1)));
  const token::VerifyResult res = Verdict(*v, jwt, Play("org-a"));
  EXPECT_EQ(res.reason, R::kRevoked);
  EXPECT_EQ(res.token_id, Jti('r'));
  EXPECT_TRUE(Verdict(*v, other, Play("org-a")).allowed);
  // The same jti in another organisation is another token.
  EXPECT_EQ(v->stats().revocations, 1u);
  EXPECT_EQ(v->stats().last_sequence, 7);

  // Not pruned before expiry + leeway.
  clock_.Set(kNow + absl::Hours(1) + absl::Seconds(59));
  EXPECT_EQ(v->PruneRevocations(), 0u);
  EXPECT_EQ(Verdict(*v, jwt, Play("org-a")).reason, R::kRevoked);
  clock_.Set(kNow + absl::Hours(1) + absl::Seconds(60));
  EXPECT_EQ(v->PruneRevocations(), 1u);
  EXPECT_EQ(v->stats().revocations, 0u);
  EXPECT_EQ(Verdict(*v, jwt, Play("org-a")).reason, R::kExpired);

  // An event for an already expired token is not kept, but its sequence is.
  v->ApplyRevocation(Revocation(9, "org-a", Jti('s'), kNow));
  EXPECT_EQ(v->stats().revocations, 0u);
  EXPECT_EQ(v->stats().last_sequence, 9);
  // A replayed older event does not move the cursor back.
  v->ApplyRevocation(Revocation(3, "org-a", Jti('t'), kNow + absl::Hours(5)));
  EXPECT_EQ(v->stats().last_sequence, 9);
}

TEST_F(OfflineVerifierTest, SameVerdictsAsTheCoreVerifier) {
  auto v = Make();
  token::TokenVerifier core;
  const std::string good = org_a_.Mint(Jti('g'));
  const std::vector<std::pair<std::string, token::PlaybackRequest>> cases = {
      {good, Play("org-a")},
      {good, Play("org-a", "x")},
      {good, Play("org-a", "")},
      {org_a_.Mint(Jti('h'), absl::Seconds(10)), Play("org-a")},
      {"a.b.c", Play("org-a")},
      {good.substr(0, good.size() - 2), Play("org-a")},
  };
  for (const auto& [jwt, req] : cases) {
    const token::VerifyResult mine = Verdict(*v, jwt, req);
    const token::VerifyResult theirs =
        core.Verify(jwt, req, *org_a_.keys, clock_.Now());
    EXPECT_EQ(mine.allowed, theirs.allowed);
    EXPECT_EQ(mine.reason, theirs.reason) << theirs.detail;
    EXPECT_EQ(mine.detail, theirs.detail);
  }
}

TEST_F(OfflineVerifierTest, ProtoShape) {
  auto v = Make();
  v1::VerifyTokenRequest req;
  req.set_jwt(org_a_.Mint(Jti('p')));
  req.set_organization_id("org-a");
  req.set_stream_group_id("nope");
  const v1::VerifyTokenResponse res = Verdict(*v, req);
  EXPECT_FALSE(res.allowed());
  EXPECT_EQ(res.reason(), v1::DENY_REASON_TARGET_MISMATCH);
  EXPECT_EQ(res.token_id(), Jti('p'));
  EXPECT_THAT(res.detail(), HasSubstr("not stream group \"nope\""));
}

TEST_F(OfflineVerifierTest, RejectsBadInput) {
  EXPECT_THAT(LocalVerifier::FromJwks({}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LocalVerifier::FromJwks({{"org a", org_a_.Jwks()}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("organization_ids")));
  EXPECT_THAT(LocalVerifier::FromJwks({{"org-a", "{\"keys\":5}"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jwks of organisation org-a")));
  LocalVerifierOptions bad;
  bad.leeway = absl::Seconds(-1);
  EXPECT_THAT(LocalVerifier::FromJwks({{"org-a", org_a_.Jwks()}}, bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto v = Make();
  EXPECT_THAT(v->RefreshKeys("org-a"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// With a (mock) server ------------------------------------------------------

// A revocation stream the test feeds: Read blocks until an event is pushed
// or the stream is ended.
struct StreamState {
  absl::Mutex mu;
  std::deque<v1::RevocationEvent> events;
  bool ended = false;
  grpc::Status status;
  int64_t since = -1;

  void Push(const v1::RevocationEvent& e) {
    absl::MutexLock l(&mu);
    events.push_back(e);
  }
  void End(grpc::Status s) {
    absl::MutexLock l(&mu);
    ended = true;
    status = std::move(s);
  }
};

class FakeReader : public grpc::ClientReaderInterface<v1::RevocationEvent> {
 public:
  explicit FakeReader(std::shared_ptr<StreamState> s) : s_(std::move(s)) {}
  bool Read(v1::RevocationEvent* e) override {
    absl::MutexLock l(&s_->mu);
    s_->mu.Await(absl::Condition(
        +[](StreamState* s) { return s->ended || !s->events.empty(); },
        s_.get()));
    if (s_->events.empty()) return false;
    *e = s_->events.front();
    s_->events.pop_front();
    return true;
  }
  grpc::Status Finish() override {
    absl::MutexLock l(&s_->mu);
    s_->mu.Await(absl::Condition(&s_->ended));
    return s_->status;
  }
  bool NextMessageSize(uint32_t* sz) override {
    *sz = 1 << 20;
    return true;
  }
  void WaitForInitialMetadata() override {}

 private:
  std::shared_ptr<StreamState> s_;
};

class ConnectedVerifierTest : public ::testing::Test {
 protected:
  ConnectedVerifierTest()
      : clock_(kNow + absl::Minutes(1)),
        org_(Org::Make("org-a", token::Algorithm::kEs256, random_)) {
    auto tokens = std::make_unique<v1::MockTokenServiceStub>();
    auto keys = std::make_unique<v1::MockKeyServiceStub>();
    tokens_ = tokens.get();
    keys_ = keys.get();
    TokenAuthorityClient::Stubs stubs;
    stubs.tokens = std::move(tokens);
    stubs.keys = std::move(keys);
    ClientOptions options;
    options.api_key = "verifier-key";
    options.retry.max_attempts = 1;
    client_ = *TokenAuthorityClient::CreateWithStubs(std::move(stubs), options);
    EXPECT_CALL(*tokens_, WatchRevocationsRaw(_, _))
        .WillRepeatedly(Invoke(
            [this](grpc::ClientContext*, const v1::WatchRevocationsRequest& r)
                -> grpc::ClientReaderInterface<v1::RevocationEvent>* {
              auto s = std::make_shared<StreamState>();
              s->since = r.since_sequence();
              absl::MutexLock l(&mu_);
              if (closing_) s->End(grpc::Status::CANCELLED);
              streams_.push_back(s);
              return new FakeReader(s);
            }));
  }

  // The fake streams do not see TryCancel: end them (and every later one),
  // then stop the verifier.
  void Shutdown(LocalVerifier* v) {
    {
      absl::MutexLock l(&mu_);
      closing_ = true;
      for (auto& s : streams_) s->End(grpc::Status::CANCELLED);
    }
    v->Stop();
  }

  LocalVerifierOptions Options() {
    LocalVerifierOptions o;
    o.clock = &clock_;
    o.reconnect_initial_backoff = absl::Milliseconds(1);
    o.reconnect_max_backoff = absl::Milliseconds(20);
    o.unknown_key_refresh_interval = absl::ZeroDuration();
    return o;
  }

  void ServeJwks(const std::string& jwks) {
    EXPECT_CALL(*keys_, GetJwks(_, _, _))
        .WillRepeatedly(
            Invoke([jwks](grpc::ClientContext*, const v1::GetJwksRequest& r,
                          v1::GetJwksResponse* out) {
              EXPECT_EQ(r.organization_id(), "org-a");
              out->set_jwks_json(jwks);
              return grpc::Status::OK;
            }));
  }

  std::shared_ptr<StreamState> StreamAt(size_t i) {
    std::shared_ptr<StreamState> s;
    Eventually([&] {
      absl::MutexLock l(&mu_);
      if (streams_.size() > i) s = streams_[i];
      return s != nullptr;
    });
    return s;
  }

  FakeRandom random_;
  FakeClock clock_;
  Org org_;
  v1::MockTokenServiceStub* tokens_;
  v1::MockKeyServiceStub* keys_;
  std::unique_ptr<TokenAuthorityClient> client_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<StreamState>> streams_;
  bool closing_ = false;
};

TEST_F(ConnectedVerifierTest, FollowsRevocationsAndResumesAfterABreak) {
  ServeJwks(org_.Jwks());
  ASSERT_OK_AND_ASSIGN(
      auto v, LocalVerifier::Connect(client_.get(), {"org-a"}, Options()));
  const std::string first = org_.Mint(Jti('1'));
  const std::string second = org_.Mint(Jti('2'));
  EXPECT_TRUE(Verdict(*v, first, Play("org-a")).allowed);

  std::shared_ptr<StreamState> s0 = StreamAt(0);
  ASSERT_NE(s0, nullptr);
  EXPECT_EQ(s0->since, 0);
  s0->Push(Revocation(41, "org-a", Jti('1'), kNow + absl::Hours(1)));
  EXPECT_TRUE(Eventually(
      [&] { return Verdict(*v, first, Play("org-a")).reason == R::kRevoked; }));
  EXPECT_TRUE(Verdict(*v, second, Play("org-a")).allowed);

  // The stream breaks; the verifier reconnects after the last sequence.
  s0->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server went away"));
  std::shared_ptr<StreamState> s1 = StreamAt(1);
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->since, 41);
  s1->Push(Revocation(42, "org-a", Jti('2'), kNow + absl::Hours(1)));
  EXPECT_TRUE(Eventually([&] {
    return Verdict(*v, second, Play("org-a")).reason == R::kRevoked;
  }));
  const LocalVerifierStats stats = v->stats();
  EXPECT_EQ(stats.last_sequence, 42);
  EXPECT_EQ(stats.revocations, 2u);
  EXPECT_GE(stats.stream_connects, 2);
  EXPECT_THAT(stats.last_stream_error, HasSubstr("server went away"));
  EXPECT_EQ(stats.jwks_refreshes, 1);

  Shutdown(v.get());
  v->Stop();  // idempotent
  EXPECT_FALSE(v->stats().stream_open);
  // Verification keeps working with what it has.
  EXPECT_EQ(Verdict(*v, second, Play("org-a")).reason, R::kRevoked);
}

TEST_F(ConnectedVerifierTest, UnknownKeyTriggersARefresh) {
  // The server rotates: the verifier starts with the old key only.
  Org rotated = Org::Make("org-a", token::Algorithm::kEs256, random_);
  std::string old_jwks = org_.Jwks();
  std::string new_jwks = rotated.Jwks();
  int calls = 0;
  EXPECT_CALL(*keys_, GetJwks(_, _, _))
      .WillRepeatedly(Invoke(
          [&](grpc::ClientContext*, const auto&, v1::GetJwksResponse* out) {
            out->set_jwks_json(++calls == 1 ? old_jwks : new_jwks);
            return grpc::Status::OK;
          }));
  ASSERT_OK_AND_ASSIGN(
      auto v, LocalVerifier::Connect(client_.get(), {"org-a"}, Options()));
  const std::string jwt = rotated.Mint(Jti('n'));
  EXPECT_EQ(Verdict(*v, jwt, Play("org-a")).reason, R::kUnknownKey);
  EXPECT_TRUE(
      Eventually([&] { return Verdict(*v, jwt, Play("org-a")).allowed; }));
  EXPECT_GE(v->stats().jwks_refreshes, 2);
  Shutdown(v.get());
}

TEST_F(ConnectedVerifierTest, AnUnchangedJwksRefreshKeepsCachedTokens) {
  ServeJwks(org_.Jwks());
  LocalVerifierOptions options = Options();
  options.jwks_refresh_interval = absl::Milliseconds(5);
  ASSERT_OK_AND_ASSIGN(
      auto v, LocalVerifier::Connect(client_.get(), {"org-a"}, options));
  const std::string jwt = org_.Mint(Jti('c'));
  EXPECT_TRUE(Verdict(*v, jwt, Play("org-a")).allowed);
  EXPECT_EQ(v->stats().verify_cache_misses, 1);
  const int64_t refreshes = v->stats().jwks_refreshes;
  EXPECT_TRUE(
      Eventually([&] { return v->stats().jwks_refreshes >= refreshes + 3; }));
  // The same JWK Set was fetched again: the token is still a cache hit.
  EXPECT_TRUE(Verdict(*v, jwt, Play("org-a")).allowed);
  const LocalVerifierStats stats = v->stats();
  EXPECT_EQ(stats.verify_cache_hits, 1);
  EXPECT_EQ(stats.verify_cache_misses, 1);
  Shutdown(v.get());
}

TEST_F(ConnectedVerifierTest, DisabledOrganisation) {
  EXPECT_CALL(*keys_, GetJwks(_, _, _))
      .WillRepeatedly(Invoke([](grpc::ClientContext*, const auto&, auto*) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "secure playback is not enabled for organisation "
                            "org-a: upgrade needed");
      }));
  ASSERT_OK_AND_ASSIGN(
      auto v, LocalVerifier::Connect(client_.get(), {"org-a"}, Options()));
  const token::VerifyResult r = Verdict(*v, org_.Mint(Jti('d')), Play("org-a"));
  EXPECT_EQ(r.reason, R::kOrganizationDisabled);
  EXPECT_THAT(r.detail, HasSubstr("not enabled for organisation org-a"));
  Shutdown(v.get());
}

TEST_F(ConnectedVerifierTest, ConnectFailsWhenTheServerCannotBeAsked) {
  EXPECT_CALL(*keys_, GetJwks(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const auto&, auto*) {
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            "role issuer may not");
      }));
  EXPECT_THAT(LocalVerifier::Connect(client_.get(), {"org-a"}, Options()),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(LocalVerifier::Connect(client_.get(), {}, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LocalVerifier::Connect(nullptr, {"org-a"}, Options()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace token_authority::client

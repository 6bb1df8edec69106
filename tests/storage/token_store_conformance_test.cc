// The TokenStore conformance suite: every test runs against SqliteTokenStore
// and PostgresTokenStore (tests/storage/token_store_conformance.h). What only
// the SQLite store has (its file, WAL, page cache, size cap) is tested in
// sqlite_token_store_test.cc.
#include "tests/storage/token_store_conformance.h"

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/record_validation.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/file_access.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeApiKey;
using testing::MakeKey;
using testing::MakeOrg;
using testing::MakeToken;
using testing::Sha;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testing::StartTime;
using testing::TokenStoreConformanceTest;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TYPED_TEST_SUITE(TokenStoreConformanceTest, testing::Backends,
                 testing::BackendNames);

// --- Open ---

TYPED_TEST(TokenStoreConformanceTest, OpenRefusesNewerSchema) {
  this->store_.reset();
  this->RawExec(TypeParam::kNewerSchemaSql);
  EXPECT_THAT(this->TryOpen(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("newer than this build supports")));
}

// --- Key-encryption key ---

TYPED_TEST(TokenStoreConformanceTest,
           SigningKeysAreEncryptedAtRestAndRoundTrip) {
  this->SetUpOrg("acme");
  const std::string sealed =
      this->RawText("SELECT sealed_key FROM signing_keys");
  EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
  this->Reopen();
  ASSERT_OK_AND_ASSIGN(auto keys, this->store_->ListSigningKeys("acme"));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].private_key, MakeKey("acme", "acme-k1").private_key);
}

TYPED_TEST(TokenStoreConformanceTest, WrongKekIsRefusedAtOpen) {
  this->SetUpOrg("acme");
  this->store_.reset();
  // Replace the key file with another key.
  ASSERT_EQ(::remove(this->dir_.File("kek.key").c_str()), 0);
  std::ofstream(this->dir_.File("kek.key")) << std::string(32, 'z');
  EXPECT_THAT(this->TryOpen(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not the key this database")));
}

TYPED_TEST(TokenStoreConformanceTest,
           WrongKekIsRefusedEvenBeforeAnySigningKey) {
  this->store_.reset();
  testing::StoreKnobs k = this->Knobs();
  k.kek = *KeyEncryptionKey::FromBytes(std::string(32, 'q'));
  EXPECT_THAT(this->TryOpen(k),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TYPED_TEST(TokenStoreConformanceTest, MissingKekFileIsRefusedAndNotRecreated) {
  this->SetUpOrg("acme");
  this->store_.reset();
  ASSERT_EQ(::remove(this->dir_.File("kek.key").c_str()), 0);
  EXPECT_THAT(this->TryOpen(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("is missing")));
  struct stat st;
  EXPECT_NE(::stat(this->dir_.File("kek.key").c_str(), &st), 0);
}

TYPED_TEST(TokenStoreConformanceTest, ShortKekFileIsRefused) {
  this->store_.reset();
  ASSERT_EQ(::remove(this->dir_.File("kek.key").c_str()), 0);
  std::ofstream(this->dir_.File("kek.key")) << "short";
  EXPECT_THAT(this->TryOpen(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("expected exactly 32")));
}

TYPED_TEST(TokenStoreConformanceTest, KekPathThatCannotBeReadIsRefused) {
  this->store_.reset();
  ASSERT_EQ(::remove(this->dir_.File("kek.key").c_str()), 0);
  ASSERT_EQ(::mkdir(this->dir_.File("kek.key").c_str(), 0700), 0);
  EXPECT_THAT(this->TryOpen(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("cannot read")));
}

TYPED_TEST(TokenStoreConformanceTest, UnreadableKekFileIsRefused) {
  this->store_.reset();
  ASSERT_EQ(::chmod(this->dir_.File("kek.key").c_str(), 0), 0);
  // Root, too, is held to the file's mode (tests/testing/file_access.h).
  ::token_authority::testing::NoFileAccessOverride no_override;
  ASSERT_OK(no_override.status());
  EXPECT_THAT(this->TryOpen(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("cannot open")));
}

// --- Organisations ---

TYPED_TEST(TokenStoreConformanceTest, OrganizationLifecycle) {
  ASSERT_OK_AND_ASSIGN(Organization a,
                       this->store_->CreateOrganization(MakeOrg("acme"), {}));
  EXPECT_EQ(a.created_at, StartTime());
  EXPECT_THAT(this->store_->CreateOrganization(MakeOrg("acme"), {}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  this->clock_.Advance(absl::Seconds(5));
  OrganizationUpdate u;
  u.secure_enabled = false;
  ASSERT_OK_AND_ASSIGN(Organization b,
                       this->store_->UpdateOrganization("acme", u, {}));
  EXPECT_FALSE(b.secure_enabled);
  EXPECT_EQ(b.name, "Organisation acme");
  EXPECT_EQ(b.updated_at, StartTime() + absl::Seconds(5));
  EXPECT_EQ(b.created_at, StartTime());
  EXPECT_THAT(this->store_->UpdateOrganization("nope", u, {}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      this->store_->UpdateOrganization("acme", {}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("update:")));
  ASSERT_OK_AND_ASSIGN(Organization got, this->store_->GetOrganization("acme"));
  EXPECT_EQ(got.updated_at, b.updated_at);
  EXPECT_THAT(this->store_->GetOrganization("nope"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->store_->GetOrganization(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("organization_id:")));

  ASSERT_OK(this->store_->CreateOrganization(MakeOrg("beta"), {}).status());
  ASSERT_OK(this->store_->CreateOrganization(MakeOrg("gamma"), {}).status());
  ASSERT_OK_AND_ASSIGN(auto p1, this->store_->ListOrganizations({2, ""}));
  ASSERT_THAT(p1.items, SizeIs(2));
  EXPECT_EQ(p1.items[0].id, "acme");
  EXPECT_EQ(p1.items[1].id, "beta");
  ASSERT_FALSE(p1.next_page_token.empty());
  ASSERT_OK_AND_ASSIGN(
      auto p2, this->store_->ListOrganizations({2, p1.next_page_token}));
  ASSERT_THAT(p2.items, SizeIs(1));
  EXPECT_EQ(p2.items[0].id, "gamma");
  EXPECT_TRUE(p2.next_page_token.empty());
  ASSERT_OK_AND_ASSIGN(auto all, this->store_->ListAllOrganizations());
  EXPECT_THAT(all, SizeIs(3));

  ASSERT_OK_AND_ASSIGN(auto events,
                       this->store_->ListAuditEvents("acme", {}, {}));
  ASSERT_THAT(events.items, SizeIs(2));
  EXPECT_EQ(events.items[0].action, AuditAction::kOrganizationUpdated);
  EXPECT_EQ(events.items[0].detail, "secure_enabled=false");
  EXPECT_EQ(events.items[1].action, AuditAction::kOrganizationCreated);
}

// --- API keys ---

TYPED_TEST(TokenStoreConformanceTest, ApiKeyLifecycle) {
  this->SetUpOrg("acme");
  ApiKey admin;
  admin.id = "admin";
  admin.role = ApiKeyRole::kAdmin;
  admin.secret_hash = Sha('a');
  ASSERT_OK(this->store_->CreateApiKey(admin, {}).status());  // service-wide
  ApiKey k;
  k.id = "issuer-1";
  k.organization_id = "acme";
  k.role = ApiKeyRole::kIssuer;
  k.name = "ci";
  k.secret_hash = Sha('b');
  ASSERT_OK_AND_ASSIGN(ApiKey created,
                       this->store_->CreateApiKey(k, {"admin", "req-1", ""}));
  EXPECT_EQ(created.created_at, StartTime());
  EXPECT_THAT(this->store_->CreateApiKey(k, {}),
              StatusIs(absl::StatusCode::kAlreadyExists));
  k.id = "issuer-2";
  EXPECT_THAT(
      this->store_->CreateApiKey(k, {}),
      StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("secret_hash:")));
  k.organization_id = "nope";
  k.secret_hash = Sha('c');
  EXPECT_THAT(this->store_->CreateApiKey(k, {}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->store_->CreateApiKey(created, {"ghost", "", ""}),
              StatusIs(absl::StatusCode::kAlreadyExists));

  ASSERT_OK_AND_ASSIGN(ApiKey got, this->store_->GetApiKey("issuer-1"));
  EXPECT_EQ(got.organization_id, "acme");
  EXPECT_EQ(got.role, ApiKeyRole::kIssuer);
  EXPECT_EQ(got.name, "ci");
  ASSERT_OK_AND_ASSIGN(ApiKey by_hash,
                       this->store_->FindApiKeyBySecretHash(Sha('b')));
  EXPECT_EQ(by_hash.id, "issuer-1");
  EXPECT_THAT(this->store_->FindApiKeyBySecretHash(Sha('z')),
              StatusIs(absl::StatusCode::kNotFound));

  // Touch is lazy, keeps the latest time, and is written by a flush.
  ASSERT_OK(
      this->store_->TouchApiKey("issuer-1", StartTime() + absl::Seconds(9)));
  ASSERT_OK(
      this->store_->TouchApiKey("issuer-1", StartTime() + absl::Seconds(3)));
  ASSERT_OK(this->FlushTouches());
  ASSERT_OK_AND_ASSIGN(got, this->store_->GetApiKey("issuer-1"));
  EXPECT_EQ(got.last_used_at, StartTime() + absl::Seconds(9));

  this->clock_.Advance(absl::Minutes(1));
  ASSERT_OK_AND_ASSIGN(ApiKey revoked, this->store_->RevokeApiKey(
                                           "issuer-1", {"admin", "", ""}));
  EXPECT_EQ(revoked.revoked_at, StartTime() + absl::Minutes(1));
  const int64_t audits = this->AuditCount();
  this->clock_.Advance(absl::Minutes(1));
  ASSERT_OK_AND_ASSIGN(ApiKey again,
                       this->store_->RevokeApiKey("issuer-1", {}));
  EXPECT_EQ(again.revoked_at, revoked.revoked_at);
  EXPECT_EQ(this->AuditCount(), audits);
  EXPECT_THAT(this->store_->RevokeApiKey("nope", {}),
              StatusIs(absl::StatusCode::kNotFound));

  ASSERT_OK_AND_ASSIGN(auto live, this->store_->ListApiKeys("acme", false));
  EXPECT_THAT(live, SizeIs(0));
  ASSERT_OK_AND_ASSIGN(auto all, this->store_->ListApiKeys("acme", true));
  ASSERT_THAT(all, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(auto global, this->store_->ListApiKeys("", true));
  ASSERT_THAT(global, SizeIs(1));
  EXPECT_EQ(global[0].id, "admin");

  AuditFilter f;
  f.action = AuditAction::kApiKeyCreated;
  ASSERT_OK_AND_ASSIGN(auto events,
                       this->store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(events.items, SizeIs(1));
  EXPECT_EQ(events.items[0].actor, "admin");
  EXPECT_EQ(events.items[0].request_id, "req-1");
}

// --- Signing keys ---

TYPED_TEST(TokenStoreConformanceTest, RotateDemotesPrimaryAndRetireRules) {
  this->SetUpOrg("acme");
  this->clock_.Advance(absl::Hours(1));
  ASSERT_OK_AND_ASSIGN(SigningKey k2, this->store_->RotateSigningKey(
                                          MakeKey("acme", "acme-k2"), {}));
  EXPECT_EQ(k2.state, token::KeyState::kPrimary);
  ASSERT_OK_AND_ASSIGN(auto keys, this->store_->ListSigningKeys("acme"));
  ASSERT_THAT(keys, SizeIs(2));
  EXPECT_EQ(keys[0].kid, "acme-k1");
  EXPECT_EQ(keys[0].state, token::KeyState::kActive);
  EXPECT_EQ(keys[1].state, token::KeyState::kPrimary);

  EXPECT_THAT(this->store_->RetireSigningKey("acme", "acme-k2", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(SigningKey retired,
                       this->store_->RetireSigningKey("acme", "acme-k1", {}));
  EXPECT_EQ(retired.state, token::KeyState::kRetired);
  EXPECT_EQ(retired.retired_at, this->clock_.Now());
  EXPECT_OK(this->store_->RetireSigningKey("acme", "acme-k1", {}).status());
  EXPECT_THAT(this->store_->RetireSigningKey("acme", "nope", {}),
              StatusIs(absl::StatusCode::kNotFound));

  SigningKey p = MakeKey("acme", "acme-k3");
  p.state = token::KeyState::kPrimary;
  EXPECT_THAT(this->store_->InsertSigningKey(p, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  p.state = token::KeyState::kActive;
  ASSERT_OK(this->store_->InsertSigningKey(p, {}).status());
  EXPECT_THAT(this->store_->InsertSigningKey(p, {}),
              StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("kid:")));
  EXPECT_THAT(this->store_->RotateSigningKey(MakeKey("nope", "x"), {}),
              StatusIs(absl::StatusCode::kNotFound));

  // Service-wide keys and the start-up listing.
  ASSERT_OK(
      this->store_->RotateSigningKey(MakeKey("", "global-1"), {}).status());
  ASSERT_OK_AND_ASSIGN(auto all, this->store_->ListAllSigningKeys());
  EXPECT_THAT(all, SizeIs(4));
  ASSERT_OK_AND_ASSIGN(auto global, this->store_->ListSigningKeys(""));
  ASSERT_THAT(global, SizeIs(1));
  EXPECT_EQ(global[0].private_key, MakeKey("", "global-1").private_key);

  AuditFilter f;
  f.action = AuditAction::kKeyRotated;
  ASSERT_OK_AND_ASSIGN(auto events,
                       this->store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(events.items, SizeIs(2));
  EXPECT_EQ(events.items[0].detail,
            "kid=acme-k2 algorithm=ES256 previous=acme-k1");
}

TYPED_TEST(TokenStoreConformanceTest, TamperedSealedKeyIsDataLoss) {
  this->SetUpOrg("acme");
  this->store_.reset();
  // Move acme's sealed key to another kid: the associated data no longer
  // matches.
  this->RawExec("UPDATE signing_keys SET kid = 'other'");
  this->Reopen();
  EXPECT_THAT(this->store_->ListSigningKeys("acme"),
              StatusIs(absl::StatusCode::kDataLoss));
}

// A stored value no writer makes is refused by name, never cast.
TYPED_TEST(TokenStoreConformanceTest, UnknownStoredEnumerationsAreDataLoss) {
  this->SetUpOrg("acme");
  const Token t = this->Insert(this->NewToken("acme"));
  this->store_.reset();
  auto raw_exec = [&](const char* sql) { this->RawExec(sql); };
  raw_exec("UPDATE tokens SET kind = 7");
  this->Reopen();
  EXPECT_THAT(this->store_->GetToken("acme", t.id),
              StatusIs(absl::StatusCode::kDataLoss,
                       "tokens.kind: unknown stored value 7"));
  EXPECT_THAT(this->store_->ListTokens("acme", {}, {}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("tokens.kind")));
  this->store_.reset();
  raw_exec("UPDATE tokens SET kind = 2; UPDATE signing_keys SET state = 0");
  this->Reopen();
  EXPECT_OK(this->store_->GetToken("acme", t.id).status());
  EXPECT_THAT(this->store_->ListSigningKeys("acme"),
              StatusIs(absl::StatusCode::kDataLoss,
                       "signing_keys.state: unknown stored value 0"));
  this->store_.reset();
  raw_exec(
      "UPDATE signing_keys SET state = 1; "
      "UPDATE signing_keys SET algorithm = 'es256'");
  this->Reopen();
  EXPECT_THAT(this->store_->ListAllSigningKeys(),
              StatusIs(absl::StatusCode::kDataLoss,
                       "signing_keys.algorithm: unknown stored value "
                       "\"es256\""));
  EXPECT_THAT(this->store_->FindTokenById(t.id),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("signing_keys.algorithm")));
  EXPECT_THAT(this->store_->InsertToken(this->NewToken("acme"), {}),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("signing_keys.algorithm")));
}

// Nobody could administer the service without a service-wide admin key:
// the store refuses to revoke the last one (an organisation's own admin
// keys do not count), in its write transaction.
TYPED_TEST(TokenStoreConformanceTest, TheLastServiceWideAdminKeyStays) {
  this->SetUpOrg("acme");
  ASSERT_OK(
      this->store_
          ->CreateApiKey(MakeApiKey("admin-1", "", ApiKeyRole::kAdmin, 'a'), {})
          .status());
  ASSERT_OK(
      this->store_
          ->CreateApiKey(
              MakeApiKey("acme-admin", "acme", ApiKeyRole::kAdmin, 'b'), {})
          .status());
  EXPECT_THAT(this->store_->RevokeApiKey("admin-1", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "api_key_id: admin-1 is the last active admin key; "
                       "revoking it would leave nobody able to administer "
                       "the service"));
  ASSERT_OK_AND_ASSIGN(ApiKey still, this->store_->GetApiKey("admin-1"));
  EXPECT_FALSE(still.revoked_at.has_value());
  // The organisation's admin key may go; so may the first service-wide one
  // once there is a second, which is then the last.
  EXPECT_OK(this->store_->RevokeApiKey("acme-admin", {}).status());
  ASSERT_OK(
      this->store_
          ->CreateApiKey(MakeApiKey("admin-2", "", ApiKeyRole::kAdmin, 'c'), {})
          .status());
  EXPECT_OK(this->store_->RevokeApiKey("admin-1", {}).status());
  EXPECT_THAT(this->store_->RevokeApiKey("admin-2", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Revoking a revoked key stays a no-op, and other roles are unaffected.
  EXPECT_OK(this->store_->RevokeApiKey("admin-1", {}).status());
  ASSERT_OK(this->store_
                ->CreateApiKey(
                    MakeApiKey("verifier", "", ApiKeyRole::kVerifier, 'd'), {})
                .status());
  EXPECT_OK(this->store_->RevokeApiKey("verifier", {}).status());

  // Two revocations at once of the last two: exactly one succeeds.
  ASSERT_OK(
      this->store_
          ->CreateApiKey(MakeApiKey("admin-3", "", ApiKeyRole::kAdmin, 'e'), {})
          .status());
  absl::Status results[2];
  std::thread other(
      [&] { results[0] = this->store_->RevokeApiKey("admin-2", {}).status(); });
  results[1] = this->store_->RevokeApiKey("admin-3", {}).status();
  other.join();
  EXPECT_NE(results[0].ok(), results[1].ok()) << results[0] << results[1];
}

// An API key's role decides what it may do: a stored role no writer makes
// (and an audit action) is refused, never cast to a role.
TYPED_TEST(TokenStoreConformanceTest, UnknownStoredRolesAndActionsAreDataLoss) {
  this->SetUpOrg("acme");
  ASSERT_OK(
      this->store_
          ->CreateApiKey(
              MakeApiKey("issuer-1", "acme", ApiKeyRole::kIssuer, 'b'), {})
          .status());
  this->store_.reset();
  this->RawExec(
      "UPDATE api_keys SET role = 0; UPDATE audit_events "
      "SET action = 11");
  this->Reopen();
  EXPECT_THAT(this->store_->FindApiKeyBySecretHash(Sha('b')),
              StatusIs(absl::StatusCode::kDataLoss,
                       "api_keys.role: unknown stored value 0"));
  EXPECT_THAT(
      this->store_->GetApiKey("issuer-1"),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("api_keys.role")));
  EXPECT_THAT(
      this->store_->ListApiKeys("acme", true),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("api_keys.role")));
  EXPECT_THAT(
      this->store_->RevokeApiKey("issuer-1", {}),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("api_keys.role")));
  EXPECT_THAT(this->store_->ListAuditEvents("acme", {}, {}),
              StatusIs(absl::StatusCode::kDataLoss,
                       "audit_events.action: unknown stored value 11"));
}

// --- Tokens ---

TYPED_TEST(TokenStoreConformanceTest, InsertAndGetRoundTripEveryField) {
  this->SetUpOrg("acme");
  ApiKey k;
  k.id = "issuer";
  k.organization_id = "acme";
  k.role = ApiKeyRole::kIssuer;
  k.secret_hash = Sha('i');
  ASSERT_OK(this->store_->CreateApiKey(k, {}).status());
  Token t = this->NewToken("acme");
  t.not_before = t.issued_at + absl::Seconds(30);
  t.client_ip = "203.0.113.0/24";
  t.domain = "*.example.com";
  t.user_id = "user-7";
  t.tag = "match-42 ü";
  t.issued_by = "issuer";
  t.request_id = "req-abc";
  t.spec_fingerprint = std::string("\x00\x01\x02", 3);
  ASSERT_OK_AND_ASSIGN(InsertTokenResult r, this->store_->InsertToken(t, {}));
  EXPECT_TRUE(r.created);
  ASSERT_OK_AND_ASSIGN(Token got, this->store_->GetToken("acme", t.id));
  EXPECT_EQ(got.id, t.id);
  EXPECT_EQ(got.organization_id, "acme");
  EXPECT_EQ(got.target_kind, token::Target::Kind::kStreams);
  EXPECT_THAT(got.streams, ElementsAre("cam1", "cam2"));
  EXPECT_EQ(got.issued_at, t.issued_at);
  EXPECT_EQ(got.not_before, t.not_before);
  EXPECT_EQ(got.expires_at, t.expires_at);
  EXPECT_EQ(got.client_ip, t.client_ip);
  EXPECT_EQ(got.domain, t.domain);
  EXPECT_EQ(got.user_id, t.user_id);
  EXPECT_EQ(got.tag, t.tag);
  EXPECT_EQ(got.key_id, "acme-k1");
  EXPECT_EQ(got.algorithm, token::Algorithm::kEs256);
  EXPECT_EQ(got.jwt_sha256, t.jwt_sha256);
  EXPECT_EQ(got.issued_by, "issuer");
  EXPECT_EQ(got.request_id, "req-abc");
  EXPECT_EQ(got.spec_fingerprint, t.spec_fingerprint);
  EXPECT_FALSE(got.revoked_at.has_value());
  EXPECT_EQ(got.revocation_sequence, 0);
  EXPECT_EQ(TokenStateAt(got, this->clock_.Now()), TokenState::kNotYetValid);

  Token g = this->NewToken("acme");
  g.target_kind = token::Target::Kind::kStreamGroup;
  g.streams.clear();
  g.stream_group_id = "group-1";
  this->Insert(g);
  ASSERT_OK_AND_ASSIGN(got, this->store_->GetToken("acme", g.id));
  EXPECT_EQ(got.stream_group_id, "group-1");
  EXPECT_TRUE(got.streams.empty());
  Token o = this->NewToken("acme");
  o.target_kind = token::Target::Kind::kOrganization;
  o.streams.clear();
  this->Insert(o);
  ASSERT_OK_AND_ASSIGN(got, this->store_->FindTokenById(o.id));
  EXPECT_EQ(got.target_kind, token::Target::Kind::kOrganization);

  ASSERT_OK_AND_ASSIGN(auto events,
                       this->store_->ListAuditEvents("acme", {}, {}));
  ASSERT_GE(events.items.size(), 3u);
  const AuditEvent& issued = events.items[2];
  EXPECT_EQ(issued.action, AuditAction::kTokenIssued);
  EXPECT_EQ(issued.token_id, t.id);
  EXPECT_EQ(issued.actor, "issuer");
  EXPECT_EQ(issued.tag, t.tag);
  EXPECT_EQ(issued.user_id, "user-7");
  EXPECT_EQ(issued.request_id, "req-abc");
}

TYPED_TEST(TokenStoreConformanceTest,
           SameRequestIdReturnsExistingTokenAndWritesNothing) {
  this->SetUpOrg("acme");
  Token t = this->NewToken("acme");
  t.request_id = "req-1";
  t.spec_fingerprint = "spec-A";
  this->Insert(t);
  const int64_t audits = this->AuditCount();
  Token retry = this->NewToken("acme");
  retry.request_id = "req-1";
  retry.spec_fingerprint = "spec-B";
  ASSERT_OK_AND_ASSIGN(InsertTokenResult r,
                       this->store_->InsertToken(retry, {}));
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.token.id, t.id);
  EXPECT_EQ(r.token.spec_fingerprint, "spec-A");
  EXPECT_EQ(this->AuditCount(), audits);
  EXPECT_EQ(this->TokenRows(), 1);
  EXPECT_THAT(this->store_->GetToken("acme", retry.id),
              StatusIs(absl::StatusCode::kNotFound));
}

TYPED_TEST(TokenStoreConformanceTest,
           ConcurrentRetriesWithOneRequestIdMakeOneToken) {
  this->SetUpOrg("acme");
  std::vector<std::thread> threads;
  std::vector<InsertTokenResult> results(16);
  std::vector<Token> tokens;
  for (int i = 0; i < 16; ++i) {
    Token t = this->NewToken("acme");
    t.request_id = "same";
    tokens.push_back(t);
  }
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto r = this->store_->InsertToken(tokens[i], {});
      ASSERT_TRUE(r.ok()) << r.status();
      results[i] = *r;
    });
  }
  for (auto& th : threads) th.join();
  int created = 0;
  for (const auto& r : results) {
    created += r.created ? 1 : 0;
    EXPECT_EQ(r.token.id, results[0].token.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(this->TokenRows(), 1);
}

// Collects what InsertTokenAsync hands its callbacks. std::mutex, not
// absl::Mutex: this test runs under ThreadSanitizer, which does not see
// Debian's (uninstrumented) abseil.
class AsyncResults {
 public:
  explicit AsyncResults(int expected) : remaining_(expected) {}
  TokenStore::InsertTokenDone Callback(int i) {
    return [this, i](absl::StatusOr<InsertTokenResult> r) {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_EQ(results_.count(i), 0u) << "callback " << i << " ran twice";
      results_.emplace(i, std::move(r));
      threads_.insert(std::this_thread::get_id());
      if (--remaining_ == 0) all_.notify_all();
    };
  }
  // Waits for every callback.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    all_.wait(lock, [this] { return remaining_ == 0; });
  }
  const absl::StatusOr<InsertTokenResult>& at(int i) {
    std::lock_guard<std::mutex> lock(mu_);
    return results_.at(i);
  }
  std::set<std::thread::id> threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable all_;
  int remaining_;
  std::map<int, absl::StatusOr<InsertTokenResult>> results_;
  std::set<std::thread::id> threads_;
};

TYPED_TEST(TokenStoreConformanceTest, InsertTokenAsyncCallsBackOnceDurable) {
  this->SetUpOrg("acme");
  constexpr int kTokens = 200;
  AsyncResults results(kTokens);
  std::vector<Token> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(this->NewToken("acme"));
  for (int i = 0; i < kTokens; ++i) {
    this->store_->InsertTokenAsync(tokens[i], {}, results.Callback(i));
  }
  results.Wait();
  for (int i = 0; i < kTokens; ++i) {
    ASSERT_OK(results.at(i).status()) << i;
    EXPECT_TRUE(results.at(i)->created);
    EXPECT_EQ(results.at(i)->token.id, tokens[i].id);
  }
  // Completed on the store's completion thread, not on this thread.
  EXPECT_EQ(results.threads().count(std::this_thread::get_id()), 0u);
  // Committed: another connection sees every row and its audit event.
  EXPECT_EQ(this->TokenRows(), kTokens);
  EXPECT_EQ(this->RawInt("SELECT count(*) FROM audit_events WHERE "
                         "token_id IS NOT NULL"),
            kTokens);
}

TYPED_TEST(TokenStoreConformanceTest, InsertTokenAsyncMixesWithWaitingWriters) {
  this->SetUpOrg("acme");
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  AsyncResults results(kThreads * kEach);
  std::vector<std::thread> threads;
  std::atomic<int> sync_ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Tokens are made on this thread: MakeToken draws from this->random_.
        Token a, b;
        {
          static std::mutex random_mu;
          std::lock_guard<std::mutex> lock(random_mu);
          a = this->NewToken("acme");
          b = this->NewToken("acme");
        }
        this->store_->InsertTokenAsync(a, {}, results.Callback(t * kEach + i));
        if (this->store_->InsertToken(b, {}).ok()) ++sync_ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  results.Wait();
  for (int i = 0; i < kThreads * kEach; ++i) {
    EXPECT_OK(results.at(i).status()) << i;
  }
  EXPECT_EQ(sync_ok.load(), kThreads * kEach);
  EXPECT_EQ(this->TokenRows(), 2 * kThreads * kEach);
}

TYPED_TEST(TokenStoreConformanceTest, ShutdownCompletesEveryQueuedAsyncInsert) {
  this->SetUpOrg("acme");
  constexpr int kTokens = 500;
  AsyncResults results(kTokens);
  std::vector<Token> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(this->NewToken("acme"));
  for (int i = 0; i < kTokens; ++i) {
    this->store_->InsertTokenAsync(tokens[i], {}, results.Callback(i));
  }
  // At once: most are still queued. Shutdown drains the writer and runs
  // every completion before it returns.
  ASSERT_OK(this->store_->Shutdown());
  results.Wait();
  int ok = 0;
  for (int i = 0; i < kTokens; ++i) {
    if (results.at(i).ok()) {
      ++ok;
    } else {
      EXPECT_THAT(results.at(i), StatusIs(absl::StatusCode::kUnavailable));
    }
  }
  EXPECT_EQ(ok, kTokens);  // queued before the shutdown: all written
  this->Reopen();
  EXPECT_EQ(this->TokenRows(), ok);
}

TYPED_TEST(TokenStoreConformanceTest,
           InsertTokenAsyncReportsErrorsAndWritesNothing) {
  this->SetUpOrg("acme");
  const int64_t audits = this->AuditCount();
  // Found before queueing: the callback runs on this thread, at once.
  Token bad = this->NewToken("acme");
  bad.jwt_sha256 = "short";
  AsyncResults early(1);
  this->store_->InsertTokenAsync(bad, {}, early.Callback(0));
  EXPECT_TRUE(early.threads().count(std::this_thread::get_id()));
  EXPECT_THAT(early.at(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                    StartsWith("jwt_sha256:")));
  // Found by the writer.
  Token unknown_key = this->NewToken("acme");
  unknown_key.key_id = "nope";
  AsyncResults late(1);
  this->store_->InsertTokenAsync(unknown_key, {}, late.Callback(0));
  late.Wait();
  EXPECT_THAT(late.at(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                   StartsWith("key_id:")));
  EXPECT_EQ(this->TokenRows(), 0);
  EXPECT_EQ(this->AuditCount(), audits);
  // Same request id: the stored token, created = false.
  Token first = this->NewToken("acme");
  first.request_id = "req-9";
  this->Insert(first);
  Token retry = this->NewToken("acme");
  retry.request_id = "req-9";
  AsyncResults again(1);
  this->store_->InsertTokenAsync(retry, {}, again.Callback(0));
  again.Wait();
  ASSERT_OK(again.at(0).status());
  EXPECT_FALSE(again.at(0)->created);
  EXPECT_EQ(again.at(0)->token.id, first.id);
  // Shut down: Unavailable, on this thread.
  ASSERT_OK(this->store_->Shutdown());
  AsyncResults closed(1);
  this->store_->InsertTokenAsync(this->NewToken("acme"), {},
                                 closed.Callback(0));
  EXPECT_THAT(closed.at(0), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(this->TokenRows(), 1);
}

TYPED_TEST(TokenStoreConformanceTest, InsertRejectsUnknownReferences) {
  this->SetUpOrg("acme");
  Token t = this->NewToken("acme");
  t.key_id = "nope";
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("key_id:")));
  t = this->NewToken("acme");
  t.algorithm = token::Algorithm::kRs256;
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("algorithm:")));
  t = this->NewToken("acme");
  t.issued_by = "ghost";
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("issued_by:")));
  t = this->NewToken("acme");
  t.organization_id = "nope";
  EXPECT_THAT(this->store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kNotFound));
  t = this->NewToken("acme");
  this->Insert(t);
  Token dup = this->NewToken("acme");
  dup.id = t.id;
  EXPECT_THAT(this->store_->InsertToken(dup, {}),
              StatusIs(absl::StatusCode::kAlreadyExists, StartsWith("id:")));
  EXPECT_EQ(this->TokenRows(), 1);
}

TYPED_TEST(TokenStoreConformanceTest,
           BadInputIsInvalidArgumentAndWritesNothing) {
  this->SetUpOrg("acme");
  const int64_t audits = this->AuditCount();
  Token t = this->NewToken("acme");
  t.tag = std::string(129, 't');
  EXPECT_THAT(this->store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("tag:")));
  t = this->NewToken("acme");
  t.user_id = "a\nb";
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("user_id:")));
  t = this->NewToken("acme");
  t.streams = {"ok", "not ok"};
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("streams:")));
  t = this->NewToken("acme");
  t.id = "short";
  EXPECT_THAT(this->store_->InsertToken(t, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("id:")));
  t = this->NewToken("acme");
  t.expires_at = t.not_before;
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("expires_at:")));
  t = this->NewToken("acme");
  t.issued_at += absl::Milliseconds(1);
  EXPECT_THAT(
      this->store_->InsertToken(t, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("issued_at:")));
  t = this->NewToken("acme");
  EXPECT_THAT(
      this->store_->InsertToken(t, {"", "", std::string(5000, 'd')}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("detail:")));
  this->Insert(this->NewToken("acme"));
  EXPECT_EQ(this->TokenRows(), 1);
  EXPECT_EQ(this->AuditCount(), audits + 1);

  TokenFilter f;
  f.tag = std::string(200, 'x');
  EXPECT_THAT(this->store_->ListTokens("acme", f, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("tag:")));
  f = {};
  f.state = static_cast<TokenState>(99);
  EXPECT_THAT(
      this->store_->ListTokens("acme", f, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      this->store_->CountTokens("acme", f),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      ParseTokenState("bogus"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_THAT(
      this->store_->ListTokens("acme", {}, {0, "garbage!!"}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      this->store_->ListTokens("acme", {}, {1001, ""}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_size:")));
  EXPECT_THAT(
      this->store_->ListTokens("acme", {}, {-1, ""}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_size:")));
  EXPECT_THAT(
      this->store_->GetToken("acme", "not-a-token-id"),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("token_id:")));
  EXPECT_THAT(
      this->store_->RevokeToken("acme", this->NewToken("acme").id,
                                std::string(600, 'r'), {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("reason:")));
  EXPECT_THAT(
      this->store_->RevokeTokens("acme", {}, "", false, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("filter:")));
  AuditFilter af;
  af.token_id = "zzz";
  EXPECT_THAT(
      this->store_->ListAuditEvents("acme", af, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("token_id:")));
  EXPECT_EQ(this->AuditCount(), audits + 1);
  EXPECT_EQ(this->RawInt("SELECT count(*) FROM revocations"), 0);
}

// --- Revocation ---

TYPED_TEST(TokenStoreConformanceTest, RevokeTokenIsIdempotentAndSequenced) {
  this->SetUpOrg("acme");
  Token a = this->Insert(this->NewToken("acme"));
  Token b = this->Insert(this->NewToken("acme"));
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 0);
  this->clock_.Advance(absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(Token ra,
                       this->store_->RevokeToken("acme", a.id, "leaked", {}));
  EXPECT_EQ(ra.revoked_at, this->clock_.Now());
  EXPECT_EQ(ra.revocation_reason, "leaked");
  EXPECT_EQ(ra.revocation_sequence, 1);
  EXPECT_EQ(TokenStateAt(ra, this->clock_.Now()), TokenState::kRevoked);
  const int64_t audits = this->AuditCount();
  this->clock_.Advance(absl::Seconds(10));
  ASSERT_OK_AND_ASSIGN(Token again,
                       this->store_->RevokeToken("acme", a.id, "other", {}));
  EXPECT_EQ(again.revocation_sequence, 1);
  EXPECT_EQ(again.revoked_at, ra.revoked_at);
  EXPECT_EQ(again.revocation_reason, "leaked");
  EXPECT_EQ(this->AuditCount(), audits);
  ASSERT_OK_AND_ASSIGN(Token rb,
                       this->store_->RevokeToken("acme", b.id, "", {}));
  EXPECT_EQ(rb.revocation_sequence, 2);
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 2);

  ASSERT_OK_AND_ASSIGN(auto since, this->store_->ListRevocationsSince(1, 100));
  ASSERT_THAT(since, SizeIs(1));
  EXPECT_EQ(since[0].token_id, b.id);
  EXPECT_EQ(since[0].organization_id, "acme");
  EXPECT_EQ(since[0].expires_at, b.expires_at);
  ASSERT_OK_AND_ASSIGN(auto active,
                       this->store_->ListActiveRevocations(this->clock_.Now()));
  EXPECT_THAT(active, SizeIs(2));
  ASSERT_OK_AND_ASSIGN(auto later, this->store_->ListActiveRevocations(
                                       a.expires_at + absl::Seconds(1)));
  EXPECT_THAT(later, SizeIs(0));
  EXPECT_THAT(
      this->store_->ListRevocationsSince(0, 0),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("limit:")));
  EXPECT_THAT(
      this->store_->RevokeToken("acme", this->NewToken("acme").id, "", {}),
      StatusIs(absl::StatusCode::kNotFound));
}

TYPED_TEST(TokenStoreConformanceTest,
           RevokeTokensInBatchesOnlyLiveMatchingTokens) {
  this->revoke_batch_size_ = 3;
  this->Reopen();
  this->SetUpOrg("acme");
  std::set<std::string> live;
  for (int i = 0; i < 10; ++i) {
    Token t = this->NewToken("acme");
    t.tag = "game-1";
    t.user_id = i % 2 ? "odd" : "even";
    live.insert(this->Insert(t).id);
  }
  Token expired = this->NewToken("acme", absl::Hours(3));
  expired.tag = "game-1";
  this->Insert(expired);
  Token revoked = this->NewToken("acme");
  revoked.tag = "game-1";
  this->Insert(revoked);
  ASSERT_OK(this->store_->RevokeToken("acme", revoked.id, "", {}).status());
  Token other = this->NewToken("acme");
  other.tag = "game-2";
  this->Insert(other);

  RevokeFilter f;
  f.tag = "game-1";
  ASSERT_OK_AND_ASSIGN(auto dry,
                       this->store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 10);
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 1);

  const int64_t audits = this->AuditCount();
  ASSERT_OK_AND_ASSIGN(
      auto r, this->store_->RevokeTokens("acme", f, "match over", false, {}));
  EXPECT_EQ(r.count, 10);
  EXPECT_EQ(r.last_sequence, 11);
  EXPECT_EQ(this->AuditCount(), audits + 11);
  ASSERT_OK_AND_ASSIGN(auto events, this->store_->ListRevocationsSince(1, 100));
  ASSERT_THAT(events, SizeIs(10));
  for (const auto& e : events) EXPECT_EQ(live.count(e.token_id), 1u);
  ASSERT_OK_AND_ASSIGN(Token e, this->store_->GetToken("acme", expired.id));
  EXPECT_FALSE(e.revoked_at.has_value());
  ASSERT_OK_AND_ASSIGN(Token o, this->store_->GetToken("acme", other.id));
  EXPECT_FALSE(o.revoked_at.has_value());

  AuditFilter af;
  af.action = AuditAction::kTokensRevoked;
  ASSERT_OK_AND_ASSIGN(auto bulk,
                       this->store_->ListAuditEvents("acme", af, {}));
  ASSERT_THAT(bulk.items, SizeIs(1));
  EXPECT_THAT(bulk.items[0].detail, HasSubstr("count=10"));
  EXPECT_EQ(bulk.items[0].tag, "game-1");
  af.action = AuditAction::kTokenRevoked;
  af.tag = "game-1";
  ASSERT_OK_AND_ASSIGN(auto singles,
                       this->store_->ListAuditEvents("acme", af, {}));
  EXPECT_THAT(singles.items, SizeIs(11));

  // Nothing left: a second call revokes none and still records the attempt.
  ASSERT_OK_AND_ASSIGN(auto none,
                       this->store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(none.count, 0);
}

TYPED_TEST(TokenStoreConformanceTest, RevokeTokensByStreamAndGroup) {
  this->SetUpOrg("acme");
  Token s1 = this->NewToken("acme");
  s1.streams = {"a", "b"};
  this->Insert(s1);
  Token s2 = this->NewToken("acme");
  s2.streams = {"b", "c"};
  this->Insert(s2);
  Token g = this->NewToken("acme");
  g.target_kind = token::Target::Kind::kStreamGroup;
  g.streams.clear();
  g.stream_group_id = "b";  // a group named like a stream is not a stream
  this->Insert(g);
  RevokeFilter f;
  f.stream_name = "b";
  ASSERT_OK_AND_ASSIGN(auto r,
                       this->store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 2);
  f = {};
  f.stream_group_id = "b";
  ASSERT_OK_AND_ASSIGN(r, this->store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 1);
}

TYPED_TEST(TokenStoreConformanceTest, RevokeTokensByState) {
  this->SetUpOrg("acme");
  std::vector<std::string> active, pending;
  for (int i = 0; i < 3; ++i) {
    Token t = this->NewToken("acme");
    t.tag = "launch";
    active.push_back(this->Insert(t).id);
  }
  for (int i = 0; i < 2; ++i) {
    Token t = this->NewToken("acme");
    t.tag = "launch";
    t.not_before = this->clock_.Now() + absl::Minutes(30);
    pending.push_back(this->Insert(t).id);
  }
  Token expired = this->NewToken("acme", absl::Hours(3));
  expired.tag = "launch";
  this->Insert(expired);

  RevokeFilter f;
  f.tag = "launch";
  f.state = TokenState::kExpired;
  const int64_t audits = this->AuditCount();
  EXPECT_THAT(this->store_->RevokeTokens("acme", f, "", /*dry_run=*/false, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "state: only active or not yet valid tokens can be "
                       "revoked"));
  f.state = TokenState::kRevoked;
  EXPECT_THAT(
      this->store_->RevokeTokens("acme", f, "", /*dry_run=*/true, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("state:")));
  EXPECT_EQ(this->AuditCount(), audits);
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 0);

  f.state = TokenState::kNotYetValid;
  ASSERT_OK_AND_ASSIGN(auto dry,
                       this->store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 2);
  f.state = TokenState::kActive;
  ASSERT_OK_AND_ASSIGN(dry,
                       this->store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 3);
  EXPECT_EQ(this->AuditCount(), audits);

  ASSERT_OK_AND_ASSIGN(
      auto r, this->store_->RevokeTokens("acme", f, "launch over", false, {}));
  EXPECT_EQ(r.count, 3);
  ASSERT_OK_AND_ASSIGN(auto events, this->store_->ListRevocationsSince(0, 100));
  std::set<std::string> revoked;
  for (const auto& e : events) revoked.insert(e.token_id);
  EXPECT_EQ(revoked, std::set<std::string>(active.begin(), active.end()));
  for (const std::string& id : pending) {
    ASSERT_OK_AND_ASSIGN(Token t, this->store_->GetToken("acme", id));
    EXPECT_FALSE(t.revoked_at.has_value());
  }
  AuditFilter af;
  af.action = AuditAction::kTokensRevoked;
  ASSERT_OK_AND_ASSIGN(auto bulk,
                       this->store_->ListAuditEvents("acme", af, {}));
  ASSERT_THAT(bulk.items, SizeIs(1));
  EXPECT_THAT(bulk.items[0].detail, HasSubstr("state=active"));

  // Once their not-before has passed the pending tokens are active.
  this->clock_.Advance(absl::Minutes(31));
  f.state = TokenState::kNotYetValid;
  ASSERT_OK_AND_ASSIGN(dry,
                       this->store_->RevokeTokens("acme", f, "", true, {}));
  EXPECT_EQ(dry.count, 0);
  f.state = TokenState::kActive;
  ASSERT_OK_AND_ASSIGN(r, this->store_->RevokeTokens("acme", f, "", false, {}));
  EXPECT_EQ(r.count, 2);
}

// --- Lists and filters ---

TYPED_TEST(TokenStoreConformanceTest, ListTokensFiltersAndStates) {
  this->SetUpOrg("acme");
  // Issued one minute apart, oldest first.
  std::vector<Token> t;
  for (int i = 0; i < 8; ++i) {
    Token x = this->NewToken("acme", absl::Minutes(10 - i));
    x.tag = i < 4 ? "red" : "blue";
    x.user_id = i % 2 ? "u1" : "u2";
    if (i == 5) {
      x.target_kind = token::Target::Kind::kStreamGroup;
      x.streams.clear();
      x.stream_group_id = "grp";
    }
    if (i == 6) x.streams = {"solo"};
    if (i == 2)
      x.expires_at = this->clock_.Now() - absl::Seconds(1);          // expired
    if (i == 7) x.not_before = this->clock_.Now() + absl::Hours(1);  // not yet
    if (i == 7) x.expires_at = this->clock_.Now() + absl::Hours(2);
    t.push_back(this->Insert(x));
  }
  ASSERT_OK(this->store_->RevokeToken("acme", t[3].id, "", {}).status());

  auto ids = [&](const TokenFilter& f) {
    return this->ListAllIds("acme", f, 3);
  };
  TokenFilter f;
  EXPECT_THAT(ids(f), ElementsAre(t[7].id, t[6].id, t[5].id, t[4].id, t[3].id,
                                  t[2].id, t[1].id, t[0].id));
  f.tag = "red";
  EXPECT_THAT(ids(f), ElementsAre(t[3].id, t[2].id, t[1].id, t[0].id));
  f.user_id = "u1";
  EXPECT_THAT(ids(f), ElementsAre(t[3].id, t[1].id));
  f = {};
  f.stream_name = "solo";
  EXPECT_THAT(ids(f), ElementsAre(t[6].id));
  f.stream_name = "cam1";
  EXPECT_THAT(ids(f), ElementsAre(t[7].id, t[4].id, t[3].id, t[2].id, t[1].id,
                                  t[0].id));
  f = {};
  f.stream_group_id = "grp";
  EXPECT_THAT(ids(f), ElementsAre(t[5].id));
  f = {};
  f.state = TokenState::kRevoked;
  EXPECT_THAT(ids(f), ElementsAre(t[3].id));
  f.state = TokenState::kExpired;
  EXPECT_THAT(ids(f), ElementsAre(t[2].id));
  f.state = TokenState::kNotYetValid;
  EXPECT_THAT(ids(f), ElementsAre(t[7].id));
  f.state = TokenState::kActive;
  EXPECT_THAT(ids(f), ElementsAre(t[6].id, t[5].id, t[4].id, t[1].id, t[0].id));
  // State at another instant.
  f.now = this->clock_.Now() + absl::Hours(1) + absl::Seconds(30);
  EXPECT_THAT(ids(f), ElementsAre(t[7].id));
  f = {};
  f.issued_after = t[2].issued_at;
  f.issued_before = t[5].issued_at;
  EXPECT_THAT(ids(f), ElementsAre(t[4].id, t[3].id, t[2].id));
  f.issued_after = t[2].issued_at + absl::Milliseconds(1);
  EXPECT_THAT(ids(f), ElementsAre(t[4].id, t[3].id));
  f = {};
  f.tag = "blue";
  f.state = TokenState::kActive;
  f.stream_name = "cam2";
  EXPECT_THAT(ids(f), ElementsAre(t[4].id));
  EXPECT_THAT(this->store_->CountTokens("acme", f), IsOkAndHolds(1));
}

TYPED_TEST(TokenStoreConformanceTest, CountTokensMatchesLists) {
  this->SetUpOrg("acme");
  for (int i = 0; i < 25; ++i) {
    Token x = this->NewToken("acme", absl::Seconds(i));
    x.tag = i % 3 ? "a" : "b";
    this->Insert(x);
  }
  TokenFilter f;
  EXPECT_THAT(this->store_->CountTokens("acme", f), IsOkAndHolds(25));
  f.tag = "b";
  EXPECT_THAT(this->store_->CountTokens("acme", f), IsOkAndHolds(9));
  EXPECT_EQ(this->ListAllIds("acme", f, 4).size(), 9u);
}

TYPED_TEST(TokenStoreConformanceTest, PageTokenIsBoundToOrganizationAndFilter) {
  this->SetUpOrg("acme");
  this->SetUpOrg("beta");
  for (int i = 0; i < 3; ++i) {
    Token x = this->NewToken("acme", absl::Seconds(i));
    x.tag = "t";
    this->Insert(x);
  }
  TokenFilter f;
  f.tag = "t";
  ASSERT_OK_AND_ASSIGN(auto p, this->store_->ListTokens("acme", f, {1, ""}));
  ASSERT_FALSE(p.next_page_token.empty());
  TokenFilter other;
  other.tag = "u";
  EXPECT_THAT(
      this->store_->ListTokens("acme", other, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      this->store_->ListTokens("beta", f, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      this->store_->ListAuditEvents("acme", {}, {1, p.next_page_token}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  // `now` may move between pages.
  f.now = this->clock_.Now() + absl::Minutes(1);
  EXPECT_OK(
      this->store_->ListTokens("acme", f, {1, p.next_page_token}).status());
  // A truncated or bit-flipped token is refused.
  std::string bad = p.next_page_token;
  bad[bad.size() / 2] = bad[bad.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_THAT(
      this->store_->ListTokens("acme", f, {1, bad}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
}

TYPED_TEST(TokenStoreConformanceTest,
           PaginationUnderConcurrentInsertsSkipsAndRepeatsNothing) {
  this->SetUpOrg("acme");
  std::set<std::string> before;
  // Many tokens share an issued_at second, so the tie-break matters.
  for (int i = 0; i < 300; ++i) {
    Token x = this->NewToken("acme", absl::Seconds(i / 7));
    x.tag = "live";
    before.insert(this->Insert(x).id);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> inserted{0};
  std::thread writer([&] {
    FakeRandom rnd(7);
    int i = 0;
    while (!stop.load()) {
      // Concurrent rows land everywhere in the order: newer, older and in
      // the seconds being paged.
      Token x = MakeToken(rnd, "acme", "acme-k1",
                          StartTime() - absl::Seconds((i * 13) % 60) +
                              absl::Seconds(i % 2 ? 30 : 0));
      x.tag = "live";
      if (this->store_->InsertToken(x, {}).ok()) inserted.fetch_add(1);
      ++i;
    }
  });
  std::vector<std::string> seen;
  TokenFilter f;
  f.tag = "live";
  PageRequest page{7, ""};
  while (true) {
    auto p = this->store_->ListTokens("acme", f, page);
    ASSERT_TRUE(p.ok()) << p.status();
    for (const Token& t : p->items) seen.push_back(t.id);
    if (p->next_page_token.empty()) break;
    page.page_token = p->next_page_token;
    // Let the writer land rows between every two pages.
    const int mark = inserted.load();
    for (int i = 0; i < 1000 && inserted.load() < mark + 2; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(inserted.load(), 0);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a row was repeated";
  for (const std::string& id : before) {
    EXPECT_EQ(unique.count(id), 1u) << "row skipped: " << id;
  }
}

// --- Tenant isolation ---

TYPED_TEST(TokenStoreConformanceTest, OrganizationsNeverSeeEachOthersRows) {
  this->SetUpOrg("a");
  this->SetUpOrg("b");
  Token ta = this->NewToken("a");
  ta.tag = "shared";
  ta.user_id = "shared";
  ta.streams = {"shared"};
  this->Insert(ta);
  Token tg = this->NewToken("a");
  tg.target_kind = token::Target::Kind::kStreamGroup;
  tg.streams.clear();
  tg.stream_group_id = "shared";
  this->Insert(tg);

  EXPECT_THAT(this->store_->GetToken("b", ta.id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(this->store_->RevokeToken("b", ta.id, "", {}),
              StatusIs(absl::StatusCode::kNotFound));
  TokenFilter f;
  EXPECT_THAT(this->store_->CountTokens("b", f), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(auto page, this->store_->ListTokens("b", f, {}));
  EXPECT_TRUE(page.items.empty());
  for (int i = 0; i < 4; ++i) {
    TokenFilter g;
    RevokeFilter r;
    if (i == 0) g.tag = r.tag = "shared";
    if (i == 1) g.user_id = r.user_id = "shared";
    if (i == 2) g.stream_name = r.stream_name = "shared";
    if (i == 3) g.stream_group_id = r.stream_group_id = "shared";
    EXPECT_THAT(this->store_->CountTokens("b", g), IsOkAndHolds(0)) << i;
    EXPECT_THAT(this->store_->CountTokens("a", g), IsOkAndHolds(1)) << i;
    ASSERT_OK_AND_ASSIGN(auto p, this->store_->ListTokens("b", g, {}));
    EXPECT_TRUE(p.items.empty()) << i;
    ASSERT_OK_AND_ASSIGN(auto rr,
                         this->store_->RevokeTokens("b", r, "", false, {}));
    EXPECT_EQ(rr.count, 0) << i;
  }
  ASSERT_OK_AND_ASSIGN(Token still, this->store_->GetToken("a", ta.id));
  EXPECT_FALSE(still.revoked_at.has_value());
  AuditFilter af;
  af.token_id = ta.id;
  ASSERT_OK_AND_ASSIGN(auto ev, this->store_->ListAuditEvents("b", af, {}));
  EXPECT_TRUE(ev.items.empty());
  af = {};
  af.tag = "shared";
  af.action = AuditAction::kTokenIssued;
  ASSERT_OK_AND_ASSIGN(ev, this->store_->ListAuditEvents("b", af, {}));
  EXPECT_TRUE(ev.items.empty());
  ASSERT_OK_AND_ASSIGN(ev, this->store_->ListAuditEvents("a", af, {}));
  EXPECT_THAT(ev.items, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(auto keys, this->store_->ListSigningKeys("b"));
  ASSERT_THAT(keys, SizeIs(1));
  EXPECT_EQ(keys[0].kid, "b-k1");
  // A token of b cannot be signed with a's key.
  Token cross = this->NewToken("b");
  cross.key_id = "a-k1";
  EXPECT_THAT(
      this->store_->InsertToken(cross, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("key_id:")));
}

// --- Audit log ---

TYPED_TEST(TokenStoreConformanceTest, AuditFiltersTimeRangeAndPages) {
  this->SetUpOrg("acme");
  std::vector<Token> t;
  for (int i = 0; i < 6; ++i) {
    this->clock_.Advance(absl::Minutes(1));
    Token x = this->NewToken("acme");
    x.tag = i < 3 ? "x" : "y";
    x.user_id = "u" + std::to_string(i % 2);
    t.push_back(this->Insert(x));
  }
  this->clock_.Advance(absl::Minutes(1));
  ASSERT_OK(this->store_->RevokeToken("acme", t[0].id, "r", {}).status());

  AuditFilter f;
  f.token_id = t[0].id;
  ASSERT_OK_AND_ASSIGN(auto p, this->store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(p.items, SizeIs(2));
  EXPECT_EQ(p.items[0].action, AuditAction::kTokenRevoked);
  EXPECT_EQ(p.items[0].detail, "r");
  EXPECT_EQ(p.items[1].action, AuditAction::kTokenIssued);
  f = {};
  f.tag = "y";
  ASSERT_OK_AND_ASSIGN(p, this->store_->ListAuditEvents("acme", f, {}));
  EXPECT_THAT(p.items, SizeIs(3));
  f.user_id = "u1";
  ASSERT_OK_AND_ASSIGN(p, this->store_->ListAuditEvents("acme", f, {}));
  EXPECT_THAT(p.items, SizeIs(2));
  f = {};
  f.action = AuditAction::kTokenIssued;
  f.since = StartTime() + absl::Minutes(2);
  f.until = StartTime() + absl::Minutes(5);
  ASSERT_OK_AND_ASSIGN(p, this->store_->ListAuditEvents("acme", f, {}));
  ASSERT_THAT(p.items, SizeIs(3));
  EXPECT_EQ(p.items[0].token_id, t[3].id);
  EXPECT_EQ(p.items[2].token_id, t[1].id);
  f.since = StartTime() + absl::Hours(9);
  f.until.reset();
  ASSERT_OK_AND_ASSIGN(p, this->store_->ListAuditEvents("acme", f, {}));
  EXPECT_TRUE(p.items.empty());

  // Paging over everything: newest first, no repeats.
  std::vector<int64_t> ids;
  PageRequest page{2, ""};
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto q,
                         this->store_->ListAuditEvents("acme", {}, page));
    for (const auto& e : q.items) ids.push_back(e.id);
    if (q.next_page_token.empty()) break;
    page.page_token = q.next_page_token;
  }
  ASSERT_EQ(ids.size(), 9u);  // org created, key rotated, 6 issued, 1 revoked
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i - 1], ids[i]);
}

TYPED_TEST(TokenStoreConformanceTest, AuditTimeNeverGoesBackwards) {
  this->SetUpOrg("acme");
  this->clock_.Advance(-absl::Hours(1));
  this->Insert(this->NewToken("acme"));
  ASSERT_OK_AND_ASSIGN(auto p, this->store_->ListAuditEvents("acme", {}, {}));
  ASSERT_THAT(p.items, SizeIs(3));
  EXPECT_EQ(p.items[0].time, StartTime());
}

// --- Group commit ---

TYPED_TEST(TokenStoreConformanceTest, FailingWriteInABatchFailsOnlyItsCaller) {
  this->SetUpOrg("acme");
  const Token first = this->Insert(this->NewToken("acme"));
  constexpr int kThreads = 32;
  std::vector<Token> tokens;
  for (int i = 0; i < kThreads; ++i) {
    Token x = this->NewToken("acme");
    if (i % 4 == 0) x.key_id = "missing";  // fails inside the writer
    if (i % 8 == 1) x.id = first.id;       // fails in the database (UNIQUE)
    tokens.push_back(x);
  }
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = this->store_->InsertToken(tokens[i], {}).status();
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads; ++i) {
    if (i % 4 == 0) {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_THAT(this->store_->GetToken("acme", tokens[i].id),
                  StatusIs(absl::StatusCode::kNotFound));
    } else if (i % 8 == 1) {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kAlreadyExists));
    } else {
      EXPECT_OK(results[i]);
      EXPECT_OK(this->store_->GetToken("acme", tokens[i].id).status());
    }
  }
  EXPECT_EQ(this->TokenRows(), 1 + kThreads - kThreads / 4 - kThreads / 8);
}

// Writes that fail only in the database (PostgreSQL: inside a pipeline)
// among many that succeed: each caller gets its own answer.
TYPED_TEST(TokenStoreConformanceTest,
           DuplicateIdsInABatchFailOnlyTheirCallers) {
  this->SetUpOrg("acme");
  const Token first = this->Insert(this->NewToken("acme"));
  constexpr int kThreads = 16;
  constexpr int kEach = 20;
  std::vector<std::vector<Token>> tokens(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    for (int j = 0; j < kEach; ++j) {
      Token x = this->NewToken("acme");  // streams cam1, cam2
      if ((i + j) % 7 == 3) x.id = first.id;
      tokens[i].push_back(x);
    }
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (const Token& x : tokens[i]) {
        absl::StatusOr<InsertTokenResult> r = this->store_->InsertToken(x, {});
        if (x.id == first.id) {
          EXPECT_THAT(r, StatusIs(absl::StatusCode::kAlreadyExists));
        } else {
          EXPECT_OK(r.status());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  int created = 0;
  for (const auto& list : tokens) {
    for (const Token& x : list) {
      if (x.id == first.id) continue;
      ++created;
      ASSERT_OK_AND_ASSIGN(Token got, this->store_->GetToken("acme", x.id));
      EXPECT_EQ(got.streams, x.streams);
    }
  }
  EXPECT_EQ(this->TokenRows(), 1 + created);
  EXPECT_EQ(this->RawInt("SELECT count(*) FROM token_streams"),
            2 * (1 + created));
}

// A RevokeTokens batch that shares a writer batch with failing writes may
// run more than once: each run starts from the last committed batch.
TYPED_TEST(TokenStoreConformanceTest, RevokeTokensBesideFailingWrites) {
  this->revoke_batch_size_ = 2;
  this->Reopen();
  this->SetUpOrg("acme");
  constexpr int kTokens = 40;
  std::set<std::string> ids;
  for (int i = 0; i < kTokens; ++i) {
    Token t = this->NewToken("acme");
    t.tag = "game-1";
    ids.insert(this->Insert(t).id);
  }
  std::atomic<bool> done{false};
  std::vector<std::thread> failing;
  for (int i = 0; i < 16; ++i) {
    failing.emplace_back([&] {
      while (!done.load()) {
        Token x = this->NewToken("acme");
        x.key_id = "missing";  // fails inside the writer
        EXPECT_THAT(this->store_->InsertToken(x, {}),
                    StatusIs(absl::StatusCode::kInvalidArgument));
      }
    });
  }
  RevokeFilter f;
  f.tag = "game-1";
  absl::StatusOr<RevokeTokensResult> r =
      this->store_->RevokeTokens("acme", f, "", false, {});
  done = true;
  for (auto& th : failing) th.join();
  ASSERT_OK(r.status());
  EXPECT_EQ(r->count, kTokens);
  EXPECT_EQ(r->last_sequence, kTokens);
  ASSERT_OK_AND_ASSIGN(auto events,
                       this->store_->ListRevocationsSince(0, 2 * kTokens));
  ASSERT_THAT(events, SizeIs(kTokens));
  for (const auto& e : events) EXPECT_EQ(ids.count(e.token_id), 1u);
}

TYPED_TEST(TokenStoreConformanceTest, WritesSurviveReopen) {
  this->SetUpOrg("acme");
  Token t = this->Insert(this->NewToken("acme"));
  ASSERT_OK(this->store_->RevokeToken("acme", t.id, "x", {}).status());
  this->Reopen();
  ASSERT_OK_AND_ASSIGN(Token got, this->store_->GetToken("acme", t.id));
  EXPECT_EQ(got.revocation_sequence, 1);
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 1);
}

TYPED_TEST(TokenStoreConformanceTest, ShutdownRefusesWritesButKeepsReads) {
  this->SetUpOrg("acme");
  Token t = this->Insert(this->NewToken("acme"));
  ASSERT_OK(this->store_->TouchApiKey("nobody", this->clock_.Now()));
  ASSERT_OK(this->store_->Shutdown());
  EXPECT_THAT(this->store_->InsertToken(this->NewToken("acme"), {}),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_OK(this->store_->GetToken("acme", t.id).status());
  EXPECT_OK(this->store_->Shutdown());
}

// --- Retention ---

TYPED_TEST(TokenStoreConformanceTest,
           SweepRemovesLongExpiredTokensButKeepsAudit) {
  this->SetUpOrg("acme");
  Token old = this->NewToken("acme");
  old.streams = {"s1"};
  this->Insert(old);
  ASSERT_OK(this->store_->RevokeToken("acme", old.id, "", {}).status());
  Token fresh =
      this->NewToken("acme", absl::ZeroDuration(), absl::Hours(24 * 200));
  fresh.streams = {"s1"};
  this->Insert(fresh);
  const int64_t audits = this->AuditCount();
  this->clock_.Advance(absl::Hours(24 * 90));  // old expired 90d - 1h ago
  ASSERT_OK_AND_ASSIGN(int64_t n, this->RunRetentionSweep());
  EXPECT_EQ(n, 0);
  this->clock_.Advance(absl::Hours(2));
  ASSERT_OK_AND_ASSIGN(n, this->RunRetentionSweep());
  EXPECT_EQ(n, 1);
  EXPECT_THAT(this->store_->GetToken("acme", old.id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(this->store_->GetToken("acme", fresh.id).status());
  TokenFilter f;
  f.stream_name = "s1";
  EXPECT_THAT(this->store_->CountTokens("acme", f), IsOkAndHolds(1));
  EXPECT_EQ(this->RawInt("SELECT count(*) FROM token_streams"), 1);
  EXPECT_EQ(this->RawInt("SELECT count(*) FROM revocations"), 0);
  EXPECT_EQ(*this->store_->MaxRevocationSequence(), 1);  // never reused
  EXPECT_EQ(this->AuditCount(), audits);
  AuditFilter af;
  af.token_id = old.id;
  ASSERT_OK_AND_ASSIGN(auto ev, this->store_->ListAuditEvents("acme", af, {}));
  EXPECT_THAT(ev.items, SizeIs(2));
  Token next = this->Insert(this->NewToken("acme"));
  ASSERT_OK_AND_ASSIGN(Token r,
                       this->store_->RevokeToken("acme", next.id, "", {}));
  EXPECT_EQ(r.revocation_sequence, 2);
}

TYPED_TEST(TokenStoreConformanceTest, BackgroundSweepRuns) {
  this->store_.reset();
  testing::StoreKnobs k = this->Knobs();
  k.sweep_interval = absl::Milliseconds(20);
  k.touch_flush_interval = absl::Milliseconds(20);
  k.sweep_batch_size = 2;
  this->Reopen(k);
  this->SetUpOrg("acme");
  for (int i = 0; i < 5; ++i) this->Insert(this->NewToken("acme"));
  this->clock_.Advance(absl::Hours(24 * 91));
  for (int i = 0; i < 500 && this->TokenRows() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(this->TokenRows(), 0);
}

}  // namespace
}  // namespace token_authority::storage

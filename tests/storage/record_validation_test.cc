#include "storage/record_validation.h"

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::token_authority::testing::IsOk;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

MATCHER_P(InvalidField, field,
          "is InvalidArgument naming " + std::string(field)) {
  return arg.code() == absl::StatusCode::kInvalidArgument &&
         absl::StartsWith(arg.message(), std::string(field) + ":");
}

TEST(TokenIdTest, EncodesAndDecodes128Bits) {
  const std::string bytes16(
      "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\xfc\xfd\xfe\xff", 16);
  const std::string id = EncodeTokenId(bytes16);
  EXPECT_EQ(id.size(), 22u);
  EXPECT_EQ(id, "AAECAwQFBgcICQoL_P3-_w");
  EXPECT_THAT(DecodeTokenId(id), IsOkAndHolds(bytes16));
}

TEST(TokenIdTest, RefusesWrongLengthAlphabetAndNonCanonical) {
  EXPECT_THAT(DecodeTokenId("short").status(), InvalidField("token_id"));
  EXPECT_THAT(DecodeTokenId("AAECAwQFBgcICQoL_P3-_w=").status(),
              InvalidField("token_id"));
  EXPECT_THAT(DecodeTokenId("AAECAwQFBgcICQoL+P3/_w").status(),
              InvalidField("token_id"));
  // Last character carries 2 data bits: 'x' (49 = 110001b) sets unused bits.
  EXPECT_THAT(DecodeTokenId("AAECAwQFBgcICQoL_P3-_x", "id").status(),
              InvalidField("id"));
}

TEST(CheckTextTest, LengthIsInCharactersAndControlsAreRefused) {
  EXPECT_THAT(CheckText(std::string(128, 'a'), "tag", 128), IsOk());
  EXPECT_THAT(CheckText(std::string(129, 'a'), "tag", 128),
              InvalidField("tag"));
  std::string umlauts;
  for (int i = 0; i < 128; ++i) umlauts += "\xc3\xbc";  // ü, 2 bytes each
  EXPECT_THAT(CheckText(umlauts, "tag", 128), IsOk());
  EXPECT_THAT(CheckText("a\tb", "tag", 128), InvalidField("tag"));
  EXPECT_THAT(CheckText("a\x7f", "tag", 128), InvalidField("tag"));
  EXPECT_THAT(CheckText("\xc2\x85", "tag", 128), InvalidField("tag"));  // NEL
  EXPECT_THAT(CheckText("\xff", "tag", 128), InvalidField("tag"));
  EXPECT_THAT(CheckText("\xc0\xaf", "tag", 128),
              InvalidField("tag"));  // overlong
  EXPECT_THAT(CheckText("\xed\xa0\x80", "tag", 128), InvalidField("tag"));
  EXPECT_THAT(CheckText("\xe2\x82", "tag", 128), InvalidField("tag"));
  EXPECT_THAT(CheckText("", "tag", 128), IsOk());
  EXPECT_THAT(CheckText("", "name", 128, true), InvalidField("name"));
}

TEST(CheckIdentifierTest, AllowsOnlyTheSafeAlphabet) {
  EXPECT_THAT(CheckIdentifier("org_1.a-b", "id", 64), IsOk());
  EXPECT_THAT(CheckIdentifier("", "id", 64), InvalidField("id"));
  EXPECT_THAT(CheckIdentifier("a b", "id", 64), InvalidField("id"));
  EXPECT_THAT(CheckIdentifier("a'; DROP", "id", 64), InvalidField("id"));
  EXPECT_THAT(CheckIdentifier(std::string(65, 'a'), "id", 64),
              InvalidField("id"));
}

TEST(CheckTokenTest, ChecksEveryField) {
  FakeRandom random(1);
  const Token good =
      testing::MakeToken(random, "acme", "k", testing::StartTime());
  EXPECT_THAT(CheckToken(good), IsOk());
  auto with = [&](auto mutate) {
    Token t = good;
    mutate(t);
    return CheckToken(t);
  };
  EXPECT_THAT(with([](Token& t) { t.organization_id = ""; }),
              InvalidField("organization_id"));
  EXPECT_THAT(with([](Token& t) { t.streams.clear(); }),
              InvalidField("streams"));
  EXPECT_THAT(
      with([](Token& t) { t.streams = std::vector<std::string>(101, "s"); }),
      InvalidField("streams"));
  EXPECT_THAT(with([](Token& t) {
                t.streams = {"a", "a"};
              }),
              InvalidField("streams"));
  EXPECT_THAT(with([](Token& t) { t.streams = {"a,b"}; }),
              InvalidField("streams"));
  EXPECT_THAT(with([](Token& t) { t.stream_group_id = "g"; }),
              InvalidField("stream_group_id"));
  EXPECT_THAT(with([](Token& t) {
                t.target_kind = token::Target::Kind::kStreamGroup;
                t.streams.clear();
              }),
              InvalidField("stream_group_id"));
  EXPECT_THAT(with([](Token& t) {
                t.target_kind = token::Target::Kind::kOrganization;
              }),
              InvalidField("target"));
  EXPECT_THAT(with([](Token& t) {
                t.target_kind = static_cast<token::Target::Kind>(9);
              }),
              InvalidField("target"));
  EXPECT_THAT(with([](Token& t) { t.not_before = absl::InfiniteFuture(); }),
              InvalidField("not_before"));
  EXPECT_THAT(with([](Token& t) { t.expires_at = t.not_before; }),
              InvalidField("expires_at"));
  EXPECT_THAT(with([](Token& t) { t.client_ip = std::string(65, '1'); }),
              InvalidField("client_ip"));
  EXPECT_THAT(with([](Token& t) { t.domain = std::string(256, 'd'); }),
              InvalidField("domain"));
  EXPECT_THAT(with([](Token& t) { t.key_id = "has space"; }),
              InvalidField("key_id"));
  EXPECT_THAT(
      with([](Token& t) { t.algorithm = static_cast<token::Algorithm>(9); }),
      InvalidField("algorithm"));
  EXPECT_THAT(with([](Token& t) { t.jwt_sha256 = "short"; }),
              InvalidField("jwt_sha256"));
  EXPECT_THAT(with([](Token& t) { t.issued_by = "bad id"; }),
              InvalidField("issued_by"));
  EXPECT_THAT(with([](Token& t) { t.request_id = std::string(129, 'r'); }),
              InvalidField("request_id"));
  EXPECT_THAT(with([](Token& t) { t.spec_fingerprint = std::string(65, 'f'); }),
              InvalidField("spec_fingerprint"));
}

TEST(CheckOtherRecordsTest, ApiKeysKeysFiltersAndPages) {
  ApiKey k;
  k.id = "k1";
  k.secret_hash = testing::Sha('s');
  EXPECT_THAT(CheckApiKey(k), IsOk());
  k.role = static_cast<ApiKeyRole>(0);
  EXPECT_THAT(CheckApiKey(k), InvalidField("role"));
  k.role = ApiKeyRole::kIssuer;
  k.secret_hash = "x";
  EXPECT_THAT(CheckApiKey(k), InvalidField("secret_hash"));

  SigningKey sk = testing::MakeKey("acme", "kid");
  EXPECT_THAT(CheckSigningKey(sk), IsOk());
  sk.algorithm = static_cast<token::Algorithm>(0);
  EXPECT_THAT(CheckSigningKey(sk), InvalidField("algorithm"));
  sk.algorithm = token::Algorithm::kHs256;
  sk.state = static_cast<token::KeyState>(4);
  EXPECT_THAT(CheckSigningKey(sk), InvalidField("state"));
  sk.state = token::KeyState::kRetired;
  EXPECT_THAT(CheckSigningKey(sk), IsOk());
  sk.private_key.clear();
  EXPECT_THAT(CheckSigningKey(sk), InvalidField("private_key"));

  EXPECT_THAT(CheckRevokeFilter({}), InvalidField("filter"));
  RevokeFilter rf;
  rf.stream_name = "bad name";
  EXPECT_THAT(CheckRevokeFilter(rf), InvalidField("stream_name"));
  rf.stream_name = "cam1";
  for (TokenState ok : {TokenState::kActive, TokenState::kNotYetValid}) {
    rf.state = ok;
    EXPECT_THAT(CheckRevokeFilter(rf), IsOk());
  }
  for (TokenState bad : {TokenState::kExpired, TokenState::kRevoked,
                         static_cast<TokenState>(9)}) {
    rf.state = bad;
    EXPECT_THAT(CheckRevokeFilter(rf), InvalidField("state"));
  }
  rf.state = TokenState::kExpired;
  EXPECT_THAT(CheckRevokeFilter(rf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "state: only active or not yet valid tokens can be "
                       "revoked"));
  // A state alone does not narrow enough.
  RevokeFilter state_only;
  state_only.state = TokenState::kActive;
  EXPECT_THAT(CheckRevokeFilter(state_only), InvalidField("filter"));
  AuditFilter af;
  af.action = static_cast<AuditAction>(77);
  EXPECT_THAT(CheckAuditFilter(af), InvalidField("action"));
  TokenFilter tf;
  tf.issued_after = absl::InfinitePast();
  EXPECT_THAT(CheckTokenFilter(tf), InvalidField("issued_after"));

  EXPECT_THAT(EffectivePageSize(0), IsOkAndHolds(kDefaultPageSize));
  EXPECT_THAT(EffectivePageSize(1000), IsOkAndHolds(1000));
  EXPECT_THAT(EffectivePageSize(1001).status(), InvalidField("page_size"));
  EXPECT_THAT(EffectivePageSize(-3).status(), InvalidField("page_size"));
  EXPECT_THAT(CheckOrganizationUpdate({}), InvalidField("update"));
  AuditContext ctx;
  ctx.actor = "not valid";
  EXPECT_THAT(CheckAuditContext(ctx), InvalidField("actor"));
}

}  // namespace
}  // namespace token_authority::storage

#include "server/proto_conversion.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using token_authority::testing::IsOkAndHolds;
using token_authority::testing::StatusIs;

TEST(ProtoConversionTest, Enumerations) {
  for (auto role :
       {storage::ApiKeyRole::kAdmin, storage::ApiKeyRole::kIssuer,
        storage::ApiKeyRole::kVerifier, storage::ApiKeyRole::kAuditor}) {
    EXPECT_THAT(FromProto(ToProto(role)), IsOkAndHolds(role));
  }
  EXPECT_THAT(FromProto(v1::API_KEY_ROLE_UNSPECIFIED),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("role")));
  EXPECT_THAT(FromProto(static_cast<v1::ApiKeyRole>(42)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  for (auto state :
       {storage::TokenState::kActive, storage::TokenState::kNotYetValid,
        storage::TokenState::kExpired, storage::TokenState::kRevoked}) {
    absl::StatusOr<std::optional<storage::TokenState>> back =
        FromProto(ToProto(state));
    ASSERT_OK(back.status());
    EXPECT_EQ(*back, state);
  }
  absl::StatusOr<std::optional<storage::TokenState>> any =
      FromProto(v1::TOKEN_STATE_UNSPECIFIED);
  ASSERT_OK(any.status());
  EXPECT_FALSE(any->has_value());
}

TEST(ProtoConversionTest, Filters) {
  v1::ListTokensRequest list;
  list.set_tag("t");
  list.set_stream_name("s");
  list.set_state(v1::TOKEN_STATE_EXPIRED);
  list.mutable_issued_after()->set_seconds(10);
  ASSERT_OK_AND_ASSIGN(storage::TokenFilter f, FromProto(list));
  EXPECT_EQ(f.tag, "t");
  EXPECT_EQ(f.stream_name, "s");
  EXPECT_EQ(f.state, storage::TokenState::kExpired);
  EXPECT_EQ(f.issued_after, absl::FromUnixSeconds(10));
  EXPECT_FALSE(f.issued_before.has_value());
  list.mutable_issued_before()->set_nanos(2000000000);
  EXPECT_THAT(FromProto(list), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("issued_before")));

  v1::ListAuditEventsRequest audit;
  audit.set_action("token.revoked");
  audit.mutable_since()->set_seconds(5);
  ASSERT_OK_AND_ASSIGN(storage::AuditFilter a, FromProto(audit));
  EXPECT_EQ(a.action, storage::AuditAction::kTokenRevoked);
  EXPECT_EQ(a.since, absl::FromUnixSeconds(5));
  audit.set_action("bogus");
  EXPECT_THAT(FromProto(audit), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("action")));

  v1::RevokeTokensRequest revoke;
  revoke.set_user_id("u");
  revoke.set_stream_group_id("g");
  ASSERT_OK_AND_ASSIGN(storage::RevokeFilter r, FromProto(revoke));
  EXPECT_EQ(r.user_id, "u");
  EXPECT_EQ(r.stream_group_id, "g");
  EXPECT_EQ(r.tag, "");
  EXPECT_FALSE(r.state.has_value());
  revoke.set_state(v1::TOKEN_STATE_NOT_YET_VALID);
  ASSERT_OK_AND_ASSIGN(r, FromProto(revoke));
  EXPECT_EQ(r.state, storage::TokenState::kNotYetValid);
  revoke.set_state(static_cast<v1::TokenState>(42));
  EXPECT_THAT(FromProto(revoke),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("state: unknown value 42")));
}

TEST(ProtoConversionTest, OrganizationStateToProto) {
  OrganizationState state;
  state.organization_id = "org_0102030405060708";
  state.secure_enabled = true;
  state.jwks_sha256 = std::string(64, 'a');
  state.changed_at = absl::FromUnixSeconds(1700000000);
  state.version = 7;
  v1::OrganizationStateEvent event;
  ToProto(state, &event);
  EXPECT_EQ(event.organization_id(), "org_0102030405060708");
  EXPECT_TRUE(event.secure_enabled());
  EXPECT_EQ(event.jwks_sha256(), std::string(64, 'a'));
  EXPECT_EQ(event.changed_at().seconds(), 1700000000);
  EXPECT_FALSE(event.snapshot());
}

TEST(ProtoConversionTest, TokenRecordToProto) {
  TokenRecord rec;
  rec.token.id = "AAAAAAAAAAAAAAAAAAAAAA";
  rec.token.organization_id = "org";
  rec.token.target_kind = token::Target::Kind::kStreams;
  rec.token.streams = {"a"};
  rec.token.issued_at = absl::FromUnixSeconds(100);
  rec.token.not_before = absl::FromUnixSeconds(100);
  rec.token.expires_at = absl::FromUnixSeconds(200);
  rec.token.key_id = "kid";
  rec.token.algorithm = token::Algorithm::kEdDsa;
  rec.token.revoked_at = absl::FromUnixSeconds(150);
  rec.token.revocation_reason = "why";
  rec.token.issued_by = "k1";
  rec.token.request_id = "r";
  rec.state = storage::TokenState::kRevoked;
  v1::Token t;
  ToProto(rec, &t);
  EXPECT_EQ(t.id(), rec.token.id);
  EXPECT_EQ(t.target().stream_names().names(0), "a");
  EXPECT_EQ(t.expires_at().seconds(), 200);
  EXPECT_EQ(t.algorithm(), v1::ALGORITHM_EDDSA);
  EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
  EXPECT_EQ(t.revoked_at().seconds(), 150);
  EXPECT_EQ(t.revocation_reason(), "why");
  EXPECT_EQ(t.issued_by(), "k1");
  EXPECT_EQ(t.request_id(), "r");
  rec.token.revoked_at.reset();
  rec.token.target_kind = token::Target::Kind::kOrganization;
  t.Clear();
  ToProto(rec, &t);
  EXPECT_FALSE(t.has_revoked_at());
  EXPECT_TRUE(t.target().organization());
}

TEST(ProtoConversionTest, VerifyResultToProto) {
  token::VerifyResult r =
      token::VerifyResult::Deny(token::DenyReason::kExpired, "It expired.");
  v1::VerifyTokenResponse out;
  ToProto(r, &out);
  EXPECT_FALSE(out.allowed());
  EXPECT_EQ(out.reason(), v1::DENY_REASON_EXPIRED);
  EXPECT_EQ(out.detail(), "It expired.");
  token::VerifyResult ok;
  ok.allowed = true;
  ok.token_id = "id";
  out.Clear();
  ToProto(ok, &out);
  EXPECT_TRUE(out.allowed());
  EXPECT_EQ(out.reason(), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(out.token_id(), "id");
}

TEST(ProtoConversionTest, ValidUtf8ReplacesWhatIsNotUtf8) {
  EXPECT_EQ(ValidUtf8("plain"), "plain");
  EXPECT_EQ(ValidUtf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x8e\xa5"),
            "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x8e\xa5");
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(ValidUtf8("a\xff"
                      "b"),
            "a" + r + "b");
  EXPECT_EQ(ValidUtf8("\x80"), r);                          // lone continuation
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), r + r);                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xe0\x80\xaf"), r + r + r);          // overlong 3-byte
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), r + r + r);          // surrogate D800
  EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80"), r + r + r + r);  // > U+10FFFF
  EXPECT_EQ(ValidUtf8("\xe2\x82"), r + r);                  // truncated
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(ProtoConversionTest, DecodeOfInvalidUtf8Serializes) {
  DecodeResult d;
  d.decoded.header_json = "{\"alg\":\"ES256\",\"kid\":\"\xff\xfe\"}";
  d.decoded.payload_json = "\x80";
  d.decoded.partial_claims.tag = "t\xff";
  d.problems.push_back("kid \"\xff\" is unknown");
  v1::DecodeTokenResponse out;
  ToProto(d, &out);
  std::string wire;
  EXPECT_TRUE(out.SerializeToString(&wire));
  EXPECT_EQ(out.token().tag(), "t\xef\xbf\xbd");
}

TEST(ProtoConversionTest, RecordsToProto) {
  storage::SigningKey key;
  key.organization_id = "org";
  key.kid = "kid";
  key.algorithm = token::Algorithm::kHs256;
  key.state = token::KeyState::kRetired;
  key.created_at = absl::FromUnixSeconds(1);
  key.retired_at = absl::FromUnixSeconds(2);
  key.private_key = "secret material";
  v1::SigningKey k;
  ToProto(key, &k);
  EXPECT_EQ(k.algorithm(), v1::ALGORITHM_HS256);
  EXPECT_EQ(k.state(), v1::SIGNING_KEY_STATE_RETIRED);
  EXPECT_EQ(k.retired_at().seconds(), 2);
  EXPECT_THAT(k.DebugString(), ::testing::Not(HasSubstr("secret material")));

  storage::AuditEvent e;
  e.id = 7;
  e.action = storage::AuditAction::kTokensRevoked;
  e.detail = "3 tokens";
  v1::AuditEvent a;
  ToProto(e, &a);
  EXPECT_EQ(a.id(), 7);
  EXPECT_EQ(a.action(), "tokens.revoked");
  EXPECT_EQ(a.detail(), "3 tokens");

  storage::ApiKey api;
  api.id = "k";
  api.role = storage::ApiKeyRole::kAuditor;
  api.secret_hash = std::string(32, 'h');
  api.last_used_at = absl::FromUnixSeconds(60);
  v1::ApiKey ak;
  ToProto(api, &ak);
  EXPECT_EQ(ak.role(), v1::API_KEY_ROLE_AUDITOR);
  EXPECT_EQ(ak.last_used_at().seconds(), 60);
  EXPECT_FALSE(ak.has_revoked_at());

  storage::RevocationEvent rev;
  rev.sequence = 9;
  rev.token_id = "t";
  rev.organization_id = "o";
  rev.revoked_at = absl::FromUnixSeconds(3);
  rev.expires_at = absl::FromUnixSeconds(4);
  v1::RevocationEvent re;
  ToProto(rev, &re);
  EXPECT_EQ(re.sequence(), 9);
  EXPECT_EQ(re.expires_at().seconds(), 4);
}

}  // namespace
}  // namespace token_authority::server

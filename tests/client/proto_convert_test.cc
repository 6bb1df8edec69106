#include "client/proto_convert.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "base/random.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::ElementsAre;

TEST(ProtoConvertTest, TimestampsRoundTripIncludingBeforeTheEpoch) {
  for (absl::Time t :
       {absl::UnixEpoch(), absl::FromUnixSeconds(1740830400),
        absl::FromUnixSeconds(1740830400) + absl::Nanoseconds(123456789),
        absl::FromUnixSeconds(-1) + absl::Milliseconds(250)}) {
    const google::protobuf::Timestamp ts = ToProtoTimestamp(t);
    EXPECT_GE(ts.nanos(), 0);
    EXPECT_LT(ts.nanos(), 1000000000);
    EXPECT_EQ(FromProtoTimestamp(ts), t);
  }
  const google::protobuf::Timestamp before =
      ToProtoTimestamp(absl::FromUnixSeconds(-1) + absl::Milliseconds(250));
  EXPECT_EQ(before.seconds(), -1);
  EXPECT_EQ(before.nanos(), 250000000);
}

TEST(ProtoConvertTest, Durations) {
  const google::protobuf::Duration d =
      ToProtoDuration(absl::Hours(24 * 14) + absl::Milliseconds(5));
  EXPECT_EQ(d.seconds(), 14 * 24 * 3600);
  EXPECT_EQ(d.nanos(), 5000000);
  EXPECT_EQ(FromProtoDuration(d), absl::Hours(24 * 14) + absl::Milliseconds(5));
}

TEST(ProtoConvertTest, Targets) {
  EXPECT_EQ(ToProtoTarget(token::Target::StreamGroup("g")).stream_group_id(),
            "g");
  EXPECT_THAT(
      ToProtoTarget(token::Target::Streams({"a", "b"})).stream_names().names(),
      ElementsAre("a", "b"));
  // An empty list still selects the kind.
  EXPECT_EQ(ToProtoTarget(token::Target::Streams({})).kind_case(),
            v1::Target::kStreamNames);
  EXPECT_TRUE(ToProtoTarget(token::Target::Organization()).organization());
  for (const token::Target& t :
       {token::Target::StreamGroup("g"), token::Target::Streams({"x"}),
        token::Target::Organization()}) {
    EXPECT_EQ(FromProtoTarget(ToProtoTarget(t)), t);
  }
  EXPECT_FALSE(FromProtoTarget(v1::Target()).has_value());
  v1::Target org_false;
  org_false.set_organization(false);
  EXPECT_FALSE(FromProtoTarget(org_false).has_value());
}

TEST(ProtoConvertTest, SpecLeavesUnsetFieldsUnset) {
  token::TokenSpec spec;
  spec.target = token::Target::StreamGroup("g");
  spec.tag = "t";
  v1::TokenSpec p = ToProtoSpec(spec);
  EXPECT_FALSE(p.has_lifetime());
  EXPECT_FALSE(p.has_expires_at());
  EXPECT_FALSE(p.has_not_before());
  EXPECT_EQ(p.tag(), "t");
  spec.lifetime = absl::Hours(2);
  spec.not_before = absl::FromUnixSeconds(100);
  p = ToProtoSpec(spec);
  EXPECT_EQ(p.lifetime().seconds(), 7200);
  EXPECT_EQ(p.not_before().seconds(), 100);
}

TEST(ProtoConvertTest, TokenFromClaims) {
  FakeRandom random;
  token::ClaimsBuilder b;
  b.SetIssuer("iss")
      .SetIssuedAt(absl::FromUnixSeconds(1000))
      .SetExpiresAt(absl::FromUnixSeconds(5000))
      .SetOrganizationId("org-1")
      .SetTarget(token::Target::Streams({"s"}))
      .SetClientIp("10.0.0.0/8")
      .SetDomain("example.com")
      .SetUserId("u")
      .SetTag("t");
  ASSERT_OK_AND_ASSIGN(token::Claims claims, b.Build(random));
  const v1::Token t = TokenFromClaims(claims);
  EXPECT_EQ(t.id(), claims.token_id());
  EXPECT_EQ(t.organization_id(), "org-1");
  EXPECT_THAT(t.target().stream_names().names(), ElementsAre("s"));
  EXPECT_EQ(t.issued_at().seconds(), 1000);
  EXPECT_EQ(t.not_before().seconds(), 1000);
  EXPECT_EQ(t.expires_at().seconds(), 5000);
  EXPECT_EQ(t.client_ip(), "10.0.0.0/8");
  EXPECT_EQ(t.domain(), "example.com");
  EXPECT_EQ(t.user_id(), "u");
  EXPECT_EQ(t.tag(), "t");
}

TEST(ProtoConvertTest, EnumsAndTexts) {
  for (int r = 0; r <= token::kMaxDenyReason; ++r) {
    EXPECT_EQ(
        static_cast<int>(ToProtoDenyReason(static_cast<token::DenyReason>(r))),
        r);
  }
  EXPECT_EQ(ToProtoAlgorithm(token::Algorithm::kEdDsa), v1::ALGORITHM_EDDSA);
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_EDDSA), "EdDSA");
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_UNSPECIFIED), "unspecified");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_NOT_YET_VALID), "not_yet_valid");
  EXPECT_EQ(DenyReasonText(v1::DENY_REASON_IP_MISMATCH), "ip_mismatch");
  EXPECT_EQ(ApiKeyRoleText(v1::API_KEY_ROLE_VERIFIER), "verifier");
  EXPECT_EQ(SigningKeyStateText(v1::SIGNING_KEY_STATE_RETIRED), "retired");
}

TEST(ProtoConvertTest, DescribeTarget) {
  v1::Target t;
  EXPECT_EQ(DescribeTarget(t), "none");
  t.set_stream_group_id("abc");
  EXPECT_EQ(DescribeTarget(t), "entire stream group abc");
  t.mutable_stream_names()->add_names("a");
  EXPECT_EQ(DescribeTarget(t), "stream a");
  t.mutable_stream_names()->add_names("b");
  EXPECT_EQ(DescribeTarget(t), "streams a, b");
  t.set_organization(true);
  EXPECT_EQ(DescribeTarget(t), "entire organisation");
}

}  // namespace
}  // namespace token_authority::client

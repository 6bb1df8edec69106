#include "convert/proto_convert.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::convert {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using token_authority::testing::IsOkAndHolds;
using token_authority::testing::StatusIs;

TEST(ProtoConvertTest, TimestampsRoundTripIncludingBeforeTheEpoch) {
  for (absl::Time t :
       {absl::UnixEpoch(), absl::FromUnixSeconds(1740830400),
        absl::FromUnixSeconds(1740830400) + absl::Nanoseconds(123456789),
        absl::FromUnixSeconds(-1) + absl::Milliseconds(250)}) {
    const google::protobuf::Timestamp ts = ToProtoTimestamp(t);
    EXPECT_GE(ts.nanos(), 0);
    EXPECT_LT(ts.nanos(), 1000000000);
    EXPECT_EQ(FromProtoTimestamp(ts), t);
    EXPECT_THAT(FromProtoTimestamp(ts, "x"), IsOkAndHolds(t));
  }
  const google::protobuf::Timestamp before =
      ToProtoTimestamp(absl::FromUnixSeconds(-1) + absl::Milliseconds(250));
  EXPECT_EQ(before.seconds(), -1);
  EXPECT_EQ(before.nanos(), 250000000);
}

TEST(ProtoConvertTest, ReceivedTimestampsAreRangeChecked) {
  google::protobuf::Timestamp ts;
  ts.set_nanos(-1);
  EXPECT_THAT(
      FromProtoTimestamp(ts, "not_before"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not_before")));
  ts.set_nanos(0);
  ts.set_seconds(253402300800);  // 10000-01-01
  EXPECT_THAT(
      FromProtoTimestamp(ts, "expires_at"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expires_at")));
  ts.set_seconds(253402300799);  // 9999-12-31T23:59:59Z
  EXPECT_OK(FromProtoTimestamp(ts, "expires_at").status());
}

TEST(ProtoConvertTest, Durations) {
  const google::protobuf::Duration d =
      ToProtoDuration(absl::Hours(24 * 14) + absl::Milliseconds(5));
  EXPECT_EQ(d.seconds(), 14 * 24 * 3600);
  EXPECT_EQ(d.nanos(), 5000000);
  EXPECT_THAT(FromProtoDuration(d, "lifetime"),
              IsOkAndHolds(absl::Hours(24 * 14) + absl::Milliseconds(5)));
  google::protobuf::Duration neg;
  neg.set_seconds(-1);
  EXPECT_THAT(FromProtoDuration(neg, "lifetime"),
              IsOkAndHolds(absl::Seconds(-1)));
  neg.set_nanos(5);  // mixed signs
  EXPECT_THAT(
      FromProtoDuration(neg, "lifetime"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lifetime")));
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

TEST(ProtoConvertTest, SpecToProtoLeavesUnsetFieldsUnset) {
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
  // And back.
  std::vector<token::FieldViolation> violations;
  const token::TokenSpec back = FromProtoSpec(p, &violations);
  EXPECT_THAT(violations, IsEmpty());
  EXPECT_EQ(back.target, spec.target);
  EXPECT_EQ(back.lifetime, spec.lifetime);
  EXPECT_EQ(back.not_before, spec.not_before);
  EXPECT_FALSE(back.expires_at.has_value());
  EXPECT_EQ(back.tag, "t");
}

TEST(ProtoConvertTest, SpecFromProto) {
  v1::TokenSpec spec;
  spec.mutable_target()->mutable_stream_names()->add_names("a");
  spec.mutable_target()->mutable_stream_names()->add_names("b");
  spec.mutable_lifetime()->set_seconds(3600);
  spec.mutable_not_before()->set_seconds(1767225600);
  spec.set_client_ip("10.0.0.0/8");
  spec.set_domain("*.example.com");
  spec.set_user_id("u");
  spec.set_tag("t");
  std::vector<token::FieldViolation> violations;
  token::TokenSpec out = FromProtoSpec(spec, &violations);
  EXPECT_THAT(violations, IsEmpty());
  ASSERT_TRUE(out.target.has_value());
  EXPECT_THAT(out.target->stream_names(), ElementsAre("a", "b"));
  EXPECT_EQ(out.lifetime, absl::Hours(1));
  EXPECT_FALSE(out.expires_at.has_value());
  EXPECT_EQ(out.not_before, absl::FromUnixSeconds(1767225600));
  EXPECT_EQ(out.client_ip, "10.0.0.0/8");
  EXPECT_EQ(out.domain, "*.example.com");
  EXPECT_EQ(out.user_id, "u");
  EXPECT_EQ(out.tag, "t");

  v1::TokenSpec bad;
  bad.mutable_target()->set_organization(false);
  bad.mutable_expires_at()->set_nanos(-3);
  bad.mutable_lifetime()->set_seconds(5);
  bad.mutable_lifetime()->set_nanos(-5);
  out = FromProtoSpec(bad, &violations);
  EXPECT_FALSE(out.target.has_value());
  EXPECT_FALSE(out.lifetime.has_value());
  ASSERT_EQ(violations.size(), 3u);
  EXPECT_EQ(violations[0].field, "target");
  EXPECT_EQ(violations[1].field, "lifetime");
  EXPECT_EQ(violations[2].field, "expires_at");
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

TEST(ProtoConvertTest, DenyReasonsAndAlgorithms) {
  for (int r = 0; r <= token::kMaxDenyReason; ++r) {
    EXPECT_EQ(
        static_cast<int>(ToProtoDenyReason(static_cast<token::DenyReason>(r))),
        r);
  }
  EXPECT_EQ(ToProtoDenyReason(token::DenyReason::kRevoked),
            v1::DENY_REASON_REVOKED);
  // Never "allowed" for a value the enum does not know.
  EXPECT_EQ(ToProtoDenyReason(static_cast<token::DenyReason>(99)),
            v1::DENY_REASON_MALFORMED);
  for (token::Algorithm a :
       {token::Algorithm::kEs256, token::Algorithm::kRs256,
        token::Algorithm::kEdDsa, token::Algorithm::kHs256}) {
    EXPECT_THAT(FromProtoAlgorithm(ToProtoAlgorithm(a)), IsOkAndHolds(a));
  }
  EXPECT_EQ(ToProtoAlgorithm(token::Algorithm::kEdDsa), v1::ALGORITHM_EDDSA);
  EXPECT_THAT(FromProtoAlgorithm(v1::ALGORITHM_UNSPECIFIED),
              IsOkAndHolds(token::Algorithm::kEs256));
  EXPECT_THAT(
      FromProtoAlgorithm(static_cast<v1::Algorithm>(9)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("algorithm")));
}

}  // namespace
}  // namespace token_authority::convert

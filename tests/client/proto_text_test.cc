#include "client/proto_text.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

TEST(ProtoTextTest, EnumTexts) {
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_EDDSA), "EdDSA");
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_UNSPECIFIED), "unspecified");
  EXPECT_EQ(AlgorithmText(static_cast<v1::Algorithm>(77)), "unknown");
  EXPECT_EQ(ApiKeyRoleText(v1::API_KEY_ROLE_VERIFIER), "verifier");
  EXPECT_EQ(SigningKeyStateText(v1::SIGNING_KEY_STATE_RETIRED), "retired");
  EXPECT_EQ(TokenStateText(static_cast<v1::TokenState>(77)), "unknown");
}

// One spelling per value: words joined by '-', never '_' or the enum name.
TEST(ProtoTextTest, EveryTokenStateAndDenyReasonInOneSpelling) {
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_ACTIVE), "active");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_NOT_YET_VALID), "not-yet-valid");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_EXPIRED), "expired");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_REVOKED), "revoked");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_INVALID), "invalid");
  EXPECT_EQ(DenyReasonText(v1::DENY_REASON_IP_MISMATCH), "ip-mismatch");
  EXPECT_EQ(DenyReasonText(v1::DENY_REASON_NOT_YET_VALID), "not-yet-valid");
  for (int i = 0; i < v1::DenyReason_descriptor()->value_count(); ++i) {
    const std::string text =
        EnumValueText(*v1::DenyReason_descriptor()->value(i));
    EXPECT_EQ(text.find('_'), std::string::npos) << text;
    EXPECT_EQ(text.find("DENY"), std::string::npos) << text;
  }
  EXPECT_EQ(EnumValueText(*v1::Algorithm_descriptor()->FindValueByNumber(
                v1::ALGORITHM_ES256)),
            "ES256");
}

TEST(ProtoTextTest, UtcSecondsText) {
  const absl::Time t = absl::FromUnixSeconds(1740830400);
  EXPECT_EQ(UtcSecondsText(t), "2025-03-01T12:00:00Z");
  // A fraction is cut, not rounded up.
  EXPECT_EQ(UtcSecondsText(t + absl::Milliseconds(999)),
            "2025-03-01T12:00:00Z");
  EXPECT_EQ(UtcSecondsText(absl::FromUnixSeconds(0)), "1970-01-01T00:00:00Z");
}

TEST(ProtoTextTest, DescribeTarget) {
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

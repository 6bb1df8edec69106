#include "client/proto_text.h"

#include "gtest/gtest.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;

TEST(ProtoTextTest, EnumTexts) {
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_EDDSA), "EdDSA");
  EXPECT_EQ(AlgorithmText(v1::ALGORITHM_UNSPECIFIED), "unspecified");
  EXPECT_EQ(TokenStateText(v1::TOKEN_STATE_NOT_YET_VALID), "not_yet_valid");
  EXPECT_EQ(DenyReasonText(v1::DENY_REASON_IP_MISMATCH), "ip_mismatch");
  EXPECT_EQ(ApiKeyRoleText(v1::API_KEY_ROLE_VERIFIER), "verifier");
  EXPECT_EQ(SigningKeyStateText(v1::SIGNING_KEY_STATE_RETIRED), "retired");
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

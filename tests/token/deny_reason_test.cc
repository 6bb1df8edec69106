#include "token/deny_reason.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace token_authority::token {
namespace {

TEST(DenyReasonTest, ValuesAndNamesMirrorProto) {
  const std::pair<DenyReason, const char*> kAll[] = {
      {DenyReason::kUnspecified, "UNSPECIFIED"},
      {DenyReason::kMalformed, "MALFORMED"},
      {DenyReason::kUnsupportedAlgorithm, "UNSUPPORTED_ALGORITHM"},
      {DenyReason::kUnknownKey, "UNKNOWN_KEY"},
      {DenyReason::kBadSignature, "BAD_SIGNATURE"},
      {DenyReason::kExpired, "EXPIRED"},
      {DenyReason::kNotYetValid, "NOT_YET_VALID"},
      {DenyReason::kRevoked, "REVOKED"},
      {DenyReason::kTargetMismatch, "TARGET_MISMATCH"},
      {DenyReason::kIpMismatch, "IP_MISMATCH"},
      {DenyReason::kDomainMismatch, "DOMAIN_MISMATCH"},
      {DenyReason::kOrganizationDisabled, "ORGANIZATION_DISABLED"},
  };
  std::set<std::string> sentences;
  int expected = 0;
  for (const auto& [reason, name] : kAll) {
    EXPECT_EQ(static_cast<int>(reason), expected++);
    EXPECT_EQ(DenyReasonName(reason), name);
    std::string s(DenyReasonSentence(reason));
    EXPECT_FALSE(s.empty());
    EXPECT_EQ(s.back(), '.');
    sentences.insert(s);
  }
  EXPECT_EQ(expected - 1, kMaxDenyReason);
  EXPECT_EQ(sentences.size(), std::size(kAll));  // all different
}

}  // namespace
}  // namespace token_authority::token

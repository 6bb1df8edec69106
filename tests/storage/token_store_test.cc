#include "storage/token_store.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TEST(TokenStoreNamesTest, EveryEnumRoundTripsThroughItsName) {
  for (ApiKeyRole r : {ApiKeyRole::kAdmin, ApiKeyRole::kIssuer,
                       ApiKeyRole::kVerifier, ApiKeyRole::kAuditor}) {
    EXPECT_THAT(ParseApiKeyRole(ApiKeyRoleName(r)), IsOkAndHolds(r));
  }
  for (TokenState s : {TokenState::kActive, TokenState::kNotYetValid,
                       TokenState::kExpired, TokenState::kRevoked}) {
    EXPECT_THAT(ParseTokenState(TokenStateName(s)), IsOkAndHolds(s));
  }
  for (int a = 1; a <= 10; ++a) {
    const auto action = static_cast<AuditAction>(a);
    EXPECT_THAT(ParseAuditAction(AuditActionName(action)),
                IsOkAndHolds(action));
  }
  EXPECT_EQ(AuditActionName(AuditAction::kTokensRevoked), "tokens.revoked");
  EXPECT_EQ(AuditActionName(AuditAction::kApiKeyCreated), "apikey.created");
  EXPECT_EQ(TokenStateName(TokenState::kNotYetValid), "not_yet_valid");
}

TEST(TokenStoreNamesTest, UnknownNamesNameTheField) {
  EXPECT_THAT(ParseTokenState("soon"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("state: unknown value \"soon\"")));
  EXPECT_THAT(ParseApiKeyRole("root", "api_key.role"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("api_key.role:")));
  EXPECT_THAT(
      ParseAuditAction("token.deleted"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token.issued")));
  EXPECT_EQ(TokenStateName(static_cast<TokenState>(42)), "unknown");
}

TEST(TokenStoreNamesTest, StoredNumbersAreCheckedNotCast) {
  EXPECT_THAT(ApiKeyRoleFromNumber(4), IsOkAndHolds(ApiKeyRole::kAuditor));
  EXPECT_THAT(AuditActionFromNumber(10),
              IsOkAndHolds(AuditAction::kKeyRetired));
  for (int64_t bad : {int64_t{0}, int64_t{5}, int64_t{-1}, int64_t{1} << 32}) {
    EXPECT_THAT(
        ApiKeyRoleFromNumber(bad),
        StatusIs(absl::StatusCode::kDataLoss,
                 "api_keys.role: unknown stored value " + std::to_string(bad)));
  }
  EXPECT_THAT(AuditActionFromNumber(11),
              StatusIs(absl::StatusCode::kDataLoss,
                       "audit_events.action: unknown stored value 11"));
}

TEST(TokenStateAtTest, PrecedenceIsRevokedExpiredNotYetValidActive) {
  Token t;
  t.not_before = absl::FromUnixSeconds(100);
  t.expires_at = absl::FromUnixSeconds(200);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(99)),
            TokenState::kNotYetValid);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(100)), TokenState::kActive);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(199)), TokenState::kActive);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(200)), TokenState::kExpired);
  t.revoked_at = absl::FromUnixSeconds(150);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(99)), TokenState::kRevoked);
  EXPECT_EQ(TokenStateAt(t, absl::FromUnixSeconds(300)), TokenState::kRevoked);
}

}  // namespace
}  // namespace token_authority::storage

#include "storage/column_codes.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::sqlite {
namespace {

using ::testing::HasSubstr;
using token::Algorithm;
using token::KeyState;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;
using Kind = token::Target::Kind;

// The stored values are the file format: these numbers and names are what
// every existing database holds.
TEST(ColumnCodesTest, TargetKindsAreTheStoredIntegers) {
  const std::pair<Kind, int64_t> kCases[] = {
      {Kind::kStreamGroup, 1}, {Kind::kStreams, 2}, {Kind::kOrganization, 3}};
  for (const auto& [kind, stored] : kCases) {
    EXPECT_EQ(TargetKindColumn(kind), stored);
    EXPECT_THAT(TargetKindFromColumn(stored), IsOkAndHolds(kind));
  }
}

TEST(ColumnCodesTest, KeyStatesAreTheStoredIntegers) {
  const std::pair<KeyState, int64_t> kCases[] = {
      {KeyState::kPrimary, 1}, {KeyState::kActive, 2}, {KeyState::kRetired, 3}};
  for (const auto& [state, stored] : kCases) {
    EXPECT_EQ(KeyStateColumn(state), stored);
    EXPECT_THAT(KeyStateFromColumn(stored), IsOkAndHolds(state));
  }
}

TEST(ColumnCodesTest, AlgorithmsAreTheStoredJoseNames) {
  const std::pair<Algorithm, const char*> kCases[] = {
      {Algorithm::kEs256, "ES256"},
      {Algorithm::kRs256, "RS256"},
      {Algorithm::kEdDsa, "EdDSA"},
      {Algorithm::kHs256, "HS256"}};
  for (const auto& [alg, stored] : kCases) {
    EXPECT_EQ(AlgorithmColumn(alg), stored);
    EXPECT_THAT(AlgorithmFromColumn(stored), IsOkAndHolds(alg));
  }
}

TEST(ColumnCodesTest, UnknownStoredValuesAreDataLossNamingTheColumn) {
  for (int64_t bad : {int64_t{0}, int64_t{4}, int64_t{-1}, int64_t{1} << 40}) {
    EXPECT_THAT(
        TargetKindFromColumn(bad),
        StatusIs(absl::StatusCode::kDataLoss,
                 "tokens.kind: unknown stored value " + std::to_string(bad)));
    EXPECT_THAT(
        KeyStateFromColumn(bad),
        StatusIs(absl::StatusCode::kDataLoss,
                 HasSubstr("signing_keys.state: unknown stored value")));
  }
  for (const char* bad : {"", "es256", "EDDSA", "none", "ES384", "ES256 "}) {
    EXPECT_THAT(
        AlgorithmFromColumn(bad),
        StatusIs(absl::StatusCode::kDataLoss,
                 HasSubstr("signing_keys.algorithm: unknown stored value")))
        << bad;
  }
  std::string with_nul = "ES256";
  with_nul[2] = '\0';
  EXPECT_THAT(AlgorithmFromColumn(with_nul),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("ES\\x00")));
  EXPECT_THAT(AlgorithmFromColumn(std::string(100, 'A')),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("...")));
}

}  // namespace
}  // namespace token_authority::storage::sqlite

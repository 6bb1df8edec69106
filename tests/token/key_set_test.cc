#include "token/key_set.h"

#include <string>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/jws.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1750000000);

std::shared_ptr<const SigningKey> Key(Algorithm alg, uint64_t seed = 1) {
  FakeRandom random(seed);
  auto k = SigningKey::Generate(alg, kNow, random);
  EXPECT_TRUE(k.ok()) << k.status();
  return std::shared_ptr<const SigningKey>(*std::move(k));
}

Claims MakeClaims(const std::string& org) {
  FakeRandom random;
  ClaimsBuilder b;
  auto c = b.SetIssuer("iss")
               .SetIssuedAt(kNow)
               .SetExpiresAt(kNow + absl::Hours(1))
               .SetOrganizationId(org)
               .SetTarget(Target::Organization())
               .Build(random);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(KeySetTest, PicksPrimaryAndFindsByKid) {
  auto primary = Key(Algorithm::kEs256);
  auto active = Key(Algorithm::kEdDsa);
  auto retired = Key(Algorithm::kHs256, 5);
  ASSERT_OK_AND_ASSIGN(
      KeySet set, KeySet::Create("org-a", {{active, KeyState::kActive},
                                           {primary, KeyState::kPrimary},
                                           {retired, KeyState::kRetired}}));
  EXPECT_EQ(set.organization_id(), "org-a");
  EXPECT_EQ(set.primary(), primary.get());
  ASSERT_NE(set.Find(active->kid()), nullptr);
  EXPECT_EQ(set.Find(active->kid())->state, KeyState::kActive);
  EXPECT_EQ(set.Find(retired->kid())->state, KeyState::kRetired);
  EXPECT_EQ(set.Find("nope"), nullptr);
  EXPECT_EQ(set.entries().size(), 3u);
  KeySet copy = set;  // cheap copy shares keys
  EXPECT_EQ(copy.Find(primary->kid())->key.get(), primary.get());
}

TEST(KeySetTest, JwksHasPrimaryFirstAndNoRetiredOrHmacKeys) {
  auto primary = Key(Algorithm::kEs256);
  auto active = Key(Algorithm::kEdDsa);
  auto retired = Key(Algorithm::kEs256, 2);
  auto hmac = Key(Algorithm::kHs256, 7);
  ASSERT_OK_AND_ASSIGN(
      KeySet set, KeySet::Create("org-a", {{active, KeyState::kActive},
                                           {retired, KeyState::kRetired},
                                           {hmac, KeyState::kActive},
                                           {primary, KeyState::kPrimary}}));
  const std::string jwks = set.ToJwksJson();
  EXPECT_LT(jwks.find(primary->kid()), jwks.find(active->kid()));
  EXPECT_THAT(jwks, Not(HasSubstr(retired->kid())));
  EXPECT_THAT(jwks, Not(HasSubstr(hmac->kid())));
  ASSERT_OK_AND_ASSIGN(KeySet offline, KeySet::FromJwks("org-a", jwks, kNow));
  EXPECT_EQ(offline.primary(), nullptr);
  EXPECT_EQ(offline.entries().size(), 2u);
  EXPECT_EQ(offline.Find(primary->kid())->state, KeyState::kActive);
}

TEST(KeySetTest, EveryCreateMakesANewGeneration) {
  auto key = Key(Algorithm::kEs256);
  ASSERT_OK_AND_ASSIGN(KeySet a,
                       KeySet::Create("org-a", {{key, KeyState::kPrimary}}));
  ASSERT_OK_AND_ASSIGN(KeySet b,
                       KeySet::Create("org-a", {{key, KeyState::kPrimary}}));
  EXPECT_NE(a.generation(), 0u);
  EXPECT_NE(a.generation(), b.generation());
  const KeySet copy = a;
  EXPECT_EQ(copy.generation(), a.generation());
}

TEST(KeySetTest, CreateValidates) {
  auto a = Key(Algorithm::kEs256);
  auto b = Key(Algorithm::kEs256, 2);
  EXPECT_THAT(
      KeySet::Create("org", {{a, KeyState::kPrimary}, {b, KeyState::kPrimary}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two primary")));
  EXPECT_THAT(
      KeySet::Create("org", {{a, KeyState::kPrimary}, {a, KeyState::kActive}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(
      KeySet::Create("org", {{nullptr, KeyState::kActive}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no key")));
  EXPECT_THAT(KeySet::Create("", {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(KeySet::Create("org", {{a, static_cast<KeyState>(9)}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto pub,
                       SigningKey::FromJwk(*a->PublicJwkJson(), kNow));
  EXPECT_THAT(
      KeySet::Create("org", {{std::move(pub), KeyState::kPrimary}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot sign")));
  ASSERT_OK_AND_ASSIGN(KeySet empty, KeySet::Create("org", {}));
  EXPECT_EQ(empty.primary(), nullptr);
}

TEST(KeySetTest, SignsWithPrimaryForItsOwnOrganisationOnly) {
  auto primary = Key(Algorithm::kEdDsa);
  ASSERT_OK_AND_ASSIGN(
      KeySet set, KeySet::Create("org-a", {{primary, KeyState::kPrimary}}));
  ASSERT_OK_AND_ASSIGN(SignedToken t, set.Sign(MakeClaims("org-a")));
  EXPECT_EQ(t.key_id, primary->kid());
  EXPECT_EQ(t.algorithm, Algorithm::kEdDsa);
  ASSERT_OK_AND_ASSIGN(VerifiedJws v, VerifyJws(t.jwt, *primary));
  EXPECT_EQ(v.header.kid, primary->kid());
  EXPECT_THAT(set.Sign(MakeClaims("org-b")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("org-b")));
  ASSERT_OK_AND_ASSIGN(KeySet none,
                       KeySet::Create("org-a", {{primary, KeyState::kActive}}));
  EXPECT_THAT(none.Sign(MakeClaims("org-a")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace token_authority::token

#include "client/offline_decode.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "base/random.h"
#include "client/proto_text.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/key_set.h"
#include "token/signing_key.h"

namespace token_authority::client {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1740830400);

class OfflineDecodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key =
        token::SigningKey::Generate(token::Algorithm::kEs256, kNow, random_);
    ASSERT_THAT(key, IsOk());
    std::shared_ptr<const token::SigningKey> shared(std::move(*key));
    auto set =
        token::KeySet::Create("org-a", {{shared, token::KeyState::kPrimary}});
    ASSERT_THAT(set, IsOk());
    keys_ = std::make_unique<token::KeySet>(*std::move(set));
    kid_ = shared->kid();
    token::ClaimsBuilder b;
    b.SetIssuer("token-authority")
        .SetIssuedAt(kNow)
        .SetExpiresAt(kNow + absl::Hours(24 * 14))
        .SetOrganizationId("org-a")
        .SetTarget(token::Target::Streams({"main", "backup"}))
        .SetClientIp("203.0.113.0/24")
        .SetDomain("*.example.com")
        .SetUserId("viewer-42")
        .SetTag("spring");
    auto claims = b.Build(random_);
    ASSERT_THAT(claims, IsOk());
    jti_ = claims->token_id();
    auto jwt = keys_->Sign(*claims);
    ASSERT_THAT(jwt, IsOk());
    jwt_ = jwt->jwt;
  }

  FakeRandom random_;
  std::unique_ptr<token::KeySet> keys_;
  std::string kid_, jti_, jwt_;
};

TEST_F(OfflineDecodeTest, PeeksTheOrganisation) {
  EXPECT_EQ(PeekOrganization(jwt_), "org-a");
  EXPECT_EQ(PeekOrganization("nonsense"), "");
  EXPECT_EQ(PeekOrganization("a.!!!.c"), "");
  EXPECT_EQ(PeekOrganization("a." + token::Base64UrlEncode("{}") + ".c"), "");
}

TEST_F(OfflineDecodeTest, WithTheJwksTheSignatureIsChecked) {
  ASSERT_OK_AND_ASSIGN(
      v1::DecodeTokenResponse r,
      DecodeTokenOffline(jwt_, keys_->ToJwksJson(), "", kNow + absl::Hours(1)));
  EXPECT_TRUE(r.signature_valid());
  EXPECT_EQ(r.state(), v1::TOKEN_STATE_ACTIVE);
  EXPECT_TRUE(r.problems().empty()) << r.problems(0);
  const v1::Token& t = r.token();
  EXPECT_EQ(t.id(), jti_);
  EXPECT_EQ(t.organization_id(), "org-a");
  EXPECT_EQ(DescribeTarget(t.target()), "streams main, backup");
  EXPECT_EQ(convert::FromProtoTimestamp(t.expires_at()),
            kNow + absl::Hours(24 * 14));
  EXPECT_EQ(convert::FromProtoTimestamp(t.not_before()), kNow);
  EXPECT_EQ(t.client_ip(), "203.0.113.0/24");
  EXPECT_EQ(t.domain(), "*.example.com");
  EXPECT_EQ(t.user_id(), "viewer-42");
  EXPECT_EQ(t.tag(), "spring");
  EXPECT_EQ(t.key_id(), kid_);
  EXPECT_EQ(t.algorithm(), v1::ALGORITHM_ES256);
  EXPECT_THAT(r.header_json(), HasSubstr("\"kid\""));
  EXPECT_THAT(r.payload_json(), HasSubstr("\"streams\""));
}

TEST_F(OfflineDecodeTest, ExpiredForeignAndTamperedTokensSayWhatIsWrong) {
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse expired,
                       DecodeTokenOffline(jwt_, keys_->ToJwksJson(), "",
                                          kNow + absl::Hours(24 * 15)));
  EXPECT_EQ(expired.state(), v1::TOKEN_STATE_EXPIRED);
  EXPECT_THAT(expired.problems(), Contains(HasSubstr("expired")));
  EXPECT_TRUE(expired.signature_valid());

  ASSERT_OK_AND_ASSIGN(
      v1::DecodeTokenResponse other_org,
      DecodeTokenOffline(jwt_, keys_->ToJwksJson(), "org-b", kNow));
  EXPECT_THAT(other_org.problems(), Contains(HasSubstr("org-b")));

  std::string tampered = jwt_;
  tampered[tampered.size() - 4] =
      tampered[tampered.size() - 4] == 'A' ? 'B' : 'A';
  ASSERT_OK_AND_ASSIGN(
      v1::DecodeTokenResponse bad,
      DecodeTokenOffline(tampered, keys_->ToJwksJson(), "", kNow));
  EXPECT_FALSE(bad.signature_valid());
  EXPECT_THAT(bad.problems(), Contains(HasSubstr("does not verify")));
  // Invalid, as DecodeToken answers, although its times are fine.
  EXPECT_EQ(bad.state(), v1::TOKEN_STATE_INVALID);
  EXPECT_EQ(bad.token().state(), v1::TOKEN_STATE_INVALID);
  // The claims are still shown.
  EXPECT_EQ(bad.token().id(), jti_);
  // A token of other keys is invalid too; one of these keys for another
  // organisation is not (its signature verifies: the problem is the org).
  EXPECT_EQ(other_org.state(), v1::TOKEN_STATE_ACTIVE);
  EXPECT_TRUE(other_org.signature_valid());
}

TEST_F(OfflineDecodeTest, WithoutJwksNothingIsVerified) {
  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse r,
                       DecodeTokenOffline(jwt_, "", "", kNow));
  EXPECT_FALSE(r.signature_valid());
  EXPECT_EQ(r.state(), v1::TOKEN_STATE_ACTIVE);  // not checked, not invalid
  EXPECT_TRUE(r.problems().empty());
  EXPECT_EQ(r.token().id(), jti_);

  ASSERT_OK_AND_ASSIGN(v1::DecodeTokenResponse broken,
                       DecodeTokenOffline("abc", "", "", kNow));
  EXPECT_FALSE(broken.problems().empty());
  EXPECT_EQ(broken.state(), v1::TOKEN_STATE_UNSPECIFIED);
}

TEST_F(OfflineDecodeTest, BadJwksIsAnError) {
  EXPECT_THAT(DecodeTokenOffline(jwt_, "{\"keys\": [1]}", "", kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jwks")));
}

}  // namespace
}  // namespace token_authority::client

#include "server/api_key_secret.h"

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

using ::testing::MatchesRegex;
using token_authority::testing::IsOkAndHolds;
using token_authority::testing::StatusIs;

TEST(ApiKeySecretTest, FormatIdAndHash) {
  FakeRandom random(3);
  ASSERT_OK_AND_ASSIGN(NewApiKey key, MakeApiKey(random));
  EXPECT_THAT(key.key_id, MatchesRegex("k[0-9a-f]{16}"));
  EXPECT_THAT(key.secret, MatchesRegex("ta_k[0-9a-f]{16}_[A-Za-z0-9_-]{43}"));
  EXPECT_EQ(key.secret.substr(3, 17), key.key_id);
  EXPECT_EQ(key.secret_hash.size(), 32u);
  EXPECT_EQ(key.secret_hash, HashApiKeySecret(key.secret));
  EXPECT_THAT(ApiKeyIdFromSecret(key.secret), IsOkAndHolds(key.key_id));
}

TEST(ApiKeySecretTest, SecretsDiffer) {
  std::set<std::string> secrets;
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK_AND_ASSIGN(NewApiKey key, MakeApiKey(RandomSource::Secure()));
    secrets.insert(key.secret);
  }
  EXPECT_EQ(secrets.size(), 50u);
}

TEST(ApiKeySecretTest, MalformedSecretsAreRefusedWithoutEcho) {
  FakeRandom random(4);
  ASSERT_OK_AND_ASSIGN(NewApiKey key, MakeApiKey(random));
  for (const std::string& bad :
       {std::string(""), std::string("ta_"),
        std::string("tb_") + key.secret.substr(3),
        key.secret.substr(0, key.secret.size() - 1), key.secret + "A",
        std::string("ta_kXYZ_") + key.secret.substr(21),
        std::string("ta_") + key.key_id + "_" + std::string(43, '*')}) {
    absl::StatusOr<std::string> id = ApiKeyIdFromSecret(bad);
    EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
    if (!bad.empty()) {
      EXPECT_EQ(std::string(id.status().message()).find(bad),
                std::string::npos);
    }
  }
}

TEST(ApiKeySecretTest, HashesCompareExactly) {
  const std::string a = HashApiKeySecret("one");
  const std::string b = HashApiKeySecret("two");
  EXPECT_TRUE(ApiKeyHashesEqual(a, a));
  EXPECT_FALSE(ApiKeyHashesEqual(a, b));
  EXPECT_FALSE(ApiKeyHashesEqual(a, a.substr(0, 31)));
  EXPECT_FALSE(ApiKeyHashesEqual("", a));
  EXPECT_TRUE(ApiKeyHashesEqual("", ""));
  // SHA-256 of "abc" (FIPS 180-2 example).
  EXPECT_EQ(absl::BytesToHexString(HashApiKeySecret("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace token_authority::server

#include "token/algorithm.h"

#include "gtest/gtest.h"

namespace token_authority::token {
namespace {

TEST(AlgorithmTest, NamesRoundTrip) {
  for (Algorithm a : {Algorithm::kEs256, Algorithm::kRs256, Algorithm::kEdDsa,
                      Algorithm::kHs256}) {
    EXPECT_EQ(AlgorithmFromName(AlgorithmName(a)), a);
    EXPECT_EQ(ParseAlgorithmFlag(AlgorithmName(a)), a);
  }
  EXPECT_EQ(AlgorithmName(Algorithm::kEdDsa), "EdDSA");
  EXPECT_EQ(kDefaultAlgorithm, Algorithm::kEs256);
}

TEST(AlgorithmTest, JoseNamesAreCaseSensitive) {
  for (const char* bad : {"none", "None", "NONE", "nOnE", "es256", "Es256",
                          "EDDSA", "ES384", "PS256", "HS512", "", "ES256 "}) {
    EXPECT_FALSE(AlgorithmFromName(bad).has_value()) << bad;
  }
}

TEST(AlgorithmTest, FlagsAreCaseInsensitive) {
  EXPECT_EQ(ParseAlgorithmFlag("es256"), Algorithm::kEs256);
  EXPECT_EQ(ParseAlgorithmFlag("eddsa"), Algorithm::kEdDsa);
  EXPECT_EQ(ParseAlgorithmFlag("ed25519"), Algorithm::kEdDsa);
  EXPECT_EQ(ParseAlgorithmFlag("hs256"), Algorithm::kHs256);
  EXPECT_FALSE(ParseAlgorithmFlag("none").has_value());
}

TEST(AlgorithmTest, ValuesMirrorProto) {
  EXPECT_EQ(static_cast<int>(Algorithm::kEs256), 1);
  EXPECT_EQ(static_cast<int>(Algorithm::kRs256), 2);
  EXPECT_EQ(static_cast<int>(Algorithm::kEdDsa), 3);
  EXPECT_EQ(static_cast<int>(Algorithm::kHs256), 4);
  EXPECT_TRUE(IsAsymmetric(Algorithm::kEdDsa));
  EXPECT_FALSE(IsAsymmetric(Algorithm::kHs256));
}

}  // namespace
}  // namespace token_authority::token

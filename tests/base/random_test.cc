#include "base/random.h"

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority {
namespace {

TEST(FakeRandomTest, SameSeedSameBytes) {
  FakeRandom a(7), b(7), c(8);
  ASSERT_OK_AND_ASSIGN(std::string x, a.Bytes(32));
  ASSERT_OK_AND_ASSIGN(std::string y, b.Bytes(32));
  ASSERT_OK_AND_ASSIGN(std::string z, c.Bytes(32));
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  EXPECT_EQ(x.size(), 32u);
}

TEST(SecureRandomTest, FillsAndDiffers) {
  ASSERT_OK_AND_ASSIGN(std::string x, RandomSource::Secure().Bytes(16));
  ASSERT_OK_AND_ASSIGN(std::string y, RandomSource::Secure().Bytes(16));
  EXPECT_EQ(x.size(), 16u);
  EXPECT_NE(x, y);
}

}  // namespace
}  // namespace token_authority

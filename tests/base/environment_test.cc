#include "base/environment.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace token_authority {
namespace {

TEST(ProcessEnvironmentTest, ReadsTheProcessEnvironmentAtEachCall) {
  const Environment env = ProcessEnvironment();
  ASSERT_EQ(::unsetenv("TA_ENVIRONMENT_TEST"), 0);
  EXPECT_EQ(env("TA_ENVIRONMENT_TEST"), std::nullopt);
  ASSERT_EQ(::setenv("TA_ENVIRONMENT_TEST", "", 1), 0);
  EXPECT_EQ(env("TA_ENVIRONMENT_TEST"), std::optional<std::string>(""));
  ASSERT_EQ(::setenv("TA_ENVIRONMENT_TEST", "a=b c", 1), 0);
  EXPECT_EQ(env("TA_ENVIRONMENT_TEST"), std::optional<std::string>("a=b c"));
  ASSERT_EQ(::unsetenv("TA_ENVIRONMENT_TEST"), 0);
  EXPECT_EQ(env("TA_ENVIRONMENT_TEST"), std::nullopt);
}

}  // namespace
}  // namespace token_authority

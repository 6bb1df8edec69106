#include "token/public_suffix.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace token_authority::token {
namespace {

TEST(PublicSuffixTest, RegistriesAreSuffixesSitesAreNot) {
  for (const char* suffix : {"com", "co.uk", "CO.UK", "de", "github.io",
                             "s3.amazonaws.com", "unknowntld"}) {
    EXPECT_TRUE(IsPublicSuffix(suffix)) << suffix;
  }
  for (const char* site : {"example.com", "example.co.uk", "bbc.co.uk",
                           "someone.github.io", "www.example.de", ""}) {
    EXPECT_FALSE(IsPublicSuffix(site)) << site;
  }
}

TEST(PublicSuffixTest, ConcurrentFirstUse) {
  std::vector<std::thread> threads;
  std::vector<int> answers(8, -1);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&answers, i] { answers[i] = IsPublicSuffix("com"); });
  }
  for (std::thread& t : threads) t.join();
  for (int a : answers) EXPECT_EQ(a, 1);
}

}  // namespace
}  // namespace token_authority::token

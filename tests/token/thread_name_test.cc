#include "token/thread_name.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace token_authority {
namespace {

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = CurrentThreadName();
  std::string inside;
  std::thread t([&] {
    SetCurrentThreadName("ta-writer");
    inside = CurrentThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "ta-writer");
  EXPECT_EQ(CurrentThreadName(), before);
}

TEST(ThreadNameTest, LongNamesAreCutToWhatLinuxKeeps) {
  std::string inside;
  std::thread t([&] {
    SetCurrentThreadName("ta-a-very-long-thread-name");
    inside = CurrentThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "ta-a-very-long-");
  EXPECT_EQ(inside.size(), kMaxThreadNameLength);
}

}  // namespace
}  // namespace token_authority

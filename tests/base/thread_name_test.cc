#include "base/thread_name.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace token_authority {
namespace {

// The name a thread started by StartNamedThread(name) sees for itself.
std::string NameInside(const std::string& name) {
  std::string inside;
  std::thread t = StartNamedThread(name, [&] { inside = CurrentThreadName(); });
  t.join();
  return inside;
}

TEST(ThreadNameTest, NamesTheNewThreadOnly) {
  const std::string before = CurrentThreadName();
  EXPECT_EQ(NameInside("ta-writer"), "ta-writer");
  EXPECT_EQ(CurrentThreadName(), before);
}

TEST(ThreadNameTest, LongNamesAreCutToWhatLinuxKeeps) {
  const std::string inside = NameInside("ta-a-very-long-thread-name");
  EXPECT_EQ(inside, "ta-a-very-long-");
  EXPECT_EQ(inside.size(), kMaxThreadNameLength);
}

TEST(ThreadNameTest, SetCurrentThreadNameRenamesTheCaller) {
  std::string inside;
  std::thread t([&] {
    SetCurrentThreadName("ta-renamed");
    inside = CurrentThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "ta-renamed");
}

}  // namespace
}  // namespace token_authority

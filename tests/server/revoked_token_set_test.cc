// RevokedTokenSet: adding, applying feed events, forgetting expired tokens,
// and concurrent readers and writers (run under ThreadSanitizer).
#include "server/revoked_token_set.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace token_authority::server {
namespace {

const absl::Time kT = absl::FromUnixSeconds(1767225600);

storage::RevocationEvent Event(std::string token_id, absl::Time expires_at) {
  storage::RevocationEvent e;
  e.token_id = std::move(token_id);
  e.expires_at = expires_at;
  return e;
}

TEST(RevokedTokenSetTest, AddAndApply) {
  RevokedTokenSet set(absl::Seconds(60));
  EXPECT_FALSE(set.Contains("t1"));
  set.Add("t1", kT);
  EXPECT_TRUE(set.Contains("t1"));
  set.Apply({});
  set.Apply({Event("t2", kT), Event("t3", kT), Event("t1", kT)});
  EXPECT_TRUE(set.Contains("t2"));
  EXPECT_TRUE(set.Contains("t3"));
  EXPECT_FALSE(set.Contains("t4"));
  EXPECT_EQ(set.size(), 3u);
}

TEST(RevokedTokenSetTest, ForgetsTokensExpiredForLongerThanTheLeeway) {
  RevokedTokenSet set(absl::Seconds(60));
  set.Add("old", kT);
  set.Add("new", kT + absl::Hours(1));
  // Within the leeway (and its extra second) a token still verifies.
  set.ForgetExpired(kT + absl::Seconds(60));
  set.ForgetExpired(kT + absl::Milliseconds(60999));
  EXPECT_TRUE(set.Contains("old"));
  set.ForgetExpired(kT + absl::Seconds(61));
  EXPECT_FALSE(set.Contains("old"));
  EXPECT_TRUE(set.Contains("new"));
  EXPECT_EQ(set.size(), 1u);
}

TEST(RevokedTokenSetTest, ConcurrentReadersAndWriters) {
  RevokedTokenSet set(absl::Seconds(60));
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) (void)set.Contains("t-17");
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 500; ++i) {
        set.Add(absl::StrCat("t-", w, "-", i), kT + absl::Seconds(i));
        if (i % 100 == 0) set.ForgetExpired(kT);
      }
    });
  }
  for (std::thread& t : writers) t.join();
  done.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(set.size(), 1000u);
}

}  // namespace
}  // namespace token_authority::server

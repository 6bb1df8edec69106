#include "server/organization_state_feed.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

OrganizationState State(const std::string& org, bool secure,
                        const std::string& digest) {
  OrganizationState s;
  s.organization_id = org;
  s.secure_enabled = secure;
  s.jwks_sha256 = digest;
  s.changed_at = absl::FromUnixSeconds(1700000000);
  return s;
}

std::vector<std::string> Ids(const std::vector<OrganizationState>& states) {
  std::vector<std::string> out;
  for (const OrganizationState& s : states) out.push_back(s.organization_id);
  return out;
}

TEST(OrganizationStateFeedTest, PublishIgnoresUnchangedStates) {
  OrganizationStateFeed feed;
  EXPECT_FALSE(feed.Get("a").has_value());
  EXPECT_TRUE(feed.Publish(State("a", true, "d1")));
  EXPECT_FALSE(feed.Publish(State("a", true, "d1")));
  ASSERT_TRUE(feed.Get("a").has_value());
  EXPECT_EQ(feed.Get("a")->version, 1u);
  EXPECT_TRUE(feed.Publish(State("a", false, "d1")));
  EXPECT_TRUE(feed.Publish(State("a", false, "d2")));
  EXPECT_TRUE(feed.Publish(State("b", true, "x")));
  EXPECT_EQ(feed.Get("a")->version, 3u);
  EXPECT_EQ(feed.Get("a")->jwks_sha256, "d2");
  EXPECT_FALSE(feed.Get("a")->secure_enabled);
  EXPECT_EQ(feed.Get("b")->version, 4u);
}

TEST(OrganizationStateFeedTest, ReadChangedSendsSnapshotThenChangesOnly) {
  OrganizationStateFeed feed;
  feed.Publish(State("a", true, "d1"));
  feed.Publish(State("b", true, "d1"));
  feed.Publish(State("c", true, "d1"));
  absl::flat_hash_map<std::string, uint64_t> sent;
  // Unknown organisations are skipped, order follows the request.
  EXPECT_THAT(Ids(feed.ReadChanged({"c", "a", "zz"}, &sent)),
              ElementsAre("c", "a"));
  EXPECT_THAT(feed.ReadChanged({"c", "a"}, &sent), IsEmpty());
  feed.Publish(State("b", false, "d1"));  // not watched
  EXPECT_THAT(feed.ReadChanged({"c", "a"}, &sent), IsEmpty());
  feed.Publish(State("a", false, "d1"));
  feed.Publish(State("a", true, "d2"));  // folded: only the latest is read
  std::vector<OrganizationState> changed = feed.ReadChanged({"c", "a"}, &sent);
  ASSERT_THAT(changed, SizeIs(1));
  EXPECT_EQ(changed[0].organization_id, "a");
  EXPECT_TRUE(changed[0].secure_enabled);
  EXPECT_EQ(changed[0].jwks_sha256, "d2");
}

TEST(OrganizationStateFeedTest, SubscribersAreWokenAndToldOfClosing) {
  OrganizationStateFeed feed;
  std::atomic<int> wakes{0};
  std::atomic<int> closings{0};
  const uint64_t id = feed.Subscribe(
      [&](bool closing) { (closing ? closings : wakes).fetch_add(1); });
  EXPECT_NE(id, 0u);
  feed.WakeAll();
  EXPECT_EQ(wakes.load(), 1);
  const uint64_t gone = feed.Subscribe([&](bool) { ADD_FAILURE(); });
  feed.Unsubscribe(gone);
  feed.Unsubscribe(12345);  // unknown: ignored
  feed.Close();
  EXPECT_EQ(closings.load(), 1);
  feed.Close();  // idempotent
  feed.WakeAll();
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_EQ(closings.load(), 1);
  bool told = false;
  EXPECT_EQ(feed.Subscribe([&](bool closing) { told = closing; }), 0u);
  EXPECT_TRUE(told);
}

TEST(OrganizationStateFeedTest, ConcurrentPublishersAndReadersConverge) {
  OrganizationStateFeed feed;
  feed.Publish(State("a", true, "d0"));
  std::atomic<bool> done{false};
  std::atomic<int> wakes{0};
  const uint64_t id = feed.Subscribe([&](bool) { wakes.fetch_add(1); });
  std::thread reader([&] {
    absl::flat_hash_map<std::string, uint64_t> sent;
    while (!done.load()) feed.ReadChanged({"a", "b"}, &sent);
  });
  std::thread other([&] {
    for (int i = 0; i < 500; ++i) {
      if (feed.Publish(State("b", i % 2 == 0, "x"))) feed.WakeAll();
    }
  });
  for (int i = 1; i <= 500; ++i) {
    if (feed.Publish(State("a", true, "d" + std::to_string(i)))) {
      feed.WakeAll();
    }
  }
  other.join();
  done = true;
  reader.join();
  feed.Unsubscribe(id);
  EXPECT_EQ(wakes.load(), 1000);
  absl::flat_hash_map<std::string, uint64_t> sent;
  std::vector<OrganizationState> last = feed.ReadChanged({"a", "b"}, &sent);
  ASSERT_THAT(last, SizeIs(2));
  EXPECT_EQ(last[0].jwks_sha256, "d500");
  EXPECT_FALSE(last[1].secure_enabled);
  // 1001 changes in all, each with its own version.
  EXPECT_EQ(std::max(feed.Get("a")->version, feed.Get("b")->version), 1001u);
}

}  // namespace
}  // namespace token_authority::server

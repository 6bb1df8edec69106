// RevocationFeed over a real SQLite store.
#include "server/revocation_feed.h"

#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "tests/testing/status_matchers.h"
#include "token/claims.h"
#include "token/key_set.h"
#include "token/signing_key.h"

namespace token_authority::server {
namespace {

using ::testing::SizeIs;
using token_authority::testing::StatusIs;

class RevocationFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-feed-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    storage::SqliteTokenStoreOptions o;
    o.path = dir_ + "/db";
    o.key_encryption_key_path = dir_ + "/kek.key";
    o.clock = &clock_;
    o.random = &random_;
    o.sweep_interval = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(store_, storage::SqliteTokenStore::Open(o));
    storage::Organization org;
    org.id = "acme";
    org.name = "Acme";
    org.secure_enabled = true;
    ASSERT_OK(store_->CreateOrganization(org, {}).status());
    ASSERT_OK_AND_ASSIGN(auto key,
                         token::SigningKey::Generate(token::Algorithm::kHs256,
                                                     clock_.Now(), random_));
    storage::SigningKey row;
    row.organization_id = "acme";
    row.kid = key->kid();
    row.algorithm = token::Algorithm::kHs256;
    row.state = token::KeyState::kPrimary;
    ASSERT_OK_AND_ASSIGN(row.private_key, key->ExportPrivateKey());
    ASSERT_OK(store_->InsertSigningKey(row, {}).status());
    kid_ = row.kid;
  }

  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Inserts and revokes a token; returns its id.
  std::string RevokeOne() {
    storage::Token t;
    auto id = token::NewTokenId(random_);
    EXPECT_OK(id.status());
    t.id = *id;
    t.organization_id = "acme";
    t.target_kind = token::Target::Kind::kOrganization;
    const absl::Time now =
        absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));
    t.issued_at = now;
    t.not_before = now;
    t.expires_at = now + absl::Hours(1);
    t.key_id = kid_;
    t.algorithm = token::Algorithm::kHs256;
    t.jwt_sha256 = std::string(32, 'h');
    EXPECT_OK(store_->InsertToken(t, {}).status());
    EXPECT_OK(store_->RevokeToken("acme", t.id, "test", {}).status());
    return t.id;
  }

  std::unique_ptr<RevocationFeed> MakeFeed(
      int64_t start, RevocationFeedOptions options = {},
      RevocationFeed::Listener listener = nullptr) {
    auto feed = RevocationFeed::Create(store_.get(), start, options,
                                       std::move(listener));
    EXPECT_OK(feed.status());
    return feed.ok() ? std::move(*feed) : nullptr;
  }

  std::string dir_;
  FakeClock clock_{absl::FromUnixSeconds(1767225600)};
  FakeRandom random_{5};
  std::unique_ptr<storage::SqliteTokenStore> store_;
  std::string kid_;
};

TEST_F(RevocationFeedTest, CreateValidates) {
  EXPECT_THAT(RevocationFeed::Create(nullptr, 0, {}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RevocationFeed::Create(store_.get(), -1, {}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
  RevocationFeedOptions o;
  o.batch_size = 0;
  EXPECT_THAT(RevocationFeed::Create(store_.get(), 0, o, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(RevocationFeedTest, CatchUpPublishesToListenerAndReaders) {
  RevocationFeedOptions o;
  o.poll_interval = absl::ZeroDuration();
  std::vector<std::string> heard;
  auto feed = MakeFeed(0, o, [&](const auto& events) {
    for (const auto& e : events) heard.push_back(e.token_id);
  });
  const std::string a = RevokeOne();
  const std::string b = RevokeOne();
  EXPECT_EQ(feed->last_sequence(), 0);
  ASSERT_OK(feed->CatchUp());
  EXPECT_EQ(heard, (std::vector<std::string>{a, b}));
  EXPECT_EQ(feed->last_sequence(), 2);
  ASSERT_OK_AND_ASSIGN(auto events, feed->Read(0, 10));
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].sequence, 1);
  EXPECT_EQ(events[1].token_id, b);
  ASSERT_OK_AND_ASSIGN(events, feed->Read(1, 10));
  ASSERT_THAT(events, SizeIs(1));
  ASSERT_OK_AND_ASSIGN(events, feed->Read(2, 10));
  EXPECT_THAT(events, SizeIs(0));
  ASSERT_OK_AND_ASSIGN(events, feed->Read(0, 1));  // limit
  EXPECT_THAT(events, SizeIs(1));
  EXPECT_THAT(feed->Read(0, 0), StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing new: the listener is not called again.
  ASSERT_OK(feed->CatchUp());
  EXPECT_THAT(heard, SizeIs(2));
}

TEST_F(RevocationFeedTest, OldCursorsReplayFromTheStore) {
  const std::string a = RevokeOne();
  const std::string b = RevokeOne();
  RevocationFeedOptions o;
  o.poll_interval = absl::ZeroDuration();
  auto feed = MakeFeed(2, o);  // started after both
  const std::string c = RevokeOne();
  ASSERT_OK(feed->CatchUp());
  ASSERT_OK_AND_ASSIGN(auto events, feed->Read(0, 10));
  ASSERT_THAT(events, SizeIs(3));  // a and b from the store, then c
  EXPECT_EQ(events[0].token_id, a);
  EXPECT_EQ(events[1].token_id, b);
  EXPECT_EQ(events[2].token_id, c);
}

TEST_F(RevocationFeedTest, BoundedBufferFallsBackToTheStore) {
  RevocationFeedOptions o;
  o.poll_interval = absl::ZeroDuration();
  o.buffer_capacity = 2;
  auto feed = MakeFeed(0, o);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(RevokeOne());
  ASSERT_OK(feed->CatchUp());
  for (int after = 0; after < 5; ++after) {
    ASSERT_OK_AND_ASSIGN(auto events, feed->Read(after, 100));
    ASSERT_THAT(events, SizeIs(5 - after)) << after;
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(events[i].sequence, after + 1 + static_cast<int64_t>(i));
      EXPECT_EQ(events[i].token_id, ids[after + i]);
    }
  }
}

TEST_F(RevocationFeedTest, SubscribersAreWokenAndToldAboutClosing) {
  RevocationFeedOptions o;
  o.poll_interval = absl::ZeroDuration();
  auto feed = MakeFeed(0, o);
  std::atomic<int> wakes{0};
  std::atomic<int> closings{0};
  const uint64_t id = feed->Subscribe(
      [&](bool closing) { (closing ? closings : wakes).fetch_add(1); });
  std::atomic<int> other_wakes{0};
  const uint64_t other =
      feed->Subscribe([&](bool) { other_wakes.fetch_add(1); });
  ASSERT_OK(feed->CatchUp());  // nothing new: no wake
  EXPECT_EQ(wakes.load(), 0);
  RevokeOne();
  ASSERT_OK(feed->CatchUp());
  EXPECT_EQ(wakes.load(), 1);
  feed->Unsubscribe(other);
  RevokeOne();
  ASSERT_OK(feed->CatchUp());
  EXPECT_EQ(wakes.load(), 2);
  EXPECT_EQ(other_wakes.load(), 1);
  feed->Close();
  EXPECT_EQ(closings.load(), 1);
  feed->Close();  // idempotent
  EXPECT_EQ(closings.load(), 1);
  feed->Unsubscribe(id);
  // Subscribing after Close: told at once.
  std::atomic<bool> late{false};
  feed->Subscribe([&](bool closing) { late = closing; });
  EXPECT_TRUE(late.load());
}

TEST_F(RevocationFeedTest, PollingFindsUnannouncedEvents) {
  RevocationFeedOptions o;
  o.poll_interval = absl::Milliseconds(10);
  auto feed = MakeFeed(0, o);
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  feed->Subscribe([&](bool) {
    std::lock_guard<std::mutex> lock(mu);
    woken = true;
    cv.notify_all();
  });
  RevokeOne();
  std::unique_lock<std::mutex> lock(mu);
  // Bounded wait; the poll runs every 10 ms.
  ASSERT_TRUE(
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return woken; }));
  EXPECT_EQ(feed->last_sequence(), 1);
}

TEST_F(RevocationFeedTest, ConcurrentRevokersAndReadersSeeAGaplessSequence) {
  RevocationFeedOptions o;
  o.poll_interval = absl::ZeroDuration();
  auto feed = MakeFeed(0, o);
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        RevokeOne();
        EXPECT_OK(feed->CatchUp());
      }
    });
  }
  // A reader following along with its cursor.
  std::set<int64_t> seen;
  int64_t cursor = 0;
  while (cursor < kThreads * kEach) {
    ASSERT_OK_AND_ASSIGN(auto events, feed->Read(cursor, 7));
    for (const auto& e : events) {
      ASSERT_EQ(e.sequence, cursor + 1);  // no gap, no duplicate
      cursor = e.sequence;
      seen.insert(e.sequence);
    }
    if (events.empty()) std::this_thread::yield();
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace token_authority::server

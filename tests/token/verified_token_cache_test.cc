#include "token/verified_token_cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "token/claims.h"
#include "token/target.h"

namespace token_authority::token {
namespace {

using Digest = VerifiedTokenCache::Digest;

Claims MakeClaims(const std::string& jti) {
  ClaimsBuilder b;
  b.SetIssuer("iss")
      .SetTokenId(jti)
      .SetIssuedAt(absl::FromUnixSeconds(1750000000))
      .SetExpiresAt(absl::FromUnixSeconds(1750003600))
      .SetOrganizationId("org-a")
      .SetTarget(Target::Streams({"s1"}));
  auto c = b.Build();
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

std::shared_ptr<const VerifiedTokenCache::Entry> MakeEntry(
    uint64_t generation, const std::string& jti = "AAECAwQFBgcICQoLDA0ODw") {
  return std::make_shared<const VerifiedTokenCache::Entry>(
      VerifiedTokenCache::Entry{generation, "kid-1", Algorithm::kEs256,
                                MakeClaims(jti)});
}

std::string Hex(const Digest& d) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(VerifiedTokenCacheTest, DigestIsSha256) {
  // FIPS 180-2 appendix B.1.
  EXPECT_EQ(Hex(VerifiedTokenCache::DigestOf("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(VerifiedTokenCacheTest, FindsWhatWasInsertedForTheSameGeneration) {
  VerifiedTokenCache cache(16);
  const Digest d = VerifiedTokenCache::DigestOf("a.b.c");
  EXPECT_EQ(cache.Find(d, 7), nullptr);
  cache.Insert(d, MakeEntry(7));
  auto hit = cache.Find(d, 7);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->key_id, "kid-1");
  EXPECT_EQ(hit->claims.token_id(), "AAECAwQFBgcICQoLDA0ODw");
  // Another key set generation, another token: misses.
  EXPECT_EQ(cache.Find(d, 8), nullptr);
  EXPECT_EQ(cache.Find(VerifiedTokenCache::DigestOf("a.b.d"), 7), nullptr);
  // Inserting again replaces.
  cache.Insert(d, MakeEntry(8));
  EXPECT_EQ(cache.Find(d, 7), nullptr);
  EXPECT_NE(cache.Find(d, 8), nullptr);
  const VerifiedTokenCache::Stats s = cache.GetStats();
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.misses, 4);
  EXPECT_EQ(s.inserts, 2);
  EXPECT_EQ(s.size, 1);
}

TEST(VerifiedTokenCacheTest, RefusesNullEntriesAndTheZeroDigest) {
  VerifiedTokenCache cache(16);
  cache.Insert(Digest{}, MakeEntry(1));
  cache.Insert(VerifiedTokenCache::DigestOf("x"), nullptr);
  EXPECT_EQ(cache.GetStats().size, 0);
  EXPECT_EQ(cache.Find(Digest{}, 1), nullptr);
}

TEST(VerifiedTokenCacheTest, StaysWithinCapacity) {
  VerifiedTokenCache cache(100);
  ASSERT_GE(cache.capacity(), 100u);
  ASSERT_LT(cache.capacity(), 100u + 16u);
  auto entry = MakeEntry(1);
  for (int i = 0; i < 5000; ++i) {
    cache.Insert(VerifiedTokenCache::DigestOf(absl::StrCat("token-", i)),
                 entry);
  }
  const VerifiedTokenCache::Stats s = cache.GetStats();
  EXPECT_LE(s.size, static_cast<int64_t>(cache.capacity()));
  EXPECT_GE(s.size, 80);  // the shards fill up
  EXPECT_EQ(s.inserts, 5000);
  EXPECT_EQ(s.evictions, 5000 - s.size);
  // The newest entry is always there (evictions happen before inserting).
  EXPECT_NE(cache.Find(VerifiedTokenCache::DigestOf("token-4999"), 1), nullptr);
}

TEST(VerifiedTokenCacheTest, ConcurrentFindsAndInserts) {
  VerifiedTokenCache cache(64);
  std::vector<Digest> digests;
  for (int i = 0; i < 256; ++i) {
    digests.push_back(VerifiedTokenCache::DigestOf(absl::StrCat("t", i)));
  }
  auto entry = MakeEntry(3);
  std::atomic<int64_t> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const Digest& d = digests[(i * 7 + t) % digests.size()];
        if (i % 3 == 0) {
          cache.Insert(d, entry);
        } else if (auto hit = cache.Find(d, 3)) {
          if (hit->claims.token_id() != "AAECAwQFBgcICQoLDA0ODw") ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const VerifiedTokenCache::Stats s = cache.GetStats();
  EXPECT_LE(s.size, static_cast<int64_t>(cache.capacity()));
  EXPECT_EQ(s.hits + s.misses, 4 * (20000 - 6667));
}

}  // namespace
}  // namespace token_authority::token

#include "token/verified_token_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "token/openssl_util.h"

namespace token_authority::token {

VerifiedTokenCache::VerifiedTokenCache(size_t capacity)
    : per_shard_(std::max<size_t>(1, (capacity + kShards - 1) / kShards)),
      shards_(kShards) {}

VerifiedTokenCache::Digest VerifiedTokenCache::DigestOf(absl::string_view jwt) {
  Digest d{};
  unsigned int len = 0;
  // SHA-256 of in-memory bytes with a fetched digest cannot fail short of
  // memory exhaustion; a failure leaves an all-zero digest, which only
  // makes lookups miss (Insert refuses it).
  if (EVP_Digest(jwt.data(), jwt.size(), d.data(), &len, internal::Sha256(),
                 nullptr) != 1 ||
      len != d.size()) {
    internal::ClearOpenSslErrors();
    d.fill(0);
  }
  return d;
}

std::shared_ptr<const VerifiedTokenCache::Entry> VerifiedTokenCache::Find(
    const Digest& digest, uint64_t generation) const {
  std::shared_ptr<const Entry> found;
  {
    const Shard& shard = ShardOf(digest);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.entries.find(digest);
    if (it != shard.entries.end() &&
        it->second->key_set_generation == generation) {
      found = it->second;
    }
  }
  (found != nullptr ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

void VerifiedTokenCache::Insert(const Digest& digest,
                                std::shared_ptr<const Entry> entry) {
  if (entry == nullptr || digest == Digest{}) return;
  std::shared_ptr<const Entry> evicted;  // released outside the lock
  {
    Shard& shard = ShardOf(digest);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.entries.find(digest);
    if (it != shard.entries.end()) {
      evicted = std::exchange(it->second, std::move(entry));
    } else {
      if (shard.entries.size() >= per_shard_) {
        auto victim = shard.entries.begin();
        evicted = std::move(victim->second);
        shard.entries.erase(victim);
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
      shard.entries.emplace(digest, std::move(entry));
    }
  }
  inserts_.fetch_add(1, std::memory_order_relaxed);
}

VerifiedTokenCache::Stats VerifiedTokenCache::GetStats() const {
  Stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.inserts = inserts_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    s.size += static_cast<int64_t>(shard.entries.size());
  }
  return s;
}

}  // namespace token_authority::token

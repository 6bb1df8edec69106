// A bounded cache of tokens that passed the verifier's context-free rules
// (1-10 of verifier.h: format, header, key, signature, claims) with one key
// set, so that a token presented again skips its signature check.
//
// Why: a playback token is pasted into the player's configuration (the
// security config object), so every viewer of a page presents the same JWT;
// a P-256 signature check costs ~40 us of CPU, a lookup here ~1 us. The
// rules that depend on the request, the time or the store (organisation,
// disabled organisation, revocation, expiry, not-before, target, IP, domain)
// still run on every call.
//
// Safety: entries are keyed by the SHA-256 of the whole token, so a token
// that differs in any byte is a miss and gets the full check; the cache never
// holds the token itself. Only tokens whose signature verified are inserted,
// so nobody can fill it without valid tokens. An entry is bound to the key
// set generation that verified it: a rotated or retired key makes a new key
// set, and the old entries miss. When a shard is full, inserting evicts an
// arbitrary entry of that shard.
//
// Memory: an entry holds the token's decoded claims, so it grows with the
// token (measured with glibc malloc: 661 bytes of heap per entry for a
// 457-byte one-stream token, 2,947 for a 2,589-byte token). Tokens longer
// than kMaxCachedTokenBytes (2 KiB) are not cached and are checked in full
// every time, which bounds the cache at about capacity x 2.5 KiB (25 MB for the
// server's default 10,000 entries) instead of ~9 KiB (by the same ratio) per
// 8 KiB token.
#ifndef TOKEN_VERIFIED_TOKEN_CACHE_H_
#define TOKEN_VERIFIED_TOKEN_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "token/algorithm.h"
#include "token/claims.h"

namespace token_authority::token {

class VerifiedTokenCache {
 public:
  using Digest = std::array<uint8_t, 32>;

  // The longest token the verifier caches.
  static constexpr size_t kMaxCachedTokenBytes = 2048;

  // What rules 1-10 established about a token.
  struct Entry {
    uint64_t key_set_generation = 0;
    std::string key_id;
    Algorithm algorithm = Algorithm::kEs256;
    Claims claims;
  };

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t inserts = 0;
    int64_t evictions = 0;
    int64_t size = 0;
  };

  // Holds at most `capacity` entries (at least one per shard).
  explicit VerifiedTokenCache(size_t capacity);
  VerifiedTokenCache(const VerifiedTokenCache&) = delete;
  VerifiedTokenCache& operator=(const VerifiedTokenCache&) = delete;

  // SHA-256 of `jwt`.
  static Digest DigestOf(absl::string_view jwt);

  // The entry for `digest` made with key set `generation`, or null.
  // Thread-safe.
  std::shared_ptr<const Entry> Find(const Digest& digest,
                                    uint64_t generation) const;

  // Remembers `entry` under `digest` (replacing an older one). Thread-safe.
  void Insert(const Digest& digest, std::shared_ptr<const Entry> entry);

  size_t capacity() const { return shards_.size() * per_shard_; }
  Stats GetStats() const;

 private:
  static constexpr size_t kShards = 16;

  // The digest is uniformly distributed: its first bytes are its hash.
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof(h));
      return h;
    }
  };
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<Digest, std::shared_ptr<const Entry>, DigestHash>
        entries;  // guarded by mu
  };

  const Shard& ShardOf(const Digest& d) const {
    return shards_[d[8] % kShards];
  }
  Shard& ShardOf(const Digest& d) { return shards_[d[8] % kShards]; }

  const size_t per_shard_;
  std::vector<Shard> shards_;
  mutable std::atomic<int64_t> hits_{0};
  mutable std::atomic<int64_t> misses_{0};
  std::atomic<int64_t> inserts_{0};
  std::atomic<int64_t> evictions_{0};
};

}  // namespace token_authority::token

#endif  // TOKEN_VERIFIED_TOKEN_CACHE_H_

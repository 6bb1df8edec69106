#include "server/api_key_registry.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "server/api_key_secret.h"

namespace token_authority::server {
namespace {

// A token bucket: `burst` requests at once, refilled at `rate` per second.
class TokenBucket {
 public:
  // Takes one request's token at `now`; RESOURCE_EXHAUSTED with a retry hint
  // (naming `key_id`) when the bucket is empty.
  absl::Status Take(double rate, double burst, absl::Time now,
                    absl::string_view key_id) {
    MutexLock lock(&mu_);
    if (tokens_ < 0) {
      tokens_ = burst;
      time_ = now;
    }
    const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - time_));
    tokens_ = std::min(burst, tokens_ + elapsed * rate);
    time_ = std::max(time_, now);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return absl::OkStatus();
    }
    const int64_t retry_ms =
        static_cast<int64_t>((1.0 - tokens_) / rate * 1000.0) + 1;
    return absl::ResourceExhaustedError(
        absl::StrFormat("rate limit of %g requests/s exceeded for API key %s: "
                        "retry after %d ms",
                        rate, key_id, retry_ms));
  }

 private:
  Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_) = -1;  // -1: not started
  absl::Time time_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

// One key. Immutable but for the atomics and the bucket (its own lock).
struct ApiKeyRegistry::Entry {
  explicit Entry(const storage::ApiKey& k)
      : id(k.id),
        organization_id(k.organization_id),
        role(k.role),
        secret_hash(k.secret_hash),
        revoked(k.revoked_at.has_value()) {}

  const std::string id;
  const std::string organization_id;
  const ApiKeyRole role;
  const std::string secret_hash;
  std::atomic<bool> revoked;
  std::atomic<int64_t> last_touch_unix_nanos{0};
  TokenBucket bucket;
};

ApiKeyRegistry::ApiKeyRegistry(ApiKeyRegistryOptions options,
                               storage::TokenStore* store, const Clock& clock)
    : options_(options), store_(store), clock_(clock) {}

ApiKeyRegistry::~ApiKeyRegistry() = default;

std::shared_ptr<ApiKeyRegistry::Entry> ApiKeyRegistry::Find(
    absl::string_view api_key_id) const {
  ReaderLock lock(&mu_);
  auto it = keys_.find(api_key_id);
  return it == keys_.end() ? nullptr : it->second;
}

absl::StatusOr<Caller> ApiKeyRegistry::Authenticate(
    absl::string_view api_key_secret, absl::string_view organization_header) {
  if (api_key_secret.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send \"authorization: Bearer <api key>\"");
  }
  absl::StatusOr<std::string> id = ApiKeyIdFromSecret(api_key_secret);
  if (!id.ok()) return absl::UnauthenticatedError("invalid API key");
  std::shared_ptr<Entry> entry = Find(*id);
  const std::string hash = HashApiKeySecret(api_key_secret);
  if (entry == nullptr || !ApiKeyHashesEqual(hash, entry->secret_hash)) {
    return absl::UnauthenticatedError("invalid API key");
  }
  if (entry->revoked.load(std::memory_order_acquire)) {
    return absl::UnauthenticatedError(
        absl::StrCat("API key ", entry->id, " has been revoked"));
  }

  Caller caller;
  caller.api_key_id = entry->id;
  caller.role = entry->role;
  if (entry->role == ApiKeyRole::kAdmin) {
    caller.organization_id = std::string(organization_header);
  } else {
    if (!organization_header.empty() &&
        organization_header != entry->organization_id) {
      return absl::PermissionDeniedError(
          "x-organization-id: only admin keys may act for another "
          "organization");
    }
    caller.organization_id = entry->organization_id;
  }

  const absl::Time now = clock_.Now();
  const double rate = options_.rate_limit_per_second;
  if (rate > 0) {
    const double burst = options_.rate_limit_burst > 0
                             ? options_.rate_limit_burst
                             : std::max(1.0, rate);
    TA_RETURN_IF_ERROR(entry->bucket.Take(rate, burst, now, entry->id));
  }
  Touch(*entry, now);
  return caller;
}

void ApiKeyRegistry::Touch(Entry& entry, absl::Time now) {
  const int64_t now_nanos = absl::ToUnixNanos(now);
  int64_t last = entry.last_touch_unix_nanos.load(std::memory_order_relaxed);
  if (now_nanos - last >= absl::ToInt64Nanoseconds(options_.touch_interval) &&
      entry.last_touch_unix_nanos.compare_exchange_strong(last, now_nanos)) {
    // Coalesced by the store; a failure only delays last_used_at.
    (void)store_->TouchApiKey(entry.id, now);
  }
}

void ApiKeyRegistry::Put(const storage::ApiKey& key) {
  auto entry = std::make_shared<Entry>(key);
  WriterLock lock(&mu_);
  keys_[key.id] = std::move(entry);
}

bool ApiKeyRegistry::PutIfAbsent(const storage::ApiKey& key) {
  auto entry = std::make_shared<Entry>(key);
  WriterLock lock(&mu_);
  return keys_.try_emplace(key.id, std::move(entry)).second;
}

void ApiKeyRegistry::MarkRevoked(absl::string_view api_key_id) {
  ReaderLock lock(&mu_);
  auto it = keys_.find(api_key_id);
  if (it != keys_.end()) {
    it->second->revoked.store(true, std::memory_order_release);
  }
}

bool ApiKeyRegistry::IsActive(absl::string_view api_key_id) const {
  if (api_key_id.empty()) return true;
  ReaderLock lock(&mu_);
  auto it = keys_.find(api_key_id);
  return it != keys_.end() &&
         !it->second->revoked.load(std::memory_order_acquire);
}

namespace {

template <typename EntryT>
bool IsActiveServiceAdmin(const EntryT& entry) {
  return entry.role == ApiKeyRole::kAdmin && entry.organization_id.empty() &&
         !entry.revoked.load(std::memory_order_acquire);
}

}  // namespace

bool ApiKeyRegistry::HasActiveAdminKey() const {
  ReaderLock lock(&mu_);
  for (const auto& [id, entry] : keys_) {
    if (IsActiveServiceAdmin(*entry)) return true;
  }
  return false;
}

}  // namespace token_authority::server

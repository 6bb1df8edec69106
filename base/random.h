// Injected randomness. Token ids, API key secrets and key material come from a
// RandomSource so tests can make them reproducible.
#ifndef BASE_RANDOM_H_
#define BASE_RANDOM_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/mutex.h"

namespace token_authority {

// A source of random bytes. Implementations are thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` entirely, or returns an error (then `out` is unspecified).
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;

  // `n` random bytes as a string.
  absl::StatusOr<std::string> Bytes(size_t n);

  // The process-wide cryptographically secure source (OpenSSL RAND_bytes).
  // Never destroyed.
  static RandomSource& Secure();
};

// Deterministic bytes for tests: a counter-mode stream seeded by `seed`.
// NOT cryptographically secure.
class FakeRandom : public RandomSource {
 public:
  explicit FakeRandom(uint64_t seed = 1) : state_(seed) {}
  absl::Status Fill(absl::Span<uint8_t> out) override;

 private:
  Mutex mu_;
  uint64_t state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace token_authority

#endif  // BASE_RANDOM_H_

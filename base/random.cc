#include "base/random.h"

#include <openssl/rand.h>

#include <climits>

namespace token_authority {
namespace {

class OpenSslRandom : public RandomSource {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override {
    size_t done = 0;
    while (done < out.size()) {
      const size_t chunk = std::min<size_t>(out.size() - done, INT_MAX);
      if (RAND_bytes(out.data() + done, static_cast<int>(chunk)) != 1) {
        return absl::InternalError("RAND_bytes failed");
      }
      done += chunk;
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<std::string> RandomSource::Bytes(size_t n) {
  std::string s(n, '\0');
  absl::Status st =
      Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(s.data()), n));
  if (!st.ok()) return st;
  return s;
}

RandomSource& RandomSource::Secure() {
  static OpenSslRandom* const kRandom = new OpenSslRandom();
  return *kRandom;
}

absl::Status FakeRandom::Fill(absl::Span<uint8_t> out) {
  MutexLock lock(&mu_);
  for (uint8_t& b : out) {
    // splitmix64 step per byte: cheap, deterministic, well mixed.
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    b = static_cast<uint8_t>(z ^ (z >> 31));
  }
  return absl::OkStatus();
}

}  // namespace token_authority

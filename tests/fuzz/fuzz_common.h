// Shared by the libFuzzer targets in tests/fuzz/: fixed keys (a key set of
// one organisation holding an ES256 primary and RS256, EdDSA and HS256 keys),
// a fixed "now", and FUZZ_CHECK, which aborts (a finding) when a property
// the code promises does not hold.
#ifndef TESTS_FUZZ_FUZZ_COMMON_H_
#define TESTS_FUZZ_FUZZ_COMMON_H_

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/time/time.h"
#include "token/key_set.h"
#include "token/signing_key.h"

namespace token_authority::fuzz {

inline constexpr char kOrganization[] = "fuzz-org";
// 2026-01-01T00:00:00Z; the seeds are valid around it.
inline const absl::Time kNow = absl::FromUnixSeconds(1767225600);

struct FuzzKeys {
  std::shared_ptr<const token::SigningKey> es256, rs256, eddsa, hs256;
  std::unique_ptr<token::KeySet> set;
};

// Built once; never destroyed. Aborts if a fixed key does not load.
const FuzzKeys& Keys();

}  // namespace token_authority::fuzz

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

#endif  // TESTS_FUZZ_FUZZ_COMMON_H_

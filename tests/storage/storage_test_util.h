// Helpers shared by the storage tests: a temporary directory, a store
// opened on it with a fake clock and fake randomness, and record builders.
#ifndef TESTS_STORAGE_STORAGE_TEST_UTIL_H_
#define TESTS_STORAGE_STORAGE_TEST_UTIL_H_

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "gtest/gtest.h"
#include "storage/record_validation.h"
#include "storage/sqlite_token_store.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::storage::testing {

// One TempDir for every test (tests/testing/temp_dir.h).
using ::token_authority::testing::TempDir;

inline absl::Time StartTime() { return absl::FromUnixSeconds(1700000000); }

// A random (FakeRandom-driven) token id.
inline std::string NewTokenId(RandomSource& random) {
  std::string bytes = *random.Bytes(16);
  return EncodeTokenId(bytes);
}

inline std::string Sha(char fill) { return std::string(kSha256Length, fill); }

// A valid streams token of `org` signed with `kid` (ES256), issued at `iat`,
// valid for `lifetime`.
inline Token MakeToken(RandomSource& random, const std::string& org,
                       const std::string& kid, absl::Time iat,
                       absl::Duration lifetime = absl::Hours(1)) {
  Token t;
  t.id = NewTokenId(random);
  t.organization_id = org;
  t.target_kind = token::Target::Kind::kStreams;
  t.streams = {"cam1", "cam2"};
  t.issued_at = iat;
  t.not_before = iat;
  t.expires_at = iat + lifetime;
  t.key_id = kid;
  t.algorithm = token::Algorithm::kEs256;
  t.jwt_sha256 = Sha('j');
  return t;
}

// An API key `id` of `org` ("" for service-wide) with `role`, its secret
// hash made of `fill`.
inline ApiKey MakeApiKey(const std::string& id, const std::string& org,
                         ApiKeyRole role, char fill) {
  ApiKey k;
  k.id = id;
  k.organization_id = org;
  k.role = role;
  k.secret_hash = Sha(fill);
  return k;
}

inline SigningKey MakeKey(const std::string& org, const std::string& kid,
                          token::Algorithm alg = token::Algorithm::kEs256) {
  SigningKey k;
  k.organization_id = org;
  k.kid = kid;
  k.algorithm = alg;
  k.private_key = absl::StrCat("-----PRIVATE KEY of ", org, "/", kid, "-----");
  return k;
}

inline Organization MakeOrg(const std::string& id) {
  Organization o;
  o.id = id;
  o.name = absl::StrCat("Organisation ", id);
  o.secure_enabled = true;
  return o;
}

}  // namespace token_authority::storage::testing

#endif  // TESTS_STORAGE_STORAGE_TEST_UTIL_H_

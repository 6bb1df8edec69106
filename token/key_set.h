// One organisation's signing keys: picks the primary for signing and finds a
// key by kid for verifying. Verification is always scoped to one key set, so
// a key of organisation B never verifies a token checked for organisation A.
#ifndef TOKEN_KEY_SET_H_
#define TOKEN_KEY_SET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "token/claims.h"
#include "token/signing_key.h"

namespace token_authority::token {

struct KeySetEntry {
  std::shared_ptr<const SigningKey> key;
  KeyState state = KeyState::kActive;
};

// What signing produced.
struct SignedToken {
  std::string jwt;
  std::string key_id;
  Algorithm algorithm;
};

// An immutable key set. Cheap to copy (keys are shared); all methods are
// const and thread-safe. To change a set (rotation), build a new one and swap
// a shared_ptr.
class KeySet {
 public:
  // A set for `organization_id` (valid organisation id) holding `entries`:
  // non-null keys with distinct kids, at most one kPrimary, which must be
  // able to sign. InvalidArgumentError otherwise.
  static absl::StatusOr<KeySet> Create(std::string organization_id,
                                       std::vector<KeySetEntry> entries);

  // A verify-only set from a JWK Set document (see ParseJwks); every key is
  // kActive, none is primary.
  static absl::StatusOr<KeySet> FromJwks(std::string organization_id,
                                         absl::string_view jwks_json,
                                         absl::Time now);

  const std::string& organization_id() const { return organization_id_; }
  // Identifies this set's contents for caches of verification results: sets
  // made by different Create calls never share a generation (copies do).
  uint64_t generation() const { return generation_; }
  // The primary key, or nullptr when the set has none.
  const SigningKey* primary() const { return primary_; }
  // The entry with `kid`, or nullptr.
  const KeySetEntry* Find(absl::string_view kid) const;
  const std::vector<KeySetEntry>& entries() const { return entries_; }

  // A JWK Set of the public keys that verify (primary and active, not
  // retired; never HS256), primary first.
  std::string ToJwksJson() const;

  // Signs `claims` with the primary key into a JWS compact JWT with header
  // {"alg","typ":"JWT","kid"}. FailedPreconditionError if the set has no
  // primary; InvalidArgumentError if claims.organization_id() is not this
  // set's organisation; InternalError if OpenSSL fails.
  absl::StatusOr<SignedToken> Sign(const Claims& claims) const;

 private:
  KeySet() = default;
  std::string organization_id_;
  std::vector<KeySetEntry> entries_;
  absl::flat_hash_map<std::string, size_t> by_kid_;
  const SigningKey* primary_ = nullptr;
  uint64_t generation_ = 0;
};

}  // namespace token_authority::token

#endif  // TOKEN_KEY_SET_H_

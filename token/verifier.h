// Verification of a playback token for one playback request.
//
// Rules, in the order they are checked; the result names the FIRST rule that
// fails:
//   1. At most kMaxTokenBytes (8 KiB), checked before any parsing. MALFORMED.
//   2. Exactly three '.'-separated segments, the header one non-empty.
//      MALFORMED.
//   3. The header is strict base64url (no padding, no foreign characters,
//      canonical trailing bits) of a JSON object (no duplicate members,
//      nesting <= 32) with a string "alg". MALFORMED.
//   4. "alg" is exactly one of ES256, RS256, EdDSA, HS256; "none" in any
//      casing, other casings and unknown names: UNSUPPORTED_ALGORITHM (this
//      comes before the signature segment is looked at, so an unsigned "alg
//      none" token with an empty third segment is UNSUPPORTED_ALGORITHM).
//   5. "crit" present (no extension is understood): MALFORMED. "jku", "x5u",
//      "jwk" or "x5c" present (keys are never taken from a token): MALFORMED.
//      "typ", when present, must be "JWT" (any casing): MALFORMED.
//   6. The payload and signature segments are strict base64url, and the
//      signature is not empty. MALFORMED.
//   7. "kid" a non-empty string naming a key of the organisation's key set:
//      otherwise UNKNOWN_KEY; a retired key: UNKNOWN_KEY.
//   8. The key's algorithm equals "alg" (no algorithm confusion):
//      UNSUPPORTED_ALGORITHM.
//   9. The signature verifies (ES256: 64-byte R||S with 0 < r, s < n only;
//      DER is refused): BAD_SIGNATURE.
//  10. The payload parses as claims (ParseClaims: types, required members,
//      exactly one target, no duplicate members): MALFORMED.
//  11. The token's "org" equals the key set's organisation, and the request's
//      organisation equals it too (an empty request organisation matches
//      none): TARGET_MISMATCH.
//  12. hooks->IsOrganizationDisabled(org): ORGANIZATION_DISABLED.
//  13. hooks->IsRevoked(claims): REVOKED (revocation is by jti, so a revoked
//      token re-encoded differently stays revoked; a revoked token reports
//      REVOKED even once expired).
//  14. Expiry: refused iff now >= exp + leeway: EXPIRED.
//  15. Not-before: refused iff now < nbf - leeway: NOT_YET_VALID.
//      (exp and nbf are whole seconds; `now` keeps its sub-second part. With
//      exp = E and leeway L the last accepted instant is just before E + L,
//      and E + L itself is refused; with nbf = N, N - L is the first accepted
//      instant.)
//  16. The target covers the request (Target::Covers): TARGET_MISMATCH.
//  17. "ip" set: the request's client_ip parses and lies in the token's
//      address/network (IPv4-mapped IPv6 counts as IPv4, see ip_address.h):
//      IP_MISMATCH.
//  18. "domain" set: the request's domain matches (see domain.h):
//      DOMAIN_MISMATCH.
// Details never contain the token; values taken from it (kid, alg, typ) are
// escaped and cut to 64 characters.
// With VerifierOptions::cache, what rules 1-10 found for a token already seen
// with the same key set is taken from the cache (verified_token_cache.h);
// the verdict and its detail are the same as without it.
#ifndef TOKEN_VERIFIER_H_
#define TOKEN_VERIFIER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "token/algorithm.h"
#include "token/claims.h"
#include "token/deny_reason.h"
#include "token/key_set.h"
#include "token/token_rules.h"
#include "token/verified_token_cache.h"

namespace token_authority::token {

// What is being played (mirrors proto VerifyTokenRequest without the jwt).
// organization_id is required (see ValidatePlaybackRequest); the other empty
// strings mean "not known".
struct PlaybackRequest {
  // The organisation that owns the stream being played. Never taken from the
  // token: a token of organisation B must not play organisation A's stream.
  std::string organization_id;
  std::string stream_group_id;
  std::string stream_name;
  std::string client_ip;
  std::string domain;
};

// INVALID_ARGUMENT "organization_id: required ..." when the request names no
// organisation; OK otherwise. The server's VerifyToken and the client's
// LocalVerifier answer with it before verifying; TokenVerifier::Verify itself
// denies such a request (rule 11).
absl::Status ValidatePlaybackRequest(const PlaybackRequest& request);

// The verdict.
struct VerifyResult {
  bool allowed = false;
  DenyReason reason = DenyReason::kUnspecified;  // kUnspecified iff allowed
  std::string detail;    // one sentence for people and logs; never the token
  std::string token_id;  // the jti, once the signature has verified
  std::string key_id;    // the header's kid, when it could be read
  std::optional<Algorithm> algorithm;  // the header's alg, when supported
  std::optional<Claims> claims;  // once the signature verified and they parsed

  static VerifyResult Deny(DenyReason reason, std::string detail);
};

// Decisions the core cannot make alone (revocation lists, organisation
// state), supplied by the server or the client's LocalVerifier.
// Implementations must be thread-safe; they are called on the hot path only
// for tokens whose signature verified.
class VerifyHooks {
 public:
  virtual ~VerifyHooks() = default;
  // Whether the organisation is gone or has no secure playback.
  virtual bool IsOrganizationDisabled(absl::string_view organization_id) const;
  // Whether the token (claims.token_id() within claims.organization_id()) is
  // revoked.
  virtual bool IsRevoked(const Claims& claims) const;
};

struct VerifierOptions {
  // Tolerated clock skew for exp and nbf. Must not be negative.
  absl::Duration leeway = absl::Seconds(60);
  // Remembers tokens that passed rules 1-10 so that a token presented again
  // skips them (see verified_token_cache.h); rules 11-18 run on every call.
  // Null: every call checks everything. May be shared by verifiers.
  std::shared_ptr<VerifiedTokenCache> cache;
};

// Verifies tokens by the rules above. Immutable; Verify is const and
// thread-safe.
class TokenVerifier {
 public:
  explicit TokenVerifier(VerifierOptions options = {});

  // Verifies `jwt` for `request` with the keys of `keys` (the request's
  // organisation's key set) at `now`. `hooks` may be null (nothing revoked,
  // organisation enabled). Never fails: every problem is a denial.
  VerifyResult Verify(absl::string_view jwt, const PlaybackRequest& request,
                      const KeySet& keys, absl::Time now,
                      const VerifyHooks* hooks = nullptr) const;

  const VerifierOptions& options() const { return options_; }

 private:
  // Rules 1-10; the result has claims iff they all passed.
  VerifyResult CheckSignedToken(absl::string_view jwt,
                                const KeySet& keys) const;
  // Rules 11-18 for a result of CheckSignedToken (returned as is when it has
  // no claims).
  VerifyResult CheckRequest(VerifyResult result, const PlaybackRequest& request,
                            const KeySet& keys, absl::Time now,
                            const VerifyHooks* hooks) const;

  VerifierOptions options_;
};

}  // namespace token_authority::token

#endif  // TOKEN_VERIFIER_H_

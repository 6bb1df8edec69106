// What a caller asks to issue (mirrors proto tokenauthority.v1.TokenSpec),
// its validation (every violation at once) and its resolution into the times
// and claims of a new token.
#ifndef TOKEN_TOKEN_SPEC_H_
#define TOKEN_TOKEN_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/random.h"
#include "token/claims.h"
#include "token/target.h"
#include "token/validation.h"

namespace token_authority::token {

// A request for a token. Plain data; validate with ValidateTokenSpec.
struct TokenSpec {
  // Required: exactly one target (nullopt: none was given).
  std::optional<Target> target;
  // How long the token is valid, counted from not_before when given (as a
  // user reads "valid for 2 weeks from Jan 1"), else from the issue time.
  // Neither this nor expires_at: the default lifetime, counted the same way.
  // Not together with expires_at.
  std::optional<absl::Duration> lifetime;
  // Absolute expiry instead of a lifetime.
  std::optional<absl::Time> expires_at;
  // Not valid before this time; defaults to the issue time.
  std::optional<absl::Time> not_before;
  // Optional restrictions and labels; empty means none.
  std::string client_ip;  // address or CIDR, IPv4 or IPv6
  std::string domain;     // host name or "*." + host name
  std::string user_id;    // at most 128 printable characters
  std::string tag;        // at most 128 printable characters
};

// Server policy for lifetimes.
struct TokenLimits {
  absl::Duration default_lifetime = absl::Hours(24 * 14);
  absl::Duration max_lifetime = absl::Hours(24 * 365);
};

// Every violation of `spec` at time `now` (empty when valid). Rules, with
// the field each is reported under:
//  - target: exactly one target must be given; a stream group id must be
//    1-128 printable ASCII characters without spaces.
//  - stream_names: 1-100 names, each 1-128 characters of [A-Za-z0-9._-].
//  - lifetime: at least 1 s (JWT times are whole seconds) and at most
//    limits.max_lifetime.
//  - expires_at: not together with lifetime; after now; at most
//    limits.max_lifetime after now.
//  - not_before: before the expiry (whichever way the expiry is given or
//    defaulted); not before 1970 (NumericDate).
//  - client_ip: an IPv4/IPv6 address or CIDR network.
//  - domain: a host name or "*." + host name.
//  - user_id, tag: at most 128 printable characters (valid UTF-8, no control
//    characters).
//  - stream_names (again): the whole token at most kMaxTokenBytes (8 KiB,
//    what verifiers accept) whatever key, issuer and organisation sign it,
//    see MaxTokenBytes (about 35 names of 128 characters; 100 of 30).
// Thread-safe; never fails.
std::vector<FieldViolation> ValidateTokenSpec(const TokenSpec& spec,
                                              const TokenLimits& limits,
                                              absl::Time now);

// The most bytes a token issued for `spec` can take: the spec's own values
// as they will be written, and the largest header, signature (RS256, 4096
// bits), issuer and organisation id there can be. Thread-safe.
size_t MaxTokenBytes(const TokenSpec& spec);

// The times of a token issued at `now`, in whole seconds (truncated toward
// the past): issued_at = now; not_before = spec.not_before or issued_at;
// expires_at = spec.expires_at or not_before + (spec.lifetime or
// limits.default_lifetime).
struct TokenTimes {
  absl::Time issued_at;
  absl::Time not_before;
  absl::Time expires_at;
};

// Validates `spec` (ViolationsToStatus of ValidateTokenSpec: one
// InvalidArgumentError listing every violation) and resolves its times.
absl::StatusOr<TokenTimes> ResolveTokenTimes(const TokenSpec& spec,
                                             const TokenLimits& limits,
                                             absl::Time now);

// Validates `spec`, resolves its times and builds the claims of a new token
// for `organization_id` with issuer `issuer` and a token id drawn from
// `random`. InvalidArgumentError listing every violation; the builder's
// error for a bad issuer or organisation id; the error of `random`.
absl::StatusOr<Claims> ClaimsFromSpec(const TokenSpec& spec,
                                      const TokenLimits& limits, absl::Time now,
                                      absl::string_view issuer,
                                      absl::string_view organization_id,
                                      RandomSource& random);

}  // namespace token_authority::token

#endif  // TOKEN_TOKEN_SPEC_H_

// Decoding a token without trusting it, for the overview and DecodeToken:
// header and claims as JSON text, the claims structured as far as they can be
// read, and EVERY problem found (not only the first), also for expired,
// not-yet-valid, foreign and broken tokens. The rules and their sentences are
// the verifier's (token_rules.h), run in RuleMode::kEveryProblem.
#ifndef TOKEN_DECODER_H_
#define TOKEN_DECODER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "token/claims.h"
#include "token/deny_reason.h"
#include "token/jws.h"
#include "token/key_set.h"
#include "token/token_rules.h"

namespace token_authority::token {

struct DecodedToken {
  // The decoded segments exactly as carried by the token (valid UTF-8 or
  // not); empty if a segment could not be decoded.
  std::string header_json;
  std::string payload_json;
  // The header members, when the header parsed.
  std::optional<JwsHeader> header;
  // Everything readable from the payload, member by member.
  PartialClaims partial_claims;
  // The claims, when the payload passes ParseClaims.
  std::optional<Claims> claims;
  // Whether a key set was given and the signature could be checked with one
  // of its keys; and whether it verified.
  bool signature_checked = false;
  bool signature_valid = false;
  // The validity window at decoding time, when exp and nbf could be read.
  std::optional<TimeValidity> time_validity;
  // Every problem, in rule order (see verifier.h); empty iff the token is
  // well-formed, signed by a non-retired key of `keys` (when given), for
  // `keys`' organisation, and within its validity window. Revocation is not
  // known here.
  std::vector<TokenProblem> problems;
};

// Decodes `jwt`. When `keys` is non-null the signature is checked with the
// key named by "kid" (UNKNOWN_KEY, UNSUPPORTED_ALGORITHM, BAD_SIGNATURE
// problems) and the "org" claim compared with the set's organisation
// (TARGET_MISMATCH); when null, "the signature was not checked" is not a
// problem. Tokens over 8 KiB are refused (one MALFORMED problem, nothing
// decoded). Never fails; thread-safe.
DecodedToken DecodeToken(absl::string_view jwt, const KeySet* keys,
                         absl::Time now,
                         absl::Duration leeway = absl::Seconds(60));

}  // namespace token_authority::token

#endif  // TOKEN_DECODER_H_

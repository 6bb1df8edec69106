// JWS compact serialization (RFC 7515 section 7.1): BASE64URL(header) "."
// BASE64URL(payload) "." BASE64URL(signature).
#ifndef TOKEN_JWS_H_
#define TOKEN_JWS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/signing_key.h"

namespace token_authority::token {

// Tokens longer than this are refused before any parsing.
inline constexpr size_t kMaxTokenBytes = 8192;

// Encodes a JWS with header {"alg":<key's alg>,"typ":"JWT","kid":<kid>} and
// `payload`, signed by `key`. FailedPreconditionError for a verify-only key;
// InternalError if OpenSSL fails.
absl::StatusOr<std::string> EncodeJws(absl::string_view payload,
                                      const SigningKey& key);

// The three segments of a compact JWS, as views into the input.
struct JwsSegments {
  absl::string_view header_b64;
  absl::string_view payload_b64;
  absl::string_view signature_b64;
  absl::string_view signing_input;  // header_b64 "." payload_b64
};

// Splits `jwt` into exactly three segments. InvalidArgumentError for more
// than kMaxTokenBytes bytes, fewer or more than two dots, or an empty header
// or signature segment. Does not decode.
absl::StatusOr<JwsSegments> SplitJws(absl::string_view jwt);

// The protected header members the core understands.
struct JwsHeader {
  std::string alg;  // as written (may be "none" or unknown)
  std::string kid;  // empty when absent
  bool has_kid = false;
  std::string typ;  // empty when absent
  bool has_typ = false;
  std::vector<std::string> crit;  // "crit" names, empty when absent
  bool has_crit = false;
  // Key-source members present ("jku", "x5u", "jwk", "x5c"): never fetched
  // or trusted; the verifier refuses tokens that carry any of them.
  std::vector<std::string> key_source_members;
};

// Parses the decoded header: a JSON object without duplicate members,
// nesting at most 32 deep, "alg" a string (required), "kid" and "typ"
// strings, "crit" a non-empty array of strings. InvalidArgumentError naming
// the problem. Does not judge the values (see the verifier).
absl::StatusOr<JwsHeader> ParseJwsHeader(absl::string_view header_json);

// `text` without surrounding whitespace and without a leading "Bearer "
// (any case): a JWT as people paste it, from an Authorization header or a
// log line. The dialogs and tokenctl read pasted tokens through it.
absl::string_view TrimPastedToken(absl::string_view text);

// A JWS whose signature verified.
struct VerifiedJws {
  std::string header_json;
  std::string payload;
  JwsHeader header;
};

// Low-level check of a compact JWS against one key, for conformance tests and
// tools: splits and strictly decodes the segments, parses the header, requires
// header "alg" == the key's algorithm, refuses "crit" and key-source members,
// and verifies the signature. Does not look at "kid" or at the payload.
// InvalidArgumentError (malformed), UnimplementedError (alg mismatch or
// crit), UnauthenticatedError (bad signature).
absl::StatusOr<VerifiedJws> VerifyJws(absl::string_view jwt,
                                      const SigningKey& key);

}  // namespace token_authority::token

#endif  // TOKEN_JWS_H_

// The claims of a playback token and their JSON form.
//
// Registered claims: "iss", "jti" (128 random bits, base64url), "iat", "nbf",
// "exp" (integer NumericDate seconds), plus "org" (the organisation id) and
// exactly one target claim as in the nanoStream token API: "groupid"
// (string), "streams" (array of names) or "orgawide" (true). Optional
// restrictions: "ip" (address or CIDR), "domain" (host or *.host), "user",
// "tag". Other claims in a parsed token are ignored.
#ifndef TOKEN_CLAIMS_H_
#define TOKEN_CLAIMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/random.h"
#include "token/target.h"

namespace token_authority::token {

// Token ids: 16 bytes, base64url (22 characters).
inline constexpr size_t kTokenIdBytes = 16;

// A fresh time-ordered token id (the layout of RFC 9562 UUIDv7, without its
// version and variant bits): the first 6 bytes are `issued_at` in Unix
// milliseconds, big-endian (clamped to 0 before 1970), the other 10 come from
// `random`. Raw ids of later milliseconds compare greater byte by byte, so a
// store's index on them grows at its end instead of at random places; ids of
// the same millisecond differ in their 80 random bits. The base64url text is
// not ordered (its alphabet is not in ASCII order). Fails only if `random`
// fails. Thread-safe if `random` is.
absl::StatusOr<std::string> NewTokenId(RandomSource& random,
                                       absl::Time issued_at);
// A token id of 16 random bytes, for tools and tests that have no issue
// time. Fails only if `random` fails.
absl::StatusOr<std::string> NewTokenId(RandomSource& random);

// The latest NumericDate accepted anywhere (9999-12-31T23:59:59Z).
inline constexpr int64_t kMaxNumericDate = 253402300799;

// An immutable, well-formed set of claims: every member present and of the
// right type, exactly one target, exp > nbf. Made by ClaimsBuilder (which
// validates the values strictly) or ParseClaims (which checks structure and
// types of a received token). Copyable; thread-compatible.
class Claims {
 public:
  const std::string& issuer() const { return iss_; }
  const std::string& token_id() const { return jti_; }
  absl::Time issued_at() const { return absl::FromUnixSeconds(iat_); }
  absl::Time not_before() const { return absl::FromUnixSeconds(nbf_); }
  absl::Time expires_at() const { return absl::FromUnixSeconds(exp_); }
  int64_t issued_at_unix() const { return iat_; }
  int64_t not_before_unix() const { return nbf_; }
  int64_t expires_at_unix() const { return exp_; }
  const std::string& organization_id() const { return org_; }
  const Target& target() const { return target_; }
  // Empty when the token is not bound to an address / domain / user / tag.
  const std::string& client_ip() const { return ip_; }
  const std::string& domain() const { return domain_; }
  const std::string& user_id() const { return user_; }
  const std::string& tag() const { return tag_; }

  // The compact JSON payload, members in a fixed order: iss, jti, iat, nbf,
  // exp, org, the target claim, then ip, domain, user, tag when not empty.
  std::string ToJson() const;

  friend bool operator==(const Claims& a, const Claims& b);
  friend bool operator!=(const Claims& a, const Claims& b) { return !(a == b); }

 private:
  friend class ClaimsBuilder;
  friend struct ClaimsAccess;
  Claims() : target_(Target::Organization()) {}

  std::string iss_, jti_;
  int64_t iat_ = 0, nbf_ = 0, exp_ = 0;
  std::string org_;
  Target target_;
  std::string ip_, domain_, user_, tag_;
};

// Builds Claims for a new token, validating every value: issuer 1-256
// printable characters; token id exactly 22 base64url characters (16 bytes),
// drawn from the RandomSource when not set; iat, nbf, exp whole seconds in
// [0, kMaxNumericDate] with exp > nbf and exp > iat (sub-second parts are
// truncated toward the past); organisation id valid; a valid target; ip a
// valid address/CIDR; domain a valid pattern; user id and tag at most 128
// printable characters. Not thread-safe (a builder is used by one thread).
class ClaimsBuilder {
 public:
  ClaimsBuilder& SetIssuer(std::string issuer);
  ClaimsBuilder& SetTokenId(std::string token_id);
  ClaimsBuilder& SetIssuedAt(absl::Time t);
  // Defaults to the issue time.
  ClaimsBuilder& SetNotBefore(absl::Time t);
  ClaimsBuilder& SetExpiresAt(absl::Time t);
  ClaimsBuilder& SetOrganizationId(std::string organization_id);
  ClaimsBuilder& SetTarget(Target target);
  // Build() signs these in their canonical forms (CanonicalIpPrefix,
  // CanonicalDomain): the forms the verifier compares and the store keeps.
  ClaimsBuilder& SetClientIp(std::string ip_or_cidr);
  ClaimsBuilder& SetDomain(std::string domain_pattern);
  ClaimsBuilder& SetUserId(std::string user_id);
  ClaimsBuilder& SetTag(std::string tag);

  // Validates and returns the claims; draws the token id from `random` if
  // none was set, time-ordered by the issue time as given to SetIssuedAt (to
  // the millisecond; the "iat" claim itself is whole seconds).
  // InvalidArgumentError listing every bad or missing member
  // ("iss: ...; exp: ..."); the error of `random` if it fails.
  absl::StatusOr<Claims> Build(RandomSource& random) const;
  // As above, but the token id must have been set.
  absl::StatusOr<Claims> Build() const;

 private:
  absl::StatusOr<Claims> BuildWithId(std::string jti) const;

  std::optional<std::string> iss_, jti_, org_;
  std::optional<absl::Time> iat_, nbf_, exp_;
  std::optional<Target> target_;
  std::string ip_, domain_, user_, tag_;
};

// What could be read from a token's payload, member by member, for decoding
// foreign, expired or broken tokens. Absent members (or members of the wrong
// type) are nullopt; `problems` says, one sentence each, what was missing or
// wrong ("claim \"exp\" must be an integer NumericDate, got a string").
struct PartialClaims {
  std::optional<std::string> issuer, token_id, organization_id;
  std::optional<int64_t> issued_at, not_before, expires_at;  // unix seconds
  std::optional<Target> target;
  std::optional<std::string> client_ip, domain, user_id, tag;
  std::vector<std::string> problems;
};

// Parses a payload leniently: the payload must be a JSON object (otherwise
// `problems` says so and everything is absent); each member is read on its
// own. Never fails. Thread-safe.
PartialClaims ParseClaimsLenient(absl::string_view payload_json);

// Parses a payload strictly for verification: a JSON object without
// duplicate member names (at any depth), nesting at most 32 deep, every claim
// of the right type ("iss", "jti", "org" non-empty strings; "iat", "nbf",
// "exp" integers in [0, kMaxNumericDate]; exactly one of "groupid" (non-empty
// string), "streams" (non-empty array of non-empty strings), "orgawide"
// (true); "ip", "domain", "user", "tag" strings when present, "ip" a valid
// address/CIDR, "domain" a valid pattern), and exp > nbf. InvalidArgumentError
// naming the first problem otherwise. Thread-safe.
absl::StatusOr<Claims> ParseClaims(absl::string_view payload_json);

}  // namespace token_authority::token

#endif  // TOKEN_CLAIMS_H_

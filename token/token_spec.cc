#include "token/token_spec.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/domain.h"
#include "token/ip_address.h"
#include "token/json.h"
#include "token/jws.h"
#include "token/time_util.h"

namespace token_authority::token {
namespace {

absl::Time FloorSeconds(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t));
}

// Worst cases of what the spec does not decide: the header (alg, typ and a
// kid), the signature (RS256 with a 4096-bit key), the issuer and the
// organisation at their maximum lengths, three 12-digit NumericDates, and
// the claims' member names and punctuation.
constexpr size_t kMaxHeaderJsonBytes = 160;
constexpr size_t kMaxSignatureBytes = 512;
constexpr size_t kFixedClaimsBytes =
    size_t{3} * 12 + kMaxIssuerLength + kMaxOrganizationIdLength + 22 + 160;

size_t Base64UrlLength(size_t n) { return (n * 4 + 2) / 3; }

size_t QuotedLength(absl::string_view s) {
  std::string quoted;
  json::AppendQuoted(s, &quoted);
  return quoted.size();
}

}  // namespace

size_t MaxTokenBytes(const TokenSpec& spec) {
  size_t claims = kFixedClaimsBytes + QuotedLength(spec.client_ip) +
                  QuotedLength(spec.domain) + QuotedLength(spec.user_id) +
                  QuotedLength(spec.tag);
  if (spec.target.has_value()) {
    claims += QuotedLength(spec.target->stream_group_id());
    for (const std::string& name : spec.target->stream_names()) {
      claims += QuotedLength(name) + 1;  // and a comma
    }
  }
  return Base64UrlLength(kMaxHeaderJsonBytes) + 1 + Base64UrlLength(claims) +
         1 + Base64UrlLength(kMaxSignatureBytes);
}

namespace {

// The lifetime, expiry and not-before of `spec` for a token issued at `iat`:
// problems go to `v` (fields "lifetime", "expires_at", "not_before").
void ValidateTimes(const TokenSpec& spec, const TokenLimits& limits,
                   absl::Time iat, std::vector<FieldViolation>& v) {
  const std::string max_text = token::FormatDuration(limits.max_lifetime);
  // A lifetime (given or the default) counts from the not-before time when
  // there is one ("valid for 2 weeks from Jan 1"), else from now.
  const absl::Time start =
      spec.not_before.has_value() && *spec.not_before >= absl::UnixEpoch()
          ? FloorSeconds(*spec.not_before)
          : iat;
  // The expiry the token would get, when it can be worked out.
  std::optional<absl::Time> expiry;
  if (spec.lifetime.has_value() && spec.expires_at.has_value()) {
    v.push_back(
        {"expires_at", "give either a lifetime or an expiry time, not both"});
  }
  if (spec.lifetime.has_value()) {
    const absl::Duration d = *spec.lifetime;
    if (d < absl::Seconds(1)) {
      v.push_back({"lifetime", absl::StrCat("must be at least 1s (got ",
                                            token::FormatDuration(d), ")")});
    } else if (d > limits.max_lifetime) {
      v.push_back(
          {"lifetime", absl::StrCat("must be at most ", max_text, " (got ",
                                    token::FormatDuration(d), ")")});
    } else if (!spec.expires_at.has_value()) {
      expiry = start + absl::Seconds(absl::ToInt64Seconds(d));
    }
  }
  if (spec.expires_at.has_value()) {
    const absl::Time exp = FloorSeconds(*spec.expires_at);
    if (exp <= iat) {
      v.push_back(
          {"expires_at", absl::StrCat("must be in the future (got ",
                                      FormatRfc3339(*spec.expires_at),
                                      ", now is ", FormatRfc3339(iat), ")")});
    } else if (exp - iat > limits.max_lifetime) {
      v.push_back({"expires_at",
                   absl::StrCat("must be at most ", max_text, " from now (got ",
                                FormatRfc3339(*spec.expires_at), ")")});
    } else if (!spec.lifetime.has_value()) {
      expiry = exp;
    }
  }
  if (!spec.lifetime.has_value() && !spec.expires_at.has_value()) {
    expiry =
        start + absl::Seconds(absl::ToInt64Seconds(limits.default_lifetime));
  }
  if (spec.not_before.has_value()) {
    const absl::Time nbf = FloorSeconds(*spec.not_before);
    if (*spec.not_before < absl::UnixEpoch()) {
      v.push_back({"not_before", "must not be before 1970-01-01T00:00:00Z"});
    } else if (!spec.expires_at.has_value() && expiry.has_value() &&
               *expiry <= iat) {
      // A lifetime counted from a not-before long past ends in the past.
      v.push_back(
          {"not_before",
           absl::StrCat("with the lifetime counted from it the token would "
                        "expire at ",
                        FormatRfc3339(*expiry), ", before now (",
                        FormatRfc3339(iat),
                        "); give a later not-before, a longer lifetime or an "
                        "expiry time")});
    } else if (expiry.has_value() && nbf >= *expiry) {
      v.push_back(
          {"not_before",
           absl::StrCat("must be before the expiry (", FormatRfc3339(*expiry),
                        "), got ", FormatRfc3339(*spec.not_before))});
    }
  }
}

// The optional restrictions and labels of `spec`: problems go to `v`
// (fields "client_ip", "domain", "user_id", "tag").
void ValidateRestrictions(const TokenSpec& spec,
                          std::vector<FieldViolation>& v) {
  if (!spec.client_ip.empty()) {
    auto p = IpPrefix::Parse(spec.client_ip);
    if (!p.ok()) {
      v.push_back(
          {"client_ip", absl::StrCat(p.status().message(),
                                     "; give an IPv4 or IPv6 address or a CIDR "
                                     "network such as 203.0.113.0/24")});
    }
  }
  if (!spec.domain.empty()) {
    // Checked as it will be signed: "Example.COM." is "example.com".
    absl::Status st = ValidateDomainPattern(CanonicalDomain(spec.domain));
    if (!st.ok()) v.push_back({"domain", std::string(st.message())});
  }
  {
    absl::Status st = ValidatePrintableText(spec.user_id, kMaxTextLength);
    if (!st.ok()) v.push_back({"user_id", std::string(st.message())});
  }
  {
    absl::Status st = ValidatePrintableText(spec.tag, kMaxTextLength);
    if (!st.ok()) v.push_back({"tag", std::string(st.message())});
  }
}

}  // namespace

std::vector<FieldViolation> ValidateTokenSpec(const TokenSpec& spec,
                                              const TokenLimits& limits,
                                              absl::Time now) {
  std::vector<FieldViolation> v;
  if (!spec.target.has_value()) {
    v.push_back({"target",
                 "exactly one target is required: a stream group id, stream "
                 "names or the whole organisation"});
  } else {
    for (FieldViolation& t : ValidateTarget(*spec.target)) {
      v.push_back(std::move(t));
    }
  }
  ValidateTimes(spec, limits, FloorSeconds(now), v);
  ValidateRestrictions(spec, v);
  // Each field within its limit, the token may still be longer than a
  // verifier accepts: only many long stream names can make it so.
  if (v.empty() && MaxTokenBytes(spec) > kMaxTokenBytes) {
    v.push_back(
        {"stream_names",
         absl::StrCat("the token could be up to ", MaxTokenBytes(spec),
                      " bytes long, more than the ", kMaxTokenBytes,
                      " a verifier accepts; give fewer or shorter stream "
                      "names, or target the stream group")});
  }
  return v;
}

absl::StatusOr<TokenTimes> ResolveTokenTimes(const TokenSpec& spec,
                                             const TokenLimits& limits,
                                             absl::Time now) {
  TA_RETURN_IF_ERROR(ViolationsToStatus(ValidateTokenSpec(spec, limits, now)));
  TokenTimes t;
  t.issued_at = FloorSeconds(now);
  t.not_before = spec.not_before.has_value() ? FloorSeconds(*spec.not_before)
                                             : t.issued_at;
  if (spec.expires_at.has_value()) {
    t.expires_at = FloorSeconds(*spec.expires_at);
  } else {
    const absl::Duration life = spec.lifetime.value_or(limits.default_lifetime);
    t.expires_at = t.not_before + absl::Seconds(absl::ToInt64Seconds(life));
  }
  return t;
}

absl::StatusOr<Claims> ClaimsFromSpec(const TokenSpec& spec,
                                      const TokenLimits& limits, absl::Time now,
                                      absl::string_view issuer,
                                      absl::string_view organization_id,
                                      RandomSource& random) {
  TA_ASSIGN_OR_RETURN(TokenTimes times, ResolveTokenTimes(spec, limits, now));
  ClaimsBuilder b;
  b.SetIssuer(std::string(issuer))
      .SetOrganizationId(std::string(organization_id))
      // `now` rather than times.issued_at (whole seconds): the builder keeps
      // whole seconds for the claim but draws the time-ordered token id from
      // the millisecond, so ids issued within one second still sort by time.
      .SetIssuedAt(now)
      .SetNotBefore(times.not_before)
      .SetExpiresAt(times.expires_at)
      .SetTarget(*spec.target)
      .SetClientIp(spec.client_ip)
      .SetDomain(spec.domain)
      .SetUserId(spec.user_id)
      .SetTag(spec.tag);
  return b.Build(random);
}

}  // namespace token_authority::token

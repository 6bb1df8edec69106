#include "token/verifier.h"

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "token/base64url.h"
#include "token/domain.h"
#include "token/ip_address.h"
#include "token/jws.h"
#include "token/time_util.h"

namespace token_authority::token {
namespace {

// Attacker-controlled text quoted in a sentence: escaped and shortened.
std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 64;
  std::string out =
      absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMax)), "\"");
  if (s.size() > kMax) out.append("...");
  return out;
}

std::string DecodeProblem(absl::string_view segment, absl::string_view b64) {
  auto r = Base64UrlDecode(b64);
  return absl::StrCat("The token's ", segment, " segment is not valid: ",
                      r.ok() ? "bad encoding" : r.status().message(), ".");
}

}  // namespace

VerifyResult VerifyResult::Deny(DenyReason reason, std::string detail) {
  VerifyResult r;
  r.allowed = false;
  r.reason = reason;
  r.detail = std::move(detail);
  return r;
}

bool VerifyHooks::IsOrganizationDisabled(absl::string_view) const {
  return false;
}
bool VerifyHooks::IsRevoked(const Claims&) const { return false; }

TimeValidity CheckTokenTimes(int64_t not_before_unix, int64_t expires_at_unix,
                             absl::Time now, absl::Duration leeway) {
  if (leeway < absl::ZeroDuration()) leeway = absl::ZeroDuration();
  if (now >= absl::FromUnixSeconds(expires_at_unix) + leeway) {
    return TimeValidity::kExpired;
  }
  if (now < absl::FromUnixSeconds(not_before_unix) - leeway) {
    return TimeValidity::kNotYetValid;
  }
  return TimeValidity::kValid;
}

TokenVerifier::TokenVerifier(VerifierOptions options) : options_(options) {
  if (options_.leeway < absl::ZeroDuration()) {
    options_.leeway = absl::ZeroDuration();
  }
}

absl::Status ValidatePlaybackRequest(const PlaybackRequest& request) {
  if (request.organization_id.empty()) {
    return absl::InvalidArgumentError(
        "organization_id: required: the organisation that owns the stream "
        "being played (a token's own \"org\" claim is never taken in its "
        "place)");
  }
  return absl::OkStatus();
}

VerifyResult TokenVerifier::Verify(absl::string_view jwt,
                                   const PlaybackRequest& request,
                                   const KeySet& keys, absl::Time now,
                                   const VerifyHooks* hooks) const {
  VerifiedTokenCache* const cache = options_.cache.get();
  if (cache == nullptr ||
      jwt.size() > VerifiedTokenCache::kMaxCachedTokenBytes) {
    return CheckRequest(CheckSignedToken(jwt, keys), request, keys, now, hooks);
  }
  const VerifiedTokenCache::Digest digest = VerifiedTokenCache::DigestOf(jwt);
  if (std::shared_ptr<const VerifiedTokenCache::Entry> hit =
          cache->Find(digest, keys.generation())) {
    VerifyResult result;
    result.key_id = hit->key_id;
    result.algorithm = hit->algorithm;
    result.token_id = hit->claims.token_id();
    result.claims = hit->claims;
    return CheckRequest(std::move(result), request, keys, now, hooks);
  }
  VerifyResult result = CheckSignedToken(jwt, keys);
  if (result.claims.has_value()) {
    cache->Insert(digest, std::make_shared<const VerifiedTokenCache::Entry>(
                              VerifiedTokenCache::Entry{
                                  keys.generation(), result.key_id,
                                  *result.algorithm, *result.claims}));
  }
  return CheckRequest(std::move(result), request, keys, now, hooks);
}

VerifyResult TokenVerifier::CheckSignedToken(absl::string_view jwt,
                                             const KeySet& keys) const {
  using R = DenyReason;
  // 1: size, before anything else.
  if (jwt.size() > kMaxTokenBytes) {
    return VerifyResult::Deny(
        R::kMalformed,
        absl::StrCat("The token is ", jwt.size(), " bytes long; at most ",
                     kMaxTokenBytes, " are accepted."));
  }
  // 2: three segments.
  const size_t d1 = jwt.find('.');
  const size_t d2 = d1 == absl::string_view::npos ? d1 : jwt.find('.', d1 + 1);
  if (d1 == absl::string_view::npos || d2 == absl::string_view::npos ||
      jwt.find('.', d2 + 1) != absl::string_view::npos || d1 == 0) {
    size_t dots = 0;
    for (char ch : jwt) dots += ch == '.';
    return VerifyResult::Deny(
        R::kMalformed,
        d1 == 0 && dots == 2
            ? std::string(
                  "The token is malformed: its header segment is empty.")
            : absl::StrCat("The token is malformed: a JWT has exactly 3 "
                           "segments separated by '.', this one has ",
                           dots + 1, "."));
  }
  const absl::string_view header_b64 = jwt.substr(0, d1);
  const absl::string_view payload_b64 = jwt.substr(d1 + 1, d2 - d1 - 1);
  const absl::string_view signature_b64 = jwt.substr(d2 + 1);
  const absl::string_view signing_input = jwt.substr(0, d2);
  // 3: header. The decoded segments live in per-thread buffers: nothing
  // refers to them after Verify returns, and reusing their capacity saves
  // three allocations per call on the hot path.
  thread_local std::string header_json, payload_json, signature;
  if (!Base64UrlDecodeTo(header_b64, &header_json)) {
    return VerifyResult::Deny(R::kMalformed,
                              DecodeProblem("header", header_b64));
  }
  auto header = ParseJwsHeader(header_json);
  if (!header.ok()) {
    return VerifyResult::Deny(R::kMalformed,
                              absl::StrCat("The token's header is malformed: ",
                                           header.status().message(), "."));
  }
  VerifyResult result;
  if (header->has_kid) result.key_id = header->kid;
  // 4: algorithm.
  const std::optional<Algorithm> alg = AlgorithmFromName(header->alg);
  if (!alg.has_value()) {
    VerifyResult r = VerifyResult::Deny(
        R::kUnsupportedAlgorithm,
        absl::EqualsIgnoreCase(header->alg, "none")
            ? std::string("Unsigned tokens (alg \"none\") are never accepted.")
            : absl::StrCat("The signature algorithm ", Quote(header->alg),
                           " is not accepted (only ES256, RS256, EdDSA and "
                           "HS256, spelt exactly so)."));
    r.key_id = result.key_id;
    return r;
  }
  result.algorithm = alg;
  auto deny = [&](R reason, std::string detail) {
    result.allowed = false;
    result.reason = reason;
    result.detail = std::move(detail);
    return std::move(result);
  };
  // 5: crit, key-source members, typ.
  if (header->has_crit) {
    return deny(R::kMalformed,
                absl::StrCat("The token's header marks extension ",
                             Quote(header->crit.empty() ? "" : header->crit[0]),
                             " as critical (\"crit\"); no extension is "
                             "understood, so the token is refused."));
  }
  if (!header->key_source_members.empty()) {
    return deny(R::kMalformed,
                absl::StrCat("The token's header carries \"",
                             header->key_source_members[0],
                             "\"; keys are never taken from a token, so it is "
                             "refused."));
  }
  if (header->has_typ && !absl::EqualsIgnoreCase(header->typ, "JWT")) {
    return deny(R::kMalformed,
                absl::StrCat("The token's type ", Quote(header->typ),
                             " is not \"JWT\"."));
  }
  // 6: payload and signature segments.
  if (!Base64UrlDecodeTo(payload_b64, &payload_json)) {
    return deny(R::kMalformed, DecodeProblem("payload", payload_b64));
  }
  if (signature_b64.empty()) {
    return deny(R::kMalformed,
                "The token's signature segment is empty (unsigned tokens are "
                "never accepted).");
  }
  if (!Base64UrlDecodeTo(signature_b64, &signature)) {
    return deny(R::kMalformed, DecodeProblem("signature", signature_b64));
  }
  // 7: key.
  if (!header->has_kid || header->kid.empty()) {
    return deny(R::kUnknownKey,
                "The token does not name its signing key (no \"kid\" in its "
                "header).");
  }
  const KeySetEntry* entry = keys.Find(header->kid);
  if (entry == nullptr) {
    return deny(R::kUnknownKey,
                absl::StrCat("Organisation ", keys.organization_id(),
                             " has no signing key ", Quote(header->kid), "."));
  }
  if (entry->state == KeyState::kRetired) {
    return deny(R::kUnknownKey,
                absl::StrCat("Signing key ", Quote(header->kid),
                             " of organisation ", keys.organization_id(),
                             " is retired and verifies no more tokens."));
  }
  // 8: algorithm confusion.
  if (entry->key->algorithm() != *alg) {
    return deny(R::kUnsupportedAlgorithm,
                absl::StrCat("The token says ", AlgorithmName(*alg),
                             " but key ", Quote(header->kid), " is an ",
                             AlgorithmName(entry->key->algorithm()),
                             " key; algorithms must match."));
  }
  // 9: signature.
  if (!entry->key->Verify(signing_input, signature)) {
    return deny(R::kBadSignature,
                absl::StrCat("The token's ", AlgorithmName(*alg),
                             " signature does not verify with key ",
                             Quote(header->kid), "."));
  }
  // 10: claims.
  auto claims = ParseClaims(payload_json);
  if (!claims.ok()) {
    return deny(R::kMalformed, absl::StrCat("The token's claims are invalid: ",
                                            claims.status().message(), "."));
  }
  result.token_id = claims->token_id();
  result.claims = *std::move(claims);
  return result;
}

VerifyResult TokenVerifier::CheckRequest(VerifyResult result,
                                         const PlaybackRequest& request,
                                         const KeySet& keys, absl::Time now,
                                         const VerifyHooks* hooks) const {
  using R = DenyReason;
  // Denied by rules 1-10: nothing more to check.
  if (!result.claims.has_value()) return result;
  auto deny = [&](R reason, std::string detail) {
    result.allowed = false;
    result.reason = reason;
    result.detail = std::move(detail);
    return std::move(result);
  };
  const Claims& c = *result.claims;
  // 11: organisation.
  if (c.organization_id() != keys.organization_id()) {
    return deny(R::kTargetMismatch,
                absl::StrCat("The token claims organisation ",
                             Quote(c.organization_id()),
                             " but is signed with a key of organisation ",
                             keys.organization_id(), "."));
  }
  if (request.organization_id != keys.organization_id()) {
    return deny(R::kTargetMismatch,
                request.organization_id.empty()
                    ? std::string("The playback request names no "
                                  "organisation.")
                    : absl::StrCat("The token belongs to organisation ",
                                   keys.organization_id(), ", not to ",
                                   Quote(request.organization_id), "."));
  }
  // 12-13: hooks.
  if (hooks != nullptr) {
    if (hooks->IsOrganizationDisabled(c.organization_id())) {
      return deny(R::kOrganizationDisabled,
                  absl::StrCat("Secure playback is not enabled for "
                               "organisation ",
                               c.organization_id(), "."));
    }
    if (hooks->IsRevoked(c)) {
      return deny(R::kRevoked,
                  absl::StrCat("Token ", c.token_id(), " has been revoked."));
    }
  }
  // 14-15: time.
  switch (CheckTokenTimes(c.not_before_unix(), c.expires_at_unix(), now,
                          options_.leeway)) {
    case TimeValidity::kExpired:
      return deny(
          R::kExpired,
          absl::StrCat("The token expired at ", FormatRfc3339(c.expires_at()),
                       " (leeway ", token::FormatDuration(options_.leeway),
                       ", now ", FormatRfc3339(now), ")."));
    case TimeValidity::kNotYetValid:
      return deny(R::kNotYetValid,
                  absl::StrCat("The token is not valid before ",
                               FormatRfc3339(c.not_before()), " (leeway ",
                               token::FormatDuration(options_.leeway), ", now ",
                               FormatRfc3339(now), ")."));
    case TimeValidity::kValid:
      break;
  }
  // 16: target.
  if (!c.target().Covers(request.stream_group_id, request.stream_name)) {
    std::string asked;
    if (c.target().kind() == Target::Kind::kStreamGroup) {
      asked =
          request.stream_group_id.empty()
              ? std::string("a request without a stream group id")
              : absl::StrCat("stream group ", Quote(request.stream_group_id));
    } else {
      asked = request.stream_name.empty()
                  ? std::string("a request without a stream name")
                  : absl::StrCat("stream ", Quote(request.stream_name));
    }
    return deny(R::kTargetMismatch,
                absl::StrCat("The token covers ", c.target().Describe(),
                             ", not ", asked, "."));
  }
  // 17: ip.
  if (!c.client_ip().empty()) {
    auto prefix = IpPrefix::Parse(c.client_ip());
    if (request.client_ip.empty()) {
      return deny(R::kIpMismatch,
                  absl::StrCat("The token is bound to ", c.client_ip(),
                               " but the request names no client address."));
    }
    auto addr = IpAddress::Parse(request.client_ip);
    if (!addr.ok()) {
      return deny(
          R::kIpMismatch,
          absl::StrCat("The token is bound to ", c.client_ip(),
                       " but the request's client address ",
                       Quote(request.client_ip), " is not an IP address."));
    }
    if (!prefix.ok() || !prefix->Contains(*addr)) {
      return deny(R::kIpMismatch,
                  absl::StrCat("The token is bound to ", c.client_ip(),
                               ", not to ", addr->ToString(), "."));
    }
  }
  // 18: domain.
  if (!c.domain().empty()) {
    if (request.domain.empty()) {
      return deny(R::kDomainMismatch,
                  absl::StrCat("The token is bound to domain ", c.domain(),
                               " but the request names no domain."));
    }
    if (!DomainMatches(c.domain(), request.domain)) {
      return deny(R::kDomainMismatch,
                  absl::StrCat("The token is bound to domain ", c.domain(),
                               ", not to ", Quote(request.domain), "."));
    }
  }
  result.allowed = true;
  result.reason = R::kUnspecified;
  // Kept cheap: formatting the expiry here would cost more than HMAC.
  result.detail = "Token is valid.";  // fits std::string's inline buffer
  return result;
}

}  // namespace token_authority::token

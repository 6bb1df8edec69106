#include "token/verifier.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "token/base64url.h"
#include "token/domain.h"
#include "token/ip_address.h"
#include "token/jws.h"
#include "token/time_util.h"
#include "token/validation.h"

namespace token_authority::token {

namespace {

// Rule 16: the token's target covers the stream of `request`.
std::optional<TokenProblem> TargetProblem(const Claims& c,
                                          const PlaybackRequest& request) {
  if (c.target().Covers(request.stream_group_id, request.stream_name)) {
    return std::nullopt;
  }
  std::string asked;
  if (c.target().kind() == Target::Kind::kStreamGroup) {
    asked = request.stream_group_id.empty()
                ? std::string("a request without a stream group id")
                : absl::StrCat("stream group ",
                               QuoteUntrusted(request.stream_group_id));
  } else {
    asked = request.stream_name.empty()
                ? std::string("a request without a stream name")
                : absl::StrCat("stream ", QuoteUntrusted(request.stream_name));
  }
  return TokenProblem{DenyReason::kTargetMismatch,
                      absl::StrCat("The token covers ", c.target().Describe(),
                                   ", not ", asked, ".")};
}

// Rule 17: a token bound to an address or network admits only a request
// from inside it.
std::optional<TokenProblem> IpProblem(const Claims& c,
                                      const PlaybackRequest& request) {
  if (c.client_ip().empty()) return std::nullopt;
  auto prefix = IpPrefix::Parse(c.client_ip());
  if (request.client_ip.empty()) {
    return TokenProblem{
        DenyReason::kIpMismatch,
        absl::StrCat("The token is bound to ", c.client_ip(),
                     " but the request names no client address.")};
  }
  auto addr = IpAddress::Parse(request.client_ip);
  if (!addr.ok()) {
    return TokenProblem{DenyReason::kIpMismatch,
                        absl::StrCat("The token is bound to ", c.client_ip(),
                                     " but the request's client address ",
                                     QuoteUntrusted(request.client_ip),
                                     " is not an IP address.")};
  }
  if (!prefix.ok() || !prefix->Contains(*addr)) {
    return TokenProblem{DenyReason::kIpMismatch,
                        absl::StrCat("The token is bound to ", c.client_ip(),
                                     ", not to ", addr->ToString(), ".")};
  }
  return std::nullopt;
}

// Rule 18: a token bound to a domain (pattern) admits only a request from
// a matching domain.
std::optional<TokenProblem> DomainProblem(const Claims& c,
                                          const PlaybackRequest& request) {
  if (c.domain().empty()) return std::nullopt;
  if (request.domain.empty()) {
    return TokenProblem{
        DenyReason::kDomainMismatch,
        absl::StrCat("The token is bound to domain ", c.domain(),
                     " but the request names no domain.")};
  }
  if (!DomainMatches(c.domain(), request.domain)) {
    return TokenProblem{
        DenyReason::kDomainMismatch,
        absl::StrCat("The token is bound to domain ", c.domain(), ", not to ",
                     QuoteUntrusted(request.domain), ".")};
  }
  return std::nullopt;
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

TokenVerifier::TokenVerifier(VerifierOptions options)
    : options_(std::move(options)) {
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
  // The decoded segments live in per-thread buffers: nothing refers to them
  // after Verify returns, and reusing their capacity saves three allocations
  // per call on the hot path.
  thread_local SegmentBuffers buffers;
  RuleFindings findings(RuleMode::kFirstProblem);
  SignedTokenFacts facts =
      token::CheckSignedToken(jwt, &keys, buffers, findings);
  VerifyResult result;
  if (facts.header.has_value() && facts.header->has_kid) {
    result.key_id = facts.header->kid;
  }
  result.algorithm = facts.algorithm;
  if (!findings.empty()) {
    TokenProblem first = findings.TakeFirst();
    result.reason = first.reason;
    result.detail = std::move(first.detail);
    return result;
  }
  result.token_id = facts.claims->token_id();
  result.claims = std::move(facts.claims);
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
  // 11: organisation, of the token and of the request.
  RuleFindings findings(RuleMode::kFirstProblem);
  CheckClaimedOrganization(c.organization_id(), keys, findings);
  if (!findings.empty()) {
    TokenProblem first = findings.TakeFirst();
    return deny(first.reason, std::move(first.detail));
  }
  if (request.organization_id != keys.organization_id()) {
    return deny(
        R::kTargetMismatch,
        request.organization_id.empty()
            ? std::string("The playback request names no "
                          "organisation.")
            : absl::StrCat("The token belongs to organisation ",
                           keys.organization_id(), ", not to ",
                           QuoteUntrusted(request.organization_id), "."));
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
  if (CheckValidityWindow(c.not_before_unix(), c.expires_at_unix(), now,
                          options_.leeway, findings) != TimeValidity::kValid) {
    TokenProblem first = findings.TakeFirst();
    return deny(first.reason, std::move(first.detail));
  }
  // 16-18: target, ip, domain.
  std::optional<TokenProblem> problem = TargetProblem(c, request);
  if (!problem.has_value()) problem = IpProblem(c, request);
  if (!problem.has_value()) problem = DomainProblem(c, request);
  if (problem.has_value()) {
    return deny(problem->reason, std::move(problem->detail));
  }
  result.allowed = true;
  result.reason = R::kUnspecified;
  // Kept cheap: formatting the expiry here would cost more than HMAC.
  result.detail = "Token is valid.";  // fits std::string's inline buffer
  return result;
}

}  // namespace token_authority::token

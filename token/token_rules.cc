#include "token/token_rules.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "token/base64url.h"
#include "token/time_util.h"
#include "token/validation.h"

namespace token_authority::token {
namespace {

using R = DenyReason;

// The three segments of a compact JWS, as far as they exist.
struct Segments {
  absl::string_view header, payload, signature;
  bool has_payload = false, has_signature = false;
  absl::string_view signing_input;  // "header.payload", when 3 segments
};

std::string DecodeProblem(absl::string_view segment, absl::string_view b64) {
  auto r = Base64UrlDecode(b64);
  return absl::StrCat("The token's ", segment, " segment is not valid: ",
                      r.ok() ? "bad encoding" : r.status().message(), ".");
}

// Decodes `b64` into `out` (cleared when it does not decode); false and a
// MALFORMED problem when it does not.
bool DecodeSegment(absl::string_view name, absl::string_view b64,
                   std::string* out, RuleFindings& findings) {
  if (Base64UrlDecodeTo(b64, out)) return true;
  out->clear();
  findings.Add(R::kMalformed, DecodeProblem(name, b64));
  return false;
}

// Rule 2. In kEveryProblem mode the segments that exist are still returned
// when their number is wrong; nullopt means: stop.
std::optional<Segments> SplitSegments(absl::string_view jwt,
                                      RuleFindings& findings) {
  size_t dots = 0;
  for (char ch : jwt) dots += ch == '.';
  const size_t d1 = jwt.find('.');
  if (dots == 2 && d1 == 0) {
    findings.Add(R::kMalformed,
                 "The token is malformed: its header segment is empty.");
  } else if (dots != 2) {
    findings.Add(R::kMalformed,
                 absl::StrCat("The token is malformed: a JWT has exactly 3 "
                              "segments separated by '.', this one has ",
                              dots + 1, "."));
  }
  if (findings.done()) return std::nullopt;
  Segments s;
  s.header = jwt.substr(0, d1);
  if (d1 == absl::string_view::npos) return s;
  const size_t d2 = jwt.find('.', d1 + 1);
  s.has_payload = true;
  s.payload =
      jwt.substr(d1 + 1, d2 == absl::string_view::npos ? absl::string_view::npos
                                                       : d2 - d1 - 1);
  if (dots == 2) {
    s.has_signature = true;
    s.signature = jwt.substr(d2 + 1);
    s.signing_input = jwt.substr(0, d2);
  }
  return s;
}

// Rules 3-5: the header decodes and parses, "alg" is supported, no "crit",
// no key-source member, "typ" JWT when present.
void CheckHeader(absl::string_view header_b64, SegmentBuffers& buffers,
                 SignedTokenFacts& facts, RuleFindings& findings) {
  if (header_b64.empty()) return;  // said by rule 2
  if (!DecodeSegment("header", header_b64, &buffers.header_json, findings)) {
    return;
  }
  auto header = ParseJwsHeader(buffers.header_json);
  if (!header.ok()) {
    findings.Add(R::kMalformed,
                 absl::StrCat("The token's header is malformed: ",
                              header.status().message(), "."));
    return;
  }
  const JwsHeader& h = facts.header.emplace(*std::move(header));
  facts.algorithm = AlgorithmFromName(h.alg);
  if (!facts.algorithm.has_value()) {
    findings.Add(
        R::kUnsupportedAlgorithm,
        absl::EqualsIgnoreCase(h.alg, "none")
            ? std::string("Unsigned tokens (alg \"none\") are never accepted.")
            : absl::StrCat("The signature algorithm ", QuoteUntrusted(h.alg),
                           " is not accepted (only ES256, RS256, EdDSA and "
                           "HS256, spelt exactly so)."));
    if (findings.done()) return;
  }
  if (h.has_crit) {
    findings.Add(R::kMalformed,
                 absl::StrCat("The token's header marks extension ",
                              QuoteUntrusted(h.crit.empty() ? "" : h.crit[0]),
                              " as critical (\"crit\"); no extension is "
                              "understood, so the token is refused."));
    if (findings.done()) return;
  }
  for (const std::string& member : h.key_source_members) {
    findings.Add(R::kMalformed,
                 absl::StrCat("The token's header carries \"", member,
                              "\"; keys are never taken from a token, so it "
                              "is refused."));
    if (findings.done()) return;
  }
  if (h.has_typ && !absl::EqualsIgnoreCase(h.typ, "JWT")) {
    findings.Add(R::kMalformed,
                 absl::StrCat("The token's type ", QuoteUntrusted(h.typ),
                              " is not \"JWT\"."));
  }
}

// Rule 6: the payload and signature segments decode; the signature is not
// empty. True when the signature decoded.
bool DecodeBody(const Segments& s, SegmentBuffers& buffers,
                SignedTokenFacts& facts, RuleFindings& findings) {
  if (s.has_payload) {
    facts.payload_decoded =
        DecodeSegment("payload", s.payload, &buffers.payload_json, findings);
    if (findings.done()) return false;
  }
  if (!s.has_signature) return false;
  if (s.signature.empty()) {
    findings.Add(R::kMalformed,
                 "The token's signature segment is empty (unsigned tokens are "
                 "never accepted).");
    return false;
  }
  return DecodeSegment("signature", s.signature, &buffers.signature, findings);
}

// Rules 7-9: "kid" names a live key of `keys` (when given) of the token's
// algorithm, and the signature verifies with it.
void CheckKeyAndSignature(const Segments& s, const KeySet* keys,
                          bool signature_decoded, const SegmentBuffers& buffers,
                          SignedTokenFacts& facts, RuleFindings& findings) {
  if (!facts.header.has_value()) return;
  const JwsHeader& h = *facts.header;
  if (!h.has_kid || h.kid.empty()) {
    findings.Add(R::kUnknownKey,
                 "The token does not name its signing key (no \"kid\" in its "
                 "header).");
    return;
  }
  if (keys == nullptr) return;
  const KeySetEntry* entry = keys->Find(h.kid);
  if (entry == nullptr) {
    findings.Add(
        R::kUnknownKey,
        absl::StrCat("Organisation ", keys->organization_id(),
                     " has no signing key ", QuoteUntrusted(h.kid), "."));
    return;
  }
  if (entry->state == KeyState::kRetired) {
    findings.Add(R::kUnknownKey,
                 absl::StrCat("Signing key ", QuoteUntrusted(h.kid),
                              " of organisation ", keys->organization_id(),
                              " is retired and verifies no more tokens."));
    return;
  }
  if (!facts.algorithm.has_value()) return;  // said by rule 4
  const Algorithm alg = *facts.algorithm;
  if (entry->key->algorithm() != alg) {
    findings.Add(R::kUnsupportedAlgorithm,
                 absl::StrCat("The token says ", AlgorithmName(alg),
                              " but key ", QuoteUntrusted(h.kid), " is an ",
                              AlgorithmName(entry->key->algorithm()),
                              " key; algorithms must match."));
    return;
  }
  if (!signature_decoded) return;  // said by rules 2 or 6
  facts.signature_checked = true;
  facts.signature_valid =
      entry->key->Verify(s.signing_input, buffers.signature);
  if (!facts.signature_valid) {
    findings.Add(R::kBadSignature,
                 absl::StrCat("The token's ", AlgorithmName(alg),
                              " signature does not verify with key ",
                              QuoteUntrusted(h.kid), "."));
  }
}

// Rule 10: the payload parses as claims. kFirstProblem: the first problem;
// kEveryProblem: every problem, and the claims read leniently too.
void CheckClaims(const std::string& payload_json, SignedTokenFacts& facts,
                 RuleFindings& findings) {
  constexpr absl::string_view kPrefix = "The token's claims are invalid: ";
  if (findings.mode() == RuleMode::kFirstProblem) {
    auto claims = ParseClaims(payload_json);
    if (!claims.ok()) {
      findings.Add(R::kMalformed,
                   absl::StrCat(kPrefix, claims.status().message(), "."));
      return;
    }
    facts.claims = *std::move(claims);
    return;
  }
  facts.partial_claims = ParseClaimsLenient(payload_json);
  for (const std::string& p : facts.partial_claims.problems) {
    findings.Add(R::kMalformed, absl::StrCat(kPrefix, p, "."));
  }
  if (facts.partial_claims.problems.empty()) {
    auto claims = ParseClaims(payload_json);
    if (claims.ok()) facts.claims = *std::move(claims);
  }
}

}  // namespace

SignedTokenFacts CheckSignedToken(absl::string_view jwt, const KeySet* keys,
                                  SegmentBuffers& buffers,
                                  RuleFindings& findings) {
  SignedTokenFacts facts;
  buffers.header_json.clear();
  buffers.payload_json.clear();
  buffers.signature.clear();
  // 1: size, before anything else.
  if (jwt.size() > kMaxTokenBytes) {
    findings.Add(R::kMalformed, absl::StrCat("The token is ", jwt.size(),
                                             " bytes long; at most ",
                                             kMaxTokenBytes, " are accepted."));
    return facts;
  }
  // 2-5: segments and header.
  const std::optional<Segments> segments = SplitSegments(jwt, findings);
  if (!segments.has_value()) return facts;
  CheckHeader(segments->header, buffers, facts, findings);
  if (findings.done()) return facts;
  // 6: payload and signature segments.
  const bool signature_decoded =
      DecodeBody(*segments, buffers, facts, findings);
  if (findings.done()) return facts;
  // 7-9: key and signature.
  CheckKeyAndSignature(*segments, keys, signature_decoded, buffers, facts,
                       findings);
  if (findings.done()) return facts;
  // 10: claims.
  if (facts.payload_decoded) CheckClaims(buffers.payload_json, facts, findings);
  return facts;
}

void CheckClaimedOrganization(absl::string_view claimed, const KeySet& keys,
                              RuleFindings& findings) {
  if (claimed == keys.organization_id()) return;
  findings.Add(
      R::kTargetMismatch,
      absl::StrCat("The token claims organisation ", QuoteUntrusted(claimed),
                   ", but the key set is "
                   "organisation ",
                   keys.organization_id(), "'s."));
}

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

TimeValidity CheckValidityWindow(int64_t not_before_unix,
                                 int64_t expires_at_unix, absl::Time now,
                                 absl::Duration leeway,
                                 RuleFindings& findings) {
  const TimeValidity validity =
      CheckTokenTimes(not_before_unix, expires_at_unix, now, leeway);
  if (validity == TimeValidity::kValid) return validity;  // the hot path
  if (leeway < absl::ZeroDuration()) leeway = absl::ZeroDuration();
  const std::string context =
      absl::StrCat(" (leeway ", token::FormatDuration(leeway), ", now ",
                   FormatRfc3339(now), ").");
  switch (validity) {
    case TimeValidity::kExpired:
      findings.Add(
          R::kExpired,
          absl::StrCat("The token expired at ",
                       FormatRfc3339(absl::FromUnixSeconds(expires_at_unix)),
                       context));
      break;
    case TimeValidity::kNotYetValid:
      findings.Add(
          R::kNotYetValid,
          absl::StrCat("The token is not valid before ",
                       FormatRfc3339(absl::FromUnixSeconds(not_before_unix)),
                       context));
      break;
    case TimeValidity::kValid:
      break;
  }
  return validity;
}

}  // namespace token_authority::token

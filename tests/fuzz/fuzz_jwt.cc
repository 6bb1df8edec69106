// libFuzzer target: JWT decoding and verification by the token core.
// The input is used (1) as a compact JWT for TokenVerifier::Verify and
// token::DecodeToken (with and without the key set), (2) directly as a JWS
// header and as a claims payload, and (3) as the payload of a token signed
// with the fixed HS256 key, so that the claims rules behind the signature
// are reached too. Properties checked (FUZZ_CHECK aborts):
//  - allowed iff reason UNSPECIFIED; an allowed token decodes without
//    problems and with a valid signature;
//  - over-long tokens are MALFORMED; details never quote a token segment of
//    more than 64 characters (ClaimValuesInDetailsAreCut in
//    tests/hardening/fuzz_findings_test.cc came from here);
//  - strict base64url: every accepted encoding is the canonical one;
//  - ParseClaims(x) ok => ParseClaims(ToJson()) gives the same claims;
//  - a correctly signed payload is MALFORMED iff ParseClaims refuses it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_common.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/decoder.h"
#include "token/jws.h"
#include "token/verifier.h"

namespace token_authority::fuzz {
namespace {

using token::DenyReason;

void CheckVerdict(absl::string_view jwt, const token::VerifyResult& r,
                  const token::DecodedToken& d) {
  FUZZ_CHECK(r.allowed == (r.reason == DenyReason::kUnspecified));
  if (r.allowed) {
    FUZZ_CHECK(r.claims.has_value());
    FUZZ_CHECK(d.problems.empty());
    FUZZ_CHECK(d.signature_checked && d.signature_valid);
  }
  FUZZ_CHECK(!d.signature_valid || d.signature_checked);
  if (jwt.size() > token::kMaxTokenBytes) {
    FUZZ_CHECK(r.reason == DenyReason::kMalformed);
  }
  // Values taken from the token are quoted escaped and cut to 64 characters
  // (verifier.h), so no segment of the token longer than that (base64url
  // text of 65 characters or more: any real header, payload or RS256/EdDSA
  // signature) may appear in a detail. (Comparing the whole input instead
  // would flag inputs that merely spell out a detail sentence, which
  // libFuzzer learns from comparisons.)
  for (absl::string_view segment : absl::StrSplit(jwt, '.')) {
    if (segment.size() <= 64 ||
        !std::all_of(segment.begin(), segment.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                 c == '-' || c == '_';
        })) {
      continue;
    }
    const auto quotes = [segment](const std::string& detail) {
      if (!absl::StrContains(detail, segment)) return false;
      std::fprintf(stderr, "detail \"%s\" quotes segment \"%.*s\"\n",
                   detail.c_str(), static_cast<int>(segment.size()),
                   segment.data());
      return true;
    };
    FUZZ_CHECK(!quotes(r.detail));
    for (const token::TokenProblem& p : d.problems) {
      FUZZ_CHECK(!quotes(p.detail));
    }
  }
}

}  // namespace
}  // namespace token_authority::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;        // NOLINT
  using namespace token_authority::fuzz;  // NOLINT
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const FuzzKeys& keys = Keys();
  static const token::TokenVerifier* const verifier =
      new token::TokenVerifier();
  token::PlaybackRequest request;
  request.organization_id = kOrganization;
  request.stream_group_id = "grp";
  request.stream_name = "cam1";
  request.client_ip = "203.0.113.7";
  request.domain = "www.example.com";

  // (1) The input as a token.
  const token::VerifyResult r =
      verifier->Verify(input, request, *keys.set, kNow);
  const token::DecodedToken d = token::DecodeToken(input, keys.set.get(), kNow);
  CheckVerdict(input, r, d);
  const token::DecodedToken unkeyed = token::DecodeToken(input, nullptr, kNow);
  FUZZ_CHECK(!unkeyed.signature_checked && !unkeyed.signature_valid);

  // (2) The input as base64url, header and payload.
  std::string decoded;
  if (token::Base64UrlDecodeTo(input, &decoded)) {
    FUZZ_CHECK(token::Base64UrlEncode(decoded) == input);
  }
  (void)token::ParseJwsHeader(input);
  (void)token::ParseClaimsLenient(input);
  const absl::StatusOr<token::Claims> claims = token::ParseClaims(input);
  if (claims.ok()) {
    const absl::StatusOr<token::Claims> again =
        token::ParseClaims(claims->ToJson());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *claims);
  }

  // (3) The input as the payload of a correctly signed HS256 token.
  const std::string header =
      absl::StrCat("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"",
                   keys.hs256->kid(), "\"}");
  const std::string signing_input = absl::StrCat(
      token::Base64UrlEncode(header), ".", token::Base64UrlEncode(input));
  const absl::StatusOr<std::string> sig = keys.hs256->Sign(signing_input);
  FUZZ_CHECK(sig.ok());
  const std::string jwt =
      absl::StrCat(signing_input, ".", token::Base64UrlEncode(*sig));
  const token::VerifyResult signed_r =
      verifier->Verify(jwt, request, *keys.set, kNow);
  const token::DecodedToken signed_d =
      token::DecodeToken(jwt, keys.set.get(), kNow);
  CheckVerdict(jwt, signed_r, signed_d);
  if (jwt.size() <= token::kMaxTokenBytes) {
    FUZZ_CHECK(signed_d.signature_valid);
    FUZZ_CHECK((signed_r.reason == token::DenyReason::kMalformed) ==
               !claims.ok());
    FUZZ_CHECK(signed_r.reason != token::DenyReason::kBadSignature);
    FUZZ_CHECK(signed_r.reason != token::DenyReason::kUnknownKey);
    FUZZ_CHECK(signed_r.reason != token::DenyReason::kUnsupportedAlgorithm);
  }
  return 0;
}

// libFuzzer target: IssueToken spec validation from the bytes on the wire.
// The input is parsed as a serialized tokenauthority.v1.TokenSpec (as the
// server receives it), converted by the server's FromProto and validated by
// token::ValidateTokenSpec. Properties:
//  - every violation names a field and says something;
//  - ResolveTokenTimes and ClaimsFromSpec succeed iff there is no violation
//    (validation is complete: what it accepts can be issued);
//  - an accepted spec gives claims that survive ToJson/ParseClaims, expire
//    after now, and, signed by the key set, are not refused as malformed,
//    badly signed, from an unknown key or expired.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/random.h"
#include "convert/proto_convert.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/fuzz/fuzz_common.h"
#include "token/claims.h"
#include "token/token_spec.h"
#include "token/verifier.h"
#include "tokenauthority/v1/types.pb.h"

// Protobuf logs every string field that is not UTF-8 while parsing; silence
// it (ParseFromArray still refuses such input).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;        // NOLINT
  using namespace token_authority::fuzz;  // NOLINT
  tokenauthority::v1::TokenSpec proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::vector<token::FieldViolation> conversion;
  const token::TokenSpec spec = convert::FromProtoSpec(proto, &conversion);
  const token::TokenLimits limits;
  const std::vector<token::FieldViolation> violations =
      token::ValidateTokenSpec(spec, limits, kNow);
  for (const auto& v : conversion) {
    FUZZ_CHECK(!v.field.empty() && !v.description.empty());
  }
  for (const auto& v : violations) {
    FUZZ_CHECK(!v.field.empty() && !v.description.empty());
  }
  const auto times = token::ResolveTokenTimes(spec, limits, kNow);
  FUZZ_CHECK(times.ok() == violations.empty());
  FakeRandom random(size);
  const auto claims = token::ClaimsFromSpec(
      spec, limits, kNow, "token-authority", kOrganization, random);
  FUZZ_CHECK(claims.ok() == violations.empty());
  if (!claims.ok() || !conversion.empty()) return 0;

  FUZZ_CHECK(claims->expires_at() > kNow);
  FUZZ_CHECK(claims->not_before() < claims->expires_at());
  // A lifetime counts from the not-before time when that is ahead: the
  // validity window, from whichever comes later, is within the maximum.
  FUZZ_CHECK(claims->expires_at() - std::max(kNow, claims->not_before()) <=
             limits.max_lifetime + absl::Seconds(1));
  const auto parsed = token::ParseClaims(claims->ToJson());
  FUZZ_CHECK(parsed.ok());
  FUZZ_CHECK(*parsed == *claims);

  const auto signed_token = Keys().set->Sign(*claims);
  FUZZ_CHECK(signed_token.ok());
  static const token::TokenVerifier* const verifier =
      new token::TokenVerifier();
  token::PlaybackRequest request;
  request.organization_id = kOrganization;
  const token::VerifyResult r =
      verifier->Verify(signed_token->jwt, request, *Keys().set, kNow);
  FUZZ_CHECK(r.reason != token::DenyReason::kMalformed);
  FUZZ_CHECK(r.reason != token::DenyReason::kBadSignature);
  FUZZ_CHECK(r.reason != token::DenyReason::kUnknownKey);
  FUZZ_CHECK(r.reason != token::DenyReason::kUnsupportedAlgorithm);
  FUZZ_CHECK(r.reason != token::DenyReason::kExpired);
  return 0;
}

#include "token/decoder.h"

#include <utility>

#include "token/token_rules.h"

namespace token_authority::token {

DecodedToken DecodeToken(absl::string_view jwt, const KeySet* keys,
                         absl::Time now, absl::Duration leeway) {
  DecodedToken out;
  RuleFindings findings(RuleMode::kEveryProblem);
  SegmentBuffers buffers;
  SignedTokenFacts facts = CheckSignedToken(jwt, keys, buffers, findings);
  out.header_json = std::move(buffers.header_json);
  out.payload_json = std::move(buffers.payload_json);
  out.header = std::move(facts.header);
  out.signature_checked = facts.signature_checked;
  out.signature_valid = facts.signature_valid;
  out.partial_claims = std::move(facts.partial_claims);
  out.claims = std::move(facts.claims);
  const PartialClaims& pc = out.partial_claims;
  if (keys != nullptr && pc.organization_id.has_value()) {
    CheckClaimedOrganization(*pc.organization_id, *keys, findings);
  }
  if (pc.expires_at.has_value()) {
    out.time_validity = CheckValidityWindow(
        pc.not_before.value_or(0), *pc.expires_at, now, leeway, findings);
  }
  out.problems = findings.TakeProblems();
  return out;
}

}  // namespace token_authority::token

// The token rules of verifier.h that do not depend on the playback request
// (1-10: the signed token; 11, first half: its organisation; 14-15: its
// validity window), written once for both readers of a token:
//  - TokenVerifier stops at the first problem (RuleMode::kFirstProblem), so
//    the verdict names the first rule that fails;
//  - DecodeToken collects every problem (RuleMode::kEveryProblem) and reads
//    on as far as the token allows (a bad header does not stop the payload
//    from being decoded).
// Both therefore say the same sentence for the same problem.
#ifndef TOKEN_TOKEN_RULES_H_
#define TOKEN_TOKEN_RULES_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "token/algorithm.h"
#include "token/claims.h"
#include "token/deny_reason.h"
#include "token/jws.h"
#include "token/key_set.h"

namespace token_authority::token {

// One problem: the reason class it falls under and a sentence for people and
// logs (never the token; values taken from it are quoted, escaped and cut).
struct TokenProblem {
  DenyReason reason;
  std::string detail;
};

enum class RuleMode {
  kFirstProblem,  // verification: stop at the first problem
  kEveryProblem,  // decoding: record every problem, read on
};

// The problems a check found. Thread-compatible.
class RuleFindings {
 public:
  explicit RuleFindings(RuleMode mode) : mode_(mode) {}

  RuleMode mode() const { return mode_; }
  void Add(DenyReason reason, std::string detail) {
    problems_.push_back({reason, std::move(detail)});
  }
  // Whether checking should stop now (kFirstProblem and a problem found).
  bool done() const {
    return mode_ == RuleMode::kFirstProblem && !problems_.empty();
  }
  bool empty() const { return problems_.empty(); }
  const std::vector<TokenProblem>& problems() const { return problems_; }
  std::vector<TokenProblem> TakeProblems() { return std::move(problems_); }
  // The first problem, moved out. Requires !empty().
  TokenProblem TakeFirst() { return std::move(problems_.front()); }

 private:
  const RuleMode mode_;
  std::vector<TokenProblem> problems_;
};

// Where the decoded segments go. The verifier reuses one per thread (no
// allocation per call once warm); each holds its segment only when it
// decoded, and is empty otherwise.
struct SegmentBuffers {
  std::string header_json;
  std::string payload_json;
  std::string signature;
};

// What rules 1-10 read from a token.
struct SignedTokenFacts {
  // The header, when it decoded and parsed (rule 3).
  std::optional<JwsHeader> header;
  // "alg", when it is one of the supported algorithms (rule 4).
  std::optional<Algorithm> algorithm;
  // Whether the payload segment decoded (rule 6).
  bool payload_decoded = false;
  // Whether the signature was checked with a key of the set (rules 7-8
  // passed), and whether it verified (rule 9).
  bool signature_checked = false;
  bool signature_valid = false;
  // kEveryProblem only: everything readable from the payload.
  PartialClaims partial_claims;
  // The claims, when the payload parsed strictly (rule 10). In
  // kFirstProblem mode only once rules 1-9 passed.
  std::optional<Claims> claims;
};

// Rules 1-10 of verifier.h for `jwt` with `keys`. A null `keys` (decoding
// without keys) skips the key look-up and the signature (rules 7-9, except
// that a missing "kid" is still a problem). Never fails: problems go to
// `findings`. Thread-safe.
SignedTokenFacts CheckSignedToken(absl::string_view jwt, const KeySet* keys,
                                  SegmentBuffers& buffers,
                                  RuleFindings& findings);

// Rule 11, first half: the token's "org" claim names the key set's
// organisation (TARGET_MISMATCH otherwise).
void CheckClaimedOrganization(absl::string_view claimed, const KeySet& keys,
                              RuleFindings& findings);

// Where a token is in its validity window at `now` (a negative leeway counts
// as zero): rules 14-15, without a sentence.
enum class TimeValidity { kValid, kNotYetValid, kExpired };
TimeValidity CheckTokenTimes(int64_t not_before_unix, int64_t expires_at_unix,
                             absl::Time now, absl::Duration leeway);

// Rules 14-15 with their sentences (EXPIRED, NOT_YET_VALID); returns the
// validity.
TimeValidity CheckValidityWindow(int64_t not_before_unix,
                                 int64_t expires_at_unix, absl::Time now,
                                 absl::Duration leeway, RuleFindings& findings);

}  // namespace token_authority::token

#endif  // TOKEN_TOKEN_RULES_H_

#include "token/decoder.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "token/base64url.h"
#include "token/time_util.h"

namespace token_authority::token {
namespace {

std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 64;
  std::string out =
      absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMax)), "\"");
  if (s.size() > kMax) out.append("...");
  return out;
}

}  // namespace

DecodedToken DecodeToken(absl::string_view jwt, const KeySet* keys,
                         absl::Time now, absl::Duration leeway) {
  using R = DenyReason;
  DecodedToken out;
  auto problem = [&](R reason, std::string detail) {
    out.problems.push_back({reason, std::move(detail)});
  };
  if (jwt.size() > kMaxTokenBytes) {
    problem(R::kMalformed,
            absl::StrCat("The token is ", jwt.size(), " bytes long; at most ",
                         kMaxTokenBytes, " are accepted."));
    return out;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3) {
    problem(R::kMalformed,
            absl::StrCat("A JWT has exactly 3 segments separated by '.', "
                         "this one has ",
                         parts.size(), "."));
  }
  auto decode = [&](absl::string_view name, absl::string_view b64,
                    std::string* dst) {
    auto r = Base64UrlDecode(b64);
    if (!r.ok()) {
      problem(R::kMalformed,
              absl::StrCat("The ", name, " segment is not valid: ",
                           r.status().message(), "."));
      return false;
    }
    *dst = *std::move(r);
    return true;
  };
  bool header_ok =
      !parts.empty() && decode("header", parts[0], &out.header_json);
  bool payload_ok =
      parts.size() >= 2 && decode("payload", parts[1], &out.payload_json);
  std::string signature;
  bool signature_ok = parts.size() == 3 && !parts[2].empty() &&
                      decode("signature", parts[2], &signature);
  if (parts.size() == 3 && parts[2].empty()) {
    problem(R::kMalformed,
            "The signature segment is empty (unsigned tokens are not "
            "accepted).");
  }

  std::optional<Algorithm> alg;
  if (header_ok) {
    auto h = ParseJwsHeader(out.header_json);
    if (!h.ok()) {
      problem(
          R::kMalformed,
          absl::StrCat("The header is malformed: ", h.status().message(), "."));
    } else {
      out.header = *std::move(h);
      const JwsHeader& hd = *out.header;
      alg = AlgorithmFromName(hd.alg);
      if (!alg.has_value()) {
        problem(R::kUnsupportedAlgorithm,
                absl::EqualsIgnoreCase(hd.alg, "none")
                    ? std::string(
                          "Unsigned tokens (alg \"none\") are never accepted.")
                    : absl::StrCat("The signature algorithm ", Quote(hd.alg),
                                   " is not accepted."));
      }
      if (hd.has_crit) {
        problem(R::kMalformed,
                "The header marks extensions as critical (\"crit\"); none is "
                "understood.");
      }
      for (const std::string& m : hd.key_source_members) {
        problem(R::kMalformed,
                absl::StrCat("The header carries \"", m,
                             "\"; keys are never taken from a token."));
      }
      if (hd.has_typ && !absl::EqualsIgnoreCase(hd.typ, "JWT")) {
        problem(R::kMalformed, absl::StrCat("The token's type ", Quote(hd.typ),
                                            " is not \"JWT\"."));
      }
      if (!hd.has_kid || hd.kid.empty()) {
        problem(R::kUnknownKey,
                "The token does not name its signing key (no \"kid\").");
      } else if (keys != nullptr) {
        const KeySetEntry* e = keys->Find(hd.kid);
        if (e == nullptr) {
          problem(R::kUnknownKey,
                  absl::StrCat("Organisation ", keys->organization_id(),
                               " has no signing key ", Quote(hd.kid), "."));
        } else if (e->state == KeyState::kRetired) {
          problem(R::kUnknownKey,
                  absl::StrCat("Signing key ", Quote(hd.kid), " is retired."));
        } else if (alg.has_value() && e->key->algorithm() != *alg) {
          problem(R::kUnsupportedAlgorithm,
                  absl::StrCat("The token says ", AlgorithmName(*alg),
                               " but key ", Quote(hd.kid), " is an ",
                               AlgorithmName(e->key->algorithm()), " key."));
        } else if (alg.has_value() && signature_ok) {
          out.signature_checked = true;
          out.signature_valid = e->key->Verify(
              jwt.substr(0, parts[0].size() + 1 + parts[1].size()), signature);
          if (!out.signature_valid) {
            problem(R::kBadSignature,
                    absl::StrCat("The signature does not verify with key ",
                                 Quote(hd.kid), "."));
          }
        }
      }
    }
  }

  if (payload_ok) {
    out.partial_claims = ParseClaimsLenient(out.payload_json);
    for (const std::string& p : out.partial_claims.problems) {
      problem(R::kMalformed, absl::StrCat("Bad claims: ", p, "."));
    }
    if (out.partial_claims.problems.empty()) {
      auto c = ParseClaims(out.payload_json);
      if (c.ok()) out.claims = *std::move(c);
    }
    const PartialClaims& pc = out.partial_claims;
    if (keys != nullptr && pc.organization_id.has_value() &&
        *pc.organization_id != keys->organization_id()) {
      problem(R::kTargetMismatch,
              absl::StrCat("The token claims organisation ",
                           Quote(*pc.organization_id), ", not ",
                           keys->organization_id(), "."));
    }
    if (pc.expires_at.has_value() && pc.not_before.has_value()) {
      out.time_validity =
          CheckTokenTimes(*pc.not_before, *pc.expires_at, now, leeway);
    } else if (pc.expires_at.has_value()) {
      out.time_validity = CheckTokenTimes(0, *pc.expires_at, now, leeway);
    }
    if (out.time_validity == TimeValidity::kExpired) {
      problem(R::kExpired,
              absl::StrCat("The token expired at ",
                           FormatRfc3339(absl::FromUnixSeconds(*pc.expires_at)),
                           "."));
    } else if (out.time_validity == TimeValidity::kNotYetValid) {
      problem(R::kNotYetValid,
              absl::StrCat("The token is not valid before ",
                           FormatRfc3339(absl::FromUnixSeconds(*pc.not_before)),
                           "."));
    }
  }
  return out;
}

}  // namespace token_authority::token

#include "token/jws.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/json.h"

namespace token_authority::token {

absl::StatusOr<std::string> EncodeJws(absl::string_view payload,
                                      const SigningKey& key) {
  std::string header =
      absl::StrCat("{\"alg\":\"", AlgorithmName(key.algorithm()),
                   "\",\"typ\":\"JWT\",\"kid\":");
  json::AppendQuoted(key.kid(), &header);
  header.push_back('}');
  std::string jwt;
  jwt.reserve((header.size() + payload.size()) * 4 / 3 + 400);
  Base64UrlEncodeAppend(header, &jwt);
  jwt.push_back('.');
  Base64UrlEncodeAppend(payload, &jwt);
  TA_ASSIGN_OR_RETURN(std::string sig, key.Sign(jwt));
  jwt.push_back('.');
  Base64UrlEncodeAppend(sig, &jwt);
  return jwt;
}

absl::StatusOr<JwsSegments> SplitJws(absl::string_view jwt) {
  if (jwt.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the token is ", jwt.size(), " bytes long; at most ",
                     kMaxTokenBytes, " are accepted"));
  }
  const size_t d1 = jwt.find('.');
  const size_t d2 = d1 == absl::string_view::npos ? d1 : jwt.find('.', d1 + 1);
  if (d1 == absl::string_view::npos || d2 == absl::string_view::npos ||
      jwt.find('.', d2 + 1) != absl::string_view::npos) {
    size_t dots = 0;
    for (char c : jwt) dots += c == '.';
    return absl::InvalidArgumentError(absl::StrCat(
        "a JWT has exactly 3 segments separated by '.', this one has ",
        dots + 1));
  }
  JwsSegments s;
  s.header_b64 = jwt.substr(0, d1);
  s.payload_b64 = jwt.substr(d1 + 1, d2 - d1 - 1);
  s.signature_b64 = jwt.substr(d2 + 1);
  s.signing_input = jwt.substr(0, d2);
  if (s.header_b64.empty()) {
    return absl::InvalidArgumentError("the header segment is empty");
  }
  if (s.signature_b64.empty()) {
    return absl::InvalidArgumentError(
        "the signature segment is empty (unsigned tokens are not accepted)");
  }
  return s;
}

absl::string_view TrimPastedToken(absl::string_view text) {
  constexpr absl::string_view kScheme = "bearer ";
  text = absl::StripAsciiWhitespace(text);
  if (absl::StartsWithIgnoreCase(text, kScheme)) {
    text = absl::StripAsciiWhitespace(text.substr(kScheme.size()));
  }
  return text;
}

absl::StatusOr<JwsHeader> ParseJwsHeader(absl::string_view header_json) {
  auto doc = json::Document::Parse(header_json);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the header is not valid JSON: ", doc.status().message()));
  }
  const json::Node& root = doc->root();
  if (root.type != json::Type::kObject) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the header must be a JSON object, not ", json::TypeName(root.type)));
  }
  JwsHeader h;
  bool has_alg = false;
  for (uint32_t i = root.first_child; i != 0; i = doc->node(i).next) {
    const json::Node& n = doc->node(i);
    auto need_string = [&](std::string* dst) -> absl::Status {
      if (n.type != json::Type::kString) {
        return absl::InvalidArgumentError(
            absl::StrCat("header member \"", n.key, "\" must be a string, not ",
                         json::TypeName(n.type)));
      }
      *dst = std::string(n.text);
      return absl::OkStatus();
    };
    if (n.key == "alg") {
      TA_RETURN_IF_ERROR(need_string(&h.alg));
      has_alg = true;
    } else if (n.key == "kid") {
      TA_RETURN_IF_ERROR(need_string(&h.kid));
      h.has_kid = true;
    } else if (n.key == "typ") {
      TA_RETURN_IF_ERROR(need_string(&h.typ));
      h.has_typ = true;
    } else if (n.key == "crit") {
      h.has_crit = true;
      if (n.type != json::Type::kArray || n.size == 0) {
        return absl::InvalidArgumentError(
            "header member \"crit\" must be a non-empty array of names");
      }
      for (uint32_t j = n.first_child; j != 0; j = doc->node(j).next) {
        const json::Node& e = doc->node(j);
        if (e.type != json::Type::kString) {
          return absl::InvalidArgumentError(
              "header member \"crit\" must hold strings only");
        }
        h.crit.emplace_back(e.text);
      }
    } else if (n.key == "jku" || n.key == "x5u" || n.key == "jwk" ||
               n.key == "x5c") {
      h.key_source_members.emplace_back(n.key);
    }
  }
  if (!has_alg) {
    return absl::InvalidArgumentError("the header has no \"alg\" member");
  }
  return h;
}

absl::StatusOr<VerifiedJws> VerifyJws(absl::string_view jwt,
                                      const SigningKey& key) {
  TA_ASSIGN_OR_RETURN(JwsSegments seg, SplitJws(jwt));
  VerifiedJws out;
  auto header = Base64UrlDecode(seg.header_b64);
  if (!header.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("header: ", header.status().message()));
  }
  out.header_json = *std::move(header);
  auto payload = Base64UrlDecode(seg.payload_b64);
  if (!payload.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload: ", payload.status().message()));
  }
  out.payload = *std::move(payload);
  auto sig = Base64UrlDecode(seg.signature_b64);
  if (!sig.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature: ", sig.status().message()));
  }
  TA_ASSIGN_OR_RETURN(out.header, ParseJwsHeader(out.header_json));
  if (out.header.alg != AlgorithmName(key.algorithm())) {
    return absl::UnimplementedError(absl::StrCat(
        "header alg \"", out.header.alg, "\" is not the key's algorithm ",
        AlgorithmName(key.algorithm())));
  }
  if (out.header.has_crit) {
    return absl::UnimplementedError(
        "header \"crit\" names extensions that are not understood");
  }
  if (!out.header.key_source_members.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("header member \"", out.header.key_source_members[0],
                     "\" is not accepted"));
  }
  if (!key.Verify(seg.signing_input, *sig)) {
    return absl::UnauthenticatedError("the signature does not verify");
  }
  return out;
}

}  // namespace token_authority::token

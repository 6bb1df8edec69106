#include "client/proto_text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

namespace {

// The enum value name without its prefix, lower-cased: "TOKEN_STATE_ACTIVE"
// -> "active".
std::string Strip(const std::string& name, absl::string_view prefix) {
  if (name.empty()) return "unknown";
  std::string rest = name.substr(
      name.compare(0, prefix.size(), prefix.data(), prefix.size()) == 0
          ? prefix.size()
          : 0);
  return absl::AsciiStrToLower(rest);
}

}  // namespace

std::string AlgorithmText(v1::Algorithm alg) {
  switch (alg) {
    case v1::ALGORITHM_ES256:
      return "ES256";
    case v1::ALGORITHM_RS256:
      return "RS256";
    case v1::ALGORITHM_EDDSA:
      return "EdDSA";
    case v1::ALGORITHM_HS256:
      return "HS256";
    default:
      return "unspecified";
  }
}

std::string TokenStateText(v1::TokenState state) {
  return Strip(v1::TokenState_Name(state), "TOKEN_STATE_");
}

std::string DenyReasonText(v1::DenyReason reason) {
  return Strip(v1::DenyReason_Name(reason), "DENY_REASON_");
}

std::string ApiKeyRoleText(v1::ApiKeyRole role) {
  return Strip(v1::ApiKeyRole_Name(role), "API_KEY_ROLE_");
}

std::string SigningKeyStateText(v1::SigningKeyState state) {
  return Strip(v1::SigningKeyState_Name(state), "SIGNING_KEY_STATE_");
}

std::string DescribeTarget(const v1::Target& target) {
  switch (target.kind_case()) {
    case v1::Target::kStreamGroupId:
      return absl::StrCat("entire stream group ", target.stream_group_id());
    case v1::Target::kStreamNames:
      return absl::StrCat(
          target.stream_names().names_size() == 1 ? "stream " : "streams ",
          absl::StrJoin(target.stream_names().names(), ", "));
    case v1::Target::kOrganization:
      return target.organization() ? "entire organisation" : "none";
    case v1::Target::KIND_NOT_SET:
      break;
  }
  return "none";
}

}  // namespace token_authority::client

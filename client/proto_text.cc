#include "client/proto_text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

namespace {

// "TokenState" -> "TOKEN_STATE_": the prefix of the enum's value names.
std::string ValuePrefix(const google::protobuf::EnumDescriptor& e) {
  std::string prefix;
  const std::string& name = e.name();
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (i > 0 && absl::ascii_isupper(c) &&
        !absl::ascii_isupper(static_cast<unsigned char>(name[i - 1]))) {
      prefix.push_back('_');
    }
    prefix.push_back(absl::ascii_toupper(c));
  }
  prefix.push_back('_');
  return prefix;
}

// The value name without the prefix, lower-cased, '_' -> '-':
// "TOKEN_STATE_NOT_YET_VALID" -> "not-yet-valid".
std::string Words(const google::protobuf::EnumValueDescriptor& value) {
  absl::string_view rest = value.name();
  absl::ConsumePrefix(&rest, ValuePrefix(*value.type()));
  std::string out = absl::AsciiStrToLower(rest);
  for (char& c : out) {
    if (c == '_') c = '-';
  }
  return out;
}

template <typename Enum>
std::string TextOf(const google::protobuf::EnumDescriptor* e, Enum value) {
  const google::protobuf::EnumValueDescriptor* v =
      e->FindValueByNumber(static_cast<int>(value));
  return v == nullptr ? "unknown" : EnumValueText(*v);
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
    case v1::ALGORITHM_UNSPECIFIED:
      return "unspecified";
    default:
      return "unknown";
  }
}

std::string EnumValueText(const google::protobuf::EnumValueDescriptor& value) {
  if (value.type() == v1::Algorithm_descriptor()) {
    return AlgorithmText(static_cast<v1::Algorithm>(value.number()));
  }
  return Words(value);
}

std::string TokenStateText(v1::TokenState state) {
  return TextOf(v1::TokenState_descriptor(), state);
}

std::string DenyReasonText(v1::DenyReason reason) {
  return TextOf(v1::DenyReason_descriptor(), reason);
}

std::string ApiKeyRoleText(v1::ApiKeyRole role) {
  return TextOf(v1::ApiKeyRole_descriptor(), role);
}

std::string SigningKeyStateText(v1::SigningKeyState state) {
  return TextOf(v1::SigningKeyState_descriptor(), state);
}

std::string UtcSecondsText(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "infinite-future";
  if (t == absl::InfinitePast()) return "infinite-past";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
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

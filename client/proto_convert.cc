#include "client/proto_convert.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t seconds = absl::ToUnixSeconds(t);  // floor
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return ts;
}

absl::Time FromProtoTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

v1::Target ToProtoTarget(const token::Target& target) {
  v1::Target out;
  switch (target.kind()) {
    case token::Target::Kind::kStreamGroup:
      out.set_stream_group_id(target.stream_group_id());
      break;
    case token::Target::Kind::kStreams:
      for (const std::string& name : target.stream_names()) {
        out.mutable_stream_names()->add_names(name);
      }
      // An empty list must still select the kind, so the server can say
      // what is wrong with it.
      out.mutable_stream_names();
      break;
    case token::Target::Kind::kOrganization:
      out.set_organization(true);
      break;
  }
  return out;
}

std::optional<token::Target> FromProtoTarget(const v1::Target& target) {
  switch (target.kind_case()) {
    case v1::Target::kStreamGroupId:
      return token::Target::StreamGroup(target.stream_group_id());
    case v1::Target::kStreamNames:
      return token::Target::Streams({target.stream_names().names().begin(),
                                     target.stream_names().names().end()});
    case v1::Target::kOrganization:
      if (!target.organization()) return std::nullopt;
      return token::Target::Organization();
    case v1::Target::KIND_NOT_SET:
      break;
  }
  return std::nullopt;
}

v1::TokenSpec ToProtoSpec(const token::TokenSpec& spec) {
  v1::TokenSpec out;
  if (spec.target.has_value()) {
    *out.mutable_target() = ToProtoTarget(*spec.target);
  }
  if (spec.lifetime.has_value()) {
    *out.mutable_lifetime() = ToProtoDuration(*spec.lifetime);
  }
  if (spec.expires_at.has_value()) {
    *out.mutable_expires_at() = ToProtoTimestamp(*spec.expires_at);
  }
  if (spec.not_before.has_value()) {
    *out.mutable_not_before() = ToProtoTimestamp(*spec.not_before);
  }
  out.set_client_ip(spec.client_ip);
  out.set_domain(spec.domain);
  out.set_user_id(spec.user_id);
  out.set_tag(spec.tag);
  return out;
}

v1::Token TokenFromClaims(const token::Claims& claims) {
  v1::Token out;
  out.set_id(claims.token_id());
  out.set_organization_id(claims.organization_id());
  *out.mutable_target() = ToProtoTarget(claims.target());
  *out.mutable_issued_at() = ToProtoTimestamp(claims.issued_at());
  *out.mutable_not_before() = ToProtoTimestamp(claims.not_before());
  *out.mutable_expires_at() = ToProtoTimestamp(claims.expires_at());
  out.set_client_ip(claims.client_ip());
  out.set_domain(claims.domain());
  out.set_user_id(claims.user_id());
  out.set_tag(claims.tag());
  return out;
}

v1::DenyReason ToProtoDenyReason(token::DenyReason reason) {
  // The numeric values are equal by design (token/deny_reason.h).
  const int value = static_cast<int>(reason);
  return v1::DenyReason_IsValid(value) ? static_cast<v1::DenyReason>(value)
                                       : v1::DENY_REASON_MALFORMED;
}

v1::Algorithm ToProtoAlgorithm(token::Algorithm alg) {
  const int value = static_cast<int>(alg);
  return v1::Algorithm_IsValid(value) ? static_cast<v1::Algorithm>(value)
                                      : v1::ALGORITHM_UNSPECIFIED;
}

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

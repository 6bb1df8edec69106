#include "convert/proto_convert.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace token_authority::convert {

namespace v1 = ::tokenauthority::v1;

namespace {

// google.protobuf.Timestamp's documented range, and Duration's.
constexpr int64_t kMinTimestampSeconds = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTimestampSeconds = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kMaxDurationSeconds = 315576000000;   // 10,000 years
constexpr int32_t kNanosPerSecond = 1000000000;

}  // namespace

// --- Times -------------------------------------------------------------

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

absl::StatusOr<absl::Time> FromProtoTimestamp(
    const google::protobuf::Timestamp& ts, absl::string_view field) {
  if (ts.seconds() < kMinTimestampSeconds ||
      ts.seconds() > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": outside 0001-01-01..9999-12-31"));
  }
  if (ts.nanos() < 0 || ts.nanos() >= kNanosPerSecond) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": nanos must be in [0, 999999999]"));
  }
  return FromProtoTimestamp(ts);
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

absl::StatusOr<absl::Duration> FromProtoDuration(
    const google::protobuf::Duration& d, absl::string_view field) {
  if (d.seconds() < -kMaxDurationSeconds || d.seconds() > kMaxDurationSeconds ||
      d.nanos() <= -kNanosPerSecond || d.nanos() >= kNanosPerSecond ||
      (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not a valid duration"));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// --- The token's values ------------------------------------------------

v1::Target ToProtoTarget(const token::Target& target) {
  v1::Target out;
  switch (target.kind()) {
    case token::Target::Kind::kStreamGroup:
      out.set_stream_group_id(target.stream_group_id());
      break;
    case token::Target::Kind::kStreams:
      out.mutable_stream_names();  // selects the kind even when empty
      for (const std::string& name : target.stream_names()) {
        out.mutable_stream_names()->add_names(name);
      }
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

token::TokenSpec FromProtoSpec(const v1::TokenSpec& spec,
                               std::vector<token::FieldViolation>* violations) {
  token::TokenSpec out;
  if (spec.has_target()) {
    out.target = FromProtoTarget(spec.target());
    if (spec.target().kind_case() == v1::Target::kOrganization &&
        !spec.target().organization()) {
      violations->push_back(
          {"target", "organization must be true when it is the target"});
    }
  }
  if (spec.has_lifetime()) {
    absl::StatusOr<absl::Duration> d =
        FromProtoDuration(spec.lifetime(), "lifetime");
    if (d.ok()) {
      out.lifetime = *d;
    } else {
      violations->push_back({"lifetime", "not a valid duration"});
    }
  }
  auto time = [violations](bool has, const google::protobuf::Timestamp& ts,
                           const char* field, std::optional<absl::Time>* dst) {
    if (!has) return;
    absl::StatusOr<absl::Time> t = FromProtoTimestamp(ts, field);
    if (t.ok()) {
      *dst = *t;
    } else {
      violations->push_back({field, "not a valid timestamp"});
    }
  };
  time(spec.has_expires_at(), spec.expires_at(), "expires_at", &out.expires_at);
  time(spec.has_not_before(), spec.not_before(), "not_before", &out.not_before);
  out.client_ip = spec.client_ip();
  out.domain = spec.domain();
  out.user_id = spec.user_id();
  out.tag = spec.tag();
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
  const int value = static_cast<int>(reason);
  return v1::DenyReason_IsValid(value) ? static_cast<v1::DenyReason>(value)
                                       : v1::DENY_REASON_MALFORMED;
}

v1::Algorithm ToProtoAlgorithm(token::Algorithm alg) {
  // The numeric values are equal by design (token/algorithm.h).
  const int value = static_cast<int>(alg);
  return v1::Algorithm_IsValid(value) ? static_cast<v1::Algorithm>(value)
                                      : v1::ALGORITHM_UNSPECIFIED;
}

absl::StatusOr<token::Algorithm> FromProtoAlgorithm(v1::Algorithm algorithm) {
  switch (algorithm) {
    case v1::ALGORITHM_UNSPECIFIED:
      return token::kDefaultAlgorithm;
    case v1::ALGORITHM_ES256:
      return token::Algorithm::kEs256;
    case v1::ALGORITHM_RS256:
      return token::Algorithm::kRs256;
    case v1::ALGORITHM_EDDSA:
      return token::Algorithm::kEdDsa;
    case v1::ALGORITHM_HS256:
      return token::Algorithm::kHs256;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("algorithm: unknown value ", static_cast<int>(algorithm)));
}

}  // namespace token_authority::convert

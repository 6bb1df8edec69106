#include "token/claims.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/domain.h"
#include "token/ip_address.h"
#include "token/json.h"
#include "token/validation.h"

namespace token_authority::token {

// Gives the parser access to Claims' private members.
struct ClaimsAccess {
  static Claims Make(PartialClaims&& p) {
    Claims c;
    c.iss_ = std::move(*p.issuer);
    c.jti_ = std::move(*p.token_id);
    c.iat_ = *p.issued_at;
    c.nbf_ = *p.not_before;
    c.exp_ = *p.expires_at;
    c.org_ = std::move(*p.organization_id);
    c.target_ = std::move(*p.target);
    if (p.client_ip) c.ip_ = std::move(*p.client_ip);
    if (p.domain) c.domain_ = std::move(*p.domain);
    if (p.user_id) c.user_ = std::move(*p.user_id);
    if (p.tag) c.tag_ = std::move(*p.tag);
    return c;
  }
};

namespace {

using json::Node;
using json::Type;

std::string Got(const Node& n) {
  return absl::StrCat("got ", n.type == Type::kNumber   ? "a number"
                              : n.type == Type::kString ? "a string"
                              : n.type == Type::kNull   ? "null"
                              : n.type == Type::kArray  ? "an array"
                              : n.type == Type::kObject ? "an object"
                                                        : "a boolean");
}

// Reads the members of one claims object into `out`. With `strict`, stops
// at the first problem; otherwise records every problem and reads on. Every
// Read/Check method returns whether to go on.
class ClaimsReader {
 public:
  ClaimsReader(const json::Document& doc, bool strict, PartialClaims* out)
      : doc_(doc), strict_(strict), out_(out) {}

  // Every member of the root object, in document order.
  bool ReadMembers() {
    for (uint32_t i = doc_.root().first_child; i != 0; i = doc_.node(i).next) {
      if (!ReadMember(doc_.node(i))) return false;
    }
    return true;
  }

  // What needs the whole object: one target, the required claims, an expiry
  // after the not-before time.
  bool CheckWhole();

 private:
  bool Problem(std::string p) {
    out_->problems.push_back(std::move(p));
    return !strict_;
  }
  bool ReadMember(const Node& n);
  bool StringClaim(const Node& n, std::optional<std::string>* dst,
                   bool non_empty);
  bool TimeClaim(const Node& n, std::optional<int64_t>* dst);
  bool StreamsClaim(const Node& n);
  bool OrgawideClaim(const Node& n);
  bool IpClaim(const Node& n);
  bool DomainClaim(const Node& n);

  const json::Document& doc_;
  const bool strict_;
  PartialClaims* const out_;
  int targets_ = 0;
  std::vector<absl::string_view> bad_;  // claims already reported as wrong
};

bool ClaimsReader::ReadMember(const Node& n) {
  const absl::string_view k = n.key;
  // Every claim the core reads has a 2-8 character name; skip others fast.
  if (k.size() < 2 || k.size() > 8) return true;
  if (k == "iss") return StringClaim(n, &out_->issuer, true);
  if (k == "jti") return StringClaim(n, &out_->token_id, true);
  if (k == "org") return StringClaim(n, &out_->organization_id, true);
  if (k == "iat") return TimeClaim(n, &out_->issued_at);
  if (k == "nbf") return TimeClaim(n, &out_->not_before);
  if (k == "exp") return TimeClaim(n, &out_->expires_at);
  if (k == "groupid") {
    ++targets_;
    std::optional<std::string> g;
    const bool go = StringClaim(n, &g, true);
    if (g) out_->target = Target::StreamGroup(std::move(*g));
    return go;
  }
  if (k == "streams") return StreamsClaim(n);
  if (k == "orgawide") return OrgawideClaim(n);
  if (k == "ip") return IpClaim(n);
  if (k == "domain") return DomainClaim(n);
  if (k == "user") return StringClaim(n, &out_->user_id, false);
  if (k == "tag") return StringClaim(n, &out_->tag, false);
  return true;
}

bool ClaimsReader::StringClaim(const Node& n, std::optional<std::string>* dst,
                               bool non_empty) {
  if (n.type != Type::kString || (non_empty && n.text.empty())) {
    bad_.push_back(n.key);
    return Problem(absl::StrCat(
        "claim \"", n.key, "\" must be a ", non_empty ? "non-empty " : "",
        "string, ", n.type == Type::kString ? "got an empty string" : Got(n)));
  }
  *dst = std::string(n.text);
  return true;
}

bool ClaimsReader::TimeClaim(const Node& n, std::optional<int64_t>* dst) {
  int64_t v;
  if (!json::GetInt64(n, &v)) {
    bad_.push_back(n.key);
    return Problem(absl::StrCat(
        "claim \"", n.key,
        "\" must be an integer NumericDate (seconds since 1970), ",
        n.type == Type::kNumber ? "got a non-integer number" : Got(n)));
  }
  if (v < 0 || v > kMaxNumericDate) {
    bad_.push_back(n.key);
    return Problem(
        absl::StrCat("claim \"", n.key, "\" (", v, ") is outside 1970..9999"));
  }
  *dst = v;
  return true;
}

bool ClaimsReader::StreamsClaim(const Node& n) {
  ++targets_;
  if (n.type != Type::kArray) {
    return Problem(absl::StrCat(
        "claim \"streams\" must be an array of stream names, ", Got(n)));
  }
  if (n.size == 0) {
    return Problem("claim \"streams\" must name at least one stream");
  }
  std::vector<std::string> names;
  names.reserve(n.size);
  for (uint32_t j = n.first_child; j != 0; j = doc_.node(j).next) {
    const Node& e = doc_.node(j);
    if (e.type != Type::kString || e.text.empty()) {
      return Problem(absl::StrCat(
          "claim \"streams\" must hold non-empty strings, element ",
          names.size() + 1, " is ",
          e.type == Type::kString ? "empty" : Got(e).substr(4)));
    }
    names.emplace_back(e.text);
  }
  out_->target = Target::Streams(std::move(names));
  return true;
}

bool ClaimsReader::OrgawideClaim(const Node& n) {
  ++targets_;
  if (n.type != Type::kTrue) {
    return Problem(absl::StrCat("claim \"orgawide\" must be true, ",
                                n.type == Type::kFalse ? "got false" : Got(n)));
  }
  out_->target = Target::Organization();
  return true;
}

bool ClaimsReader::IpClaim(const Node& n) {
  if (!StringClaim(n, &out_->client_ip, true)) return false;
  if (!out_->client_ip || IpPrefix::Parse(*out_->client_ip).ok()) return true;
  const bool go = Problem(
      absl::StrCat("claim \"ip\" is not an IPv4/IPv6 address or CIDR network: ",
                   QuoteUntrusted(*out_->client_ip)));
  out_->client_ip.reset();
  return go;
}

bool ClaimsReader::DomainClaim(const Node& n) {
  if (!StringClaim(n, &out_->domain, true)) return false;
  if (!out_->domain || ValidateDomainPattern(*out_->domain).ok()) return true;
  const bool go = Problem(
      absl::StrCat("claim \"domain\" is not a host name or *.host name: ",
                   QuoteUntrusted(*out_->domain)));
  out_->domain.reset();
  return go;
}

bool ClaimsReader::CheckWhole() {
  if (targets_ > 1) {
    out_->target.reset();
    if (!Problem("the token must have exactly one of the claims \"groupid\", "
                 "\"streams\" and \"orgawide\", it has several")) {
      return false;
    }
  }
  struct Required {
    bool present;
    const char* name;
  };
  for (const Required& r :
       {Required{out_->issuer.has_value(), "iss"},
        Required{out_->token_id.has_value(), "jti"},
        Required{out_->issued_at.has_value(), "iat"},
        Required{out_->not_before.has_value(), "nbf"},
        Required{out_->expires_at.has_value(), "exp"},
        Required{out_->organization_id.has_value(), "org"}}) {
    if (!r.present) {
      // A claim of the wrong type has its own problem already.
      bool reported = false;
      for (absl::string_view b : bad_) reported = reported || b == r.name;
      if (!reported &&
          !Problem(absl::StrCat("claim \"", r.name, "\" is missing"))) {
        return false;
      }
    }
  }
  if (targets_ == 0 &&
      !Problem("the token has no target claim (\"groupid\", \"streams\" or "
               "\"orgawide\")")) {
    return false;
  }
  if (out_->expires_at && out_->not_before &&
      *out_->expires_at <= *out_->not_before &&
      !Problem(
          "claim \"exp\" is not after \"nbf\": the token is never valid")) {
    return false;
  }
  return true;
}

// Reads the claims of `payload` into `out`. With `strict`, stops at the first
// problem (returns false); otherwise records every problem and continues.
bool ReadClaims(absl::string_view payload, bool strict, PartialClaims* out) {
  auto doc = json::Document::Parse(payload);
  if (!doc.ok()) {
    out->problems.push_back(absl::StrCat("the payload is not valid JSON: ",
                                         doc.status().message()));
    return false;
  }
  const Node& root = doc->root();
  if (root.type != Type::kObject) {
    out->problems.push_back(
        absl::StrCat("the payload must be a JSON object, ", Got(root)));
    return false;
  }
  ClaimsReader reader(*doc, strict, out);
  if (!reader.ReadMembers() || !reader.CheckWhole()) return false;
  return out->problems.empty();
}

}  // namespace

absl::StatusOr<std::string> NewTokenId(RandomSource& random,
                                       absl::Time issued_at) {
  constexpr size_t kTimeBytes = 6;
  TA_ASSIGN_OR_RETURN(std::string bytes,
                      random.Bytes(kTokenIdBytes - kTimeBytes));
  constexpr int64_t kMaxMillis = (int64_t{1} << (8 * kTimeBytes)) - 1;
  const uint64_t ms = static_cast<uint64_t>(
      std::clamp<int64_t>(absl::ToUnixMillis(issued_at), 0, kMaxMillis));
  std::string id(kTimeBytes, '\0');
  for (size_t i = 0; i < kTimeBytes; ++i) {
    id[i] = static_cast<char>((ms >> (8 * (kTimeBytes - 1 - i))) & 0xff);
  }
  id += bytes;
  return Base64UrlEncode(id);
}

absl::StatusOr<std::string> NewTokenId(RandomSource& random) {
  TA_ASSIGN_OR_RETURN(std::string bytes, random.Bytes(kTokenIdBytes));
  return Base64UrlEncode(bytes);
}

std::string Claims::ToJson() const {
  std::string out;
  size_t hint = 128 + iss_.size() + jti_.size() + org_.size() +
                target_.stream_group_id().size() + ip_.size() + domain_.size() +
                user_.size() + tag_.size();
  for (const auto& s : target_.stream_names()) hint += s.size() + 3;
  out.reserve(hint);
  out.append("{\"iss\":");
  json::AppendQuoted(iss_, &out);
  out.append(",\"jti\":");
  json::AppendQuoted(jti_, &out);
  absl::StrAppend(&out, ",\"iat\":", iat_, ",\"nbf\":", nbf_, ",\"exp\":", exp_,
                  ",\"org\":");
  json::AppendQuoted(org_, &out);
  switch (target_.kind()) {
    case Target::Kind::kStreamGroup:
      out.append(",\"groupid\":");
      json::AppendQuoted(target_.stream_group_id(), &out);
      break;
    case Target::Kind::kStreams: {
      out.append(",\"streams\":[");
      bool first = true;
      for (const auto& s : target_.stream_names()) {
        if (!first) out.push_back(',');
        first = false;
        json::AppendQuoted(s, &out);
      }
      out.push_back(']');
      break;
    }
    case Target::Kind::kOrganization:
      out.append(",\"orgawide\":true");
      break;
  }
  auto opt = [&](const char* name, const std::string& v) {
    if (v.empty()) return;
    out.append(",\"");
    out.append(name);
    out.append("\":");
    json::AppendQuoted(v, &out);
  };
  opt("ip", ip_);
  opt("domain", domain_);
  opt("user", user_);
  opt("tag", tag_);
  out.push_back('}');
  return out;
}

bool operator==(const Claims& a, const Claims& b) {
  return a.iss_ == b.iss_ && a.jti_ == b.jti_ && a.iat_ == b.iat_ &&
         a.nbf_ == b.nbf_ && a.exp_ == b.exp_ && a.org_ == b.org_ &&
         a.target_ == b.target_ && a.ip_ == b.ip_ && a.domain_ == b.domain_ &&
         a.user_ == b.user_ && a.tag_ == b.tag_;
}

ClaimsBuilder& ClaimsBuilder::SetIssuer(std::string issuer) {
  iss_ = std::move(issuer);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetTokenId(std::string token_id) {
  jti_ = std::move(token_id);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetIssuedAt(absl::Time t) {
  iat_ = t;
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetNotBefore(absl::Time t) {
  nbf_ = t;
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetExpiresAt(absl::Time t) {
  exp_ = t;
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetOrganizationId(std::string organization_id) {
  org_ = std::move(organization_id);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetTarget(Target target) {
  target_ = std::move(target);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetClientIp(std::string ip_or_cidr) {
  ip_ = std::move(ip_or_cidr);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetDomain(std::string domain_pattern) {
  domain_ = std::move(domain_pattern);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetUserId(std::string user_id) {
  user_ = std::move(user_id);
  return *this;
}
ClaimsBuilder& ClaimsBuilder::SetTag(std::string tag) {
  tag_ = std::move(tag);
  return *this;
}

absl::StatusOr<Claims> ClaimsBuilder::Build(RandomSource& random) const {
  if (jti_.has_value()) return BuildWithId(*jti_);
  // Without an issue time BuildWithId reports "iat"; the id is not used.
  TA_ASSIGN_OR_RETURN(std::string jti,
                      NewTokenId(random, iat_.value_or(absl::UnixEpoch())));
  return BuildWithId(std::move(jti));
}

absl::StatusOr<Claims> ClaimsBuilder::Build() const {
  if (!jti_.has_value()) {
    return absl::InvalidArgumentError(
        "jti: no token id set (use Build(RandomSource&) to draw one)");
  }
  return BuildWithId(*jti_);
}

absl::StatusOr<Claims> ClaimsBuilder::BuildWithId(std::string jti) const {
  std::vector<FieldViolation> v;
  auto check = [&](const char* field, const absl::Status& st) {
    if (!st.ok()) v.push_back({field, std::string(st.message())});
  };
  if (!iss_.has_value() || iss_->empty()) {
    v.push_back({"iss", "an issuer is required"});
  } else {
    check("iss", ValidatePrintableText(*iss_, kMaxIssuerLength));
  }
  {
    std::string raw;
    if (jti.size() != 22 || !Base64UrlDecodeTo(jti, &raw) ||
        raw.size() != kTokenIdBytes) {
      v.push_back(
          {"jti", "a token id is 16 bytes in base64url (22 characters)"});
    }
  }
  auto seconds = [&](const char* field, const std::optional<absl::Time>& t,
                     int64_t* out) {
    if (!t.has_value()) {
      v.push_back({field, "is required"});
      return false;
    }
    if (*t < absl::UnixEpoch() ||
        *t >= absl::FromUnixSeconds(kMaxNumericDate + 1)) {
      v.push_back({field, "must lie between 1970 and 9999"});
      return false;
    }
    *out = absl::ToUnixSeconds(*t);
    return true;
  };
  Claims c;
  const bool has_iat = seconds("iat", iat_, &c.iat_);
  bool has_nbf = has_iat;
  if (nbf_.has_value()) {
    has_nbf = seconds("nbf", nbf_, &c.nbf_);
  } else {
    c.nbf_ = c.iat_;
  }
  const bool has_exp = seconds("exp", exp_, &c.exp_);
  if (has_exp && has_nbf && c.exp_ <= c.nbf_) {
    v.push_back({"exp", "must be after the not-before time"});
  }
  if (has_exp && has_iat && c.exp_ <= c.iat_) {
    v.push_back({"exp", "must be after the issue time"});
  }
  if (!org_.has_value()) {
    v.push_back({"org", "an organisation id is required"});
  } else {
    check("org", ValidateOrganizationId(*org_));
  }
  if (!target_.has_value()) {
    v.push_back({"target", "exactly one target is required"});
  } else {
    for (FieldViolation& t : ValidateTarget(*target_))
      v.push_back(std::move(t));
  }
  if (!ip_.empty()) check("ip", IpPrefix::Parse(ip_).status());
  if (!domain_.empty()) {
    check("domain", ValidateDomainPattern(CanonicalDomain(domain_)));
  }
  check("user", ValidatePrintableText(user_, kMaxTextLength));
  check("tag", ValidatePrintableText(tag_, kMaxTextLength));
  TA_RETURN_IF_ERROR(ViolationsToStatus(v));
  c.iss_ = *iss_;
  c.jti_ = std::move(jti);
  c.org_ = *org_;
  c.target_ = *target_;
  // Signed (and so stored) in the form the verifier compares.
  if (!ip_.empty()) c.ip_ = *CanonicalIpPrefix(ip_);  // checked above
  if (!domain_.empty()) c.domain_ = CanonicalDomain(domain_);
  c.user_ = user_;
  c.tag_ = tag_;
  return c;
}

PartialClaims ParseClaimsLenient(absl::string_view payload_json) {
  PartialClaims p;
  ReadClaims(payload_json, /*strict=*/false, &p);
  return p;
}

absl::StatusOr<Claims> ParseClaims(absl::string_view payload_json) {
  PartialClaims p;
  if (!ReadClaims(payload_json, /*strict=*/true, &p)) {
    return absl::InvalidArgumentError(
        p.problems.empty() ? std::string("invalid claims") : p.problems[0]);
  }
  return ClaimsAccess::Make(std::move(p));
}

}  // namespace token_authority::token

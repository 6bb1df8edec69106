#include "token/jwk.h"

#include <openssl/evp.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/openssl_util.h"

namespace token_authority::token {

absl::StatusOr<std::string> JwkThumbprint(absl::string_view jwk_json) {
  auto doc = json::Document::Parse(jwk_json);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: ", doc.status().message()));
  }
  if (doc->root().type != json::Type::kObject) {
    return absl::InvalidArgumentError("JWK: must be a JSON object");
  }
  const json::Node* kty = doc->Find(doc->root(), "kty");
  if (kty == nullptr || kty->type != json::Type::kString) {
    return absl::InvalidArgumentError("JWK: \"kty\" must be a string");
  }
  std::vector<const char*> members;
  if (kty->text == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else if (kty->text == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty->text == "OKP") {
    members = {"crv", "kty", "x"};
  } else if (kty->text == "oct") {
    members = {"k", "kty"};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: key type \"", kty->text, "\" is not supported"));
  }
  std::string canonical = "{";
  for (const char* name : members) {
    const json::Node* n = doc->Find(doc->root(), name);
    if (n == nullptr || n->type != json::Type::kString) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK: required member \"", name, "\" is missing or not a string"));
    }
    if (canonical.size() > 1) canonical.push_back(',');
    json::AppendQuoted(name, &canonical);
    canonical.push_back(':');
    json::AppendQuoted(n->text, &canonical);
  }
  canonical.push_back('}');
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_Digest(canonical.data(), canonical.size(), md, &len,
                 internal::Sha256(), nullptr) != 1) {
    return internal::OpenSslError("SHA-256");
  }
  return Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(md), len));
}

std::string ToJwksJson(absl::Span<const SigningKey* const> keys) {
  std::string out = "{\"keys\":[";
  bool first = true;
  for (const SigningKey* key : keys) {
    if (key == nullptr || key->algorithm() == Algorithm::kHs256) continue;
    auto jwk = key->PublicJwkJson();
    if (!jwk.ok()) continue;
    if (!first) out.push_back(',');
    first = false;
    out.append(*jwk);
  }
  out.append("]}");
  return out;
}

absl::StatusOr<std::vector<std::shared_ptr<const SigningKey>>> ParseJwks(
    absl::string_view jwks_json, absl::Time created_at) {
  auto doc = json::Document::Parse(jwks_json);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK Set: ", doc.status().message()));
  }
  const json::Node* keys = doc->Find(doc->root(), "keys");
  if (doc->root().type != json::Type::kObject || keys == nullptr ||
      keys->type != json::Type::kArray) {
    return absl::InvalidArgumentError(
        "JWK Set: must be an object with a \"keys\" array");
  }
  std::vector<std::shared_ptr<const SigningKey>> out;
  absl::flat_hash_set<std::string> kids;
  int index = 0;
  for (uint32_t i = keys->first_child; i != 0; i = doc->node(i).next) {
    ++index;
    const json::Node& k = doc->node(i);
    if (k.type != json::Type::kObject) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK Set: key ", index, " is not an object"));
    }
    auto str = [&](const char* name) -> std::optional<absl::string_view> {
      const json::Node* n = doc->Find(k, name);
      if (n == nullptr || n->type != json::Type::kString) return std::nullopt;
      return n->text;
    };
    if (doc->Find(k, "d") != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK Set: key ", index, " carries private material (\"d\")"));
    }
    auto use = str("use");
    if (use.has_value() && *use != "sig") continue;
    auto kty = str("kty");
    if (!kty.has_value() || *kty == "oct") continue;
    if (*kty != "EC" && *kty != "RSA" && *kty != "OKP") continue;
    auto alg = str("alg");
    if (alg.has_value() && !AlgorithmFromName(*alg).has_value()) continue;
    auto crv = str("crv");
    if (*kty == "EC" && crv != "P-256") continue;
    if (*kty == "OKP" && crv != "Ed25519") continue;
    auto key = SigningKey::FromJwk(k.text, created_at);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK Set: key ", index, ": ", key.status().message()));
    }
    if (!kids.insert((*key)->kid()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK Set: kid \"", (*key)->kid(), "\" appears twice"));
    }
    out.push_back(std::shared_ptr<const SigningKey>(*std::move(key)));
  }
  return out;
}

}  // namespace token_authority::token

// SigningKey import from a JWK (RFC 7517/7518/8037) and export of the public
// JWK and its RFC 7638 thumbprint.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/openssl_util.h"
#include "token/signing_key.h"
#include "token/signing_key_impl.h"

namespace token_authority::token {

using internal::BignumPtr;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslError;
using internal::OpenSslInputError;
using internal::ParamBldPtr;
using internal::ParamPtr;

namespace {

// Reads a required base64url member of a JWK.
absl::StatusOr<std::string> JwkBytes(const json::Document& doc,
                                     absl::string_view name, bool required,
                                     bool* present = nullptr) {
  const json::Node* n = doc.Find(doc.root(), name);
  if (present != nullptr) *present = n != nullptr;
  if (n == nullptr) {
    if (!required) return std::string();
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: member \"", name, "\" is missing"));
  }
  if (n->type != json::Type::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: member \"", name, "\" must be a string"));
  }
  auto bytes = Base64UrlDecode(n->text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: member \"", name, "\": ", bytes.status().message()));
  }
  return *std::move(bytes);
}

absl::StatusOr<std::string> JwkString(const json::Document& doc,
                                      absl::string_view name) {
  const json::Node* n = doc.Find(doc.root(), name);
  if (n == nullptr) return std::string();
  if (n->type != json::Type::kString) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: member \"", name, "\" must be a string"));
  }
  return std::string(n->text);
}

absl::StatusOr<EvpPkeyPtr> EcFromJwk(absl::string_view x, absl::string_view y,
                                     const std::string* d) {
  if (x.size() != 32 || y.size() != 32) {
    return absl::InvalidArgumentError(
        "JWK: P-256 coordinates \"x\" and \"y\" must be 32 bytes each");
  }
  if (d != nullptr && d->size() != 32) {
    return absl::InvalidArgumentError(
        "JWK: a P-256 private key \"d\" must be 32 bytes");
  }
  std::string point = absl::StrCat("\x04", x, y);
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  BignumPtr priv;
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return OpenSslError("building EC key parameters");
  }
  if (d != nullptr) {
    priv.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(d->data()),
                         static_cast<int>(d->size()), nullptr));
    if (!priv || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY,
                                        priv.get()) != 1) {
      return OpenSslError("building EC key parameters");
    }
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw,
                        d != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                        params.get()) != 1) {
    return OpenSslInputError("JWK: not a valid P-256 key");
  }
  EvpPkeyPtr pkey(raw);
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  const int ok = d != nullptr ? EVP_PKEY_pairwise_check(check.get())
                              : EVP_PKEY_public_check(check.get());
  if (!check || ok != 1) {
    return OpenSslInputError(
        "JWK: not a valid P-256 key (point not on the curve, or \"d\" does "
        "not match \"x\"/\"y\")");
  }
  return pkey;
}

// Whether `n` has a prime factor below 2^16. OpenSSL 3.0's
// EVP_PKEY_public_check tests an RSA modulus with Miller-Rabin on RANDOM
// bases, so a modulus that is no product of two large primes is refused only
// sometimes; trial division makes the common case (small factors) a
// deterministic refusal. Found by fuzzing (tests/hardening/fuzz_findings_test).
bool HasSmallPrimeFactor(const BIGNUM* n) {
  static const std::vector<BN_ULONG>* const kPrimes = [] {
    constexpr int kLimit = 1 << 16;
    std::vector<bool> composite(kLimit, false);
    auto* primes = new std::vector<BN_ULONG>();
    for (int i = 2; i < kLimit; ++i) {
      if (composite[i]) continue;
      primes->push_back(static_cast<BN_ULONG>(i));
      for (int j = i * 2; j < kLimit; j += i) composite[j] = true;
    }
    return primes;
  }();
  for (BN_ULONG p : *kPrimes) {
    if (BN_mod_word(n, p) == 0) return true;
  }
  return false;
}

absl::StatusOr<EvpPkeyPtr> RsaFromJwk(absl::string_view n,
                                      absl::string_view e) {
  if (n.empty() || e.empty() || n[0] == '\0' || e[0] == '\0') {
    return absl::InvalidArgumentError(
        "JWK: RSA \"n\" and \"e\" must be non-empty without leading zero "
        "bytes");
  }
  BignumPtr bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr));
  BignumPtr bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr));
  if (bn_n && HasSmallPrimeFactor(bn_n.get())) {
    return absl::InvalidArgumentError(
        "JWK: not a valid RSA public key (the modulus has a small factor)");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) !=
          1) {
    return OpenSslError("building RSA key parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
          1) {
    return OpenSslInputError("JWK: not a valid RSA public key");
  }
  EvpPkeyPtr pkey(raw);
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return OpenSslInputError("JWK: not a valid RSA public key");
  }
  return pkey;
}

absl::StatusOr<EvpPkeyPtr> Ed25519FromJwk(absl::string_view x,
                                          const std::string* d) {
  if (x.size() != 32 || (d != nullptr && d->size() != 32)) {
    return absl::InvalidArgumentError(
        "JWK: Ed25519 \"x\" (and \"d\") must be 32 bytes");
  }
  EVP_PKEY* raw =
      d != nullptr
          ? EVP_PKEY_new_raw_private_key_ex(
                nullptr, "ED25519", nullptr,
                reinterpret_cast<const unsigned char*>(d->data()), d->size())
          : EVP_PKEY_new_raw_public_key_ex(
                nullptr, "ED25519", nullptr,
                reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (raw == nullptr) return OpenSslInputError("JWK: not a valid Ed25519 key");
  EvpPkeyPtr pkey(raw);
  if (d != nullptr) {
    uint8_t pub[32];
    size_t len = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(pkey.get(), pub, &len) != 1 || len != 32 ||
        std::memcmp(pub, x.data(), 32) != 0) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          "JWK: Ed25519 \"x\" is not the public key of \"d\"");
    }
  }
  return pkey;
}

// The members every JWK may carry besides its key material.
struct JwkMembers {
  std::string kty;
  std::string alg;  // empty when absent
  std::string kid;  // empty when absent
  std::string crv;
};

// Reads and checks kty, alg, kid, use and crv: each a string when present,
// "use" only "sig", "kid" not empty.
absl::StatusOr<JwkMembers> ReadJwkMembers(const json::Document& doc) {
  JwkMembers m;
  TA_ASSIGN_OR_RETURN(m.kty, JwkString(doc, "kty"));
  TA_ASSIGN_OR_RETURN(m.alg, JwkString(doc, "alg"));
  TA_ASSIGN_OR_RETURN(m.kid, JwkString(doc, "kid"));
  TA_ASSIGN_OR_RETURN(std::string use, JwkString(doc, "use"));
  TA_ASSIGN_OR_RETURN(m.crv, JwkString(doc, "crv"));
  if (!use.empty() && use != "sig") {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: \"use\" is \"", use, "\", not \"sig\""));
  }
  if (doc.Find(doc.root(), "kid") != nullptr && m.kid.empty()) {
    return absl::InvalidArgumentError("JWK: \"kid\" must not be empty");
  }
  return m;
}

// The algorithm kty (and crv) imply; "alg", when present, must name it.
absl::StatusOr<Algorithm> JwkAlgorithm(const JwkMembers& m) {
  Algorithm inferred;
  if (m.kty == "EC") {
    if (m.crv != "P-256") {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK: EC curve \"", m.crv, "\" is not supported (P-256 only)"));
    }
    inferred = Algorithm::kEs256;
  } else if (m.kty == "RSA") {
    inferred = Algorithm::kRs256;
  } else if (m.kty == "OKP") {
    if (m.crv != "Ed25519") {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK: OKP curve \"", m.crv, "\" is not supported (Ed25519 only)"));
    }
    inferred = Algorithm::kEdDsa;
  } else if (m.kty == "oct") {
    inferred = Algorithm::kHs256;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: key type \"", m.kty, "\" is not supported"));
  }
  if (!m.alg.empty()) {
    auto alg = AlgorithmFromName(m.alg);
    if (!alg.has_value() || *alg != inferred) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK: \"alg\" \"", m.alg, "\" does not fit key type \"",
                       m.kty, "\""));
    }
  }
  return inferred;
}

// The key of `alg` from the JWK's key members (private when it has "d", or
// for "oct" always).
absl::StatusOr<std::unique_ptr<SigningKey::Impl>> JwkKeyImpl(
    const json::Document& doc, Algorithm alg) {
  auto impl = std::make_unique<SigningKey::Impl>();
  bool has_d = false;
  switch (alg) {
    case Algorithm::kEs256: {
      TA_ASSIGN_OR_RETURN(std::string x, JwkBytes(doc, "x", true));
      TA_ASSIGN_OR_RETURN(std::string y, JwkBytes(doc, "y", true));
      TA_ASSIGN_OR_RETURN(std::string d, JwkBytes(doc, "d", false, &has_d));
      TA_ASSIGN_OR_RETURN(impl->pkey, EcFromJwk(x, y, has_d ? &d : nullptr));
      OPENSSL_cleanse(d.data(), d.size());
      break;
    }
    case Algorithm::kRs256: {
      if (doc.Find(doc.root(), "d") != nullptr) {
        return absl::InvalidArgumentError(
            "JWK: RSA private keys are imported as PKCS#8, not JWK");
      }
      TA_ASSIGN_OR_RETURN(std::string n, JwkBytes(doc, "n", true));
      TA_ASSIGN_OR_RETURN(std::string e, JwkBytes(doc, "e", true));
      TA_ASSIGN_OR_RETURN(impl->pkey, RsaFromJwk(n, e));
      break;
    }
    case Algorithm::kEdDsa: {
      TA_ASSIGN_OR_RETURN(std::string x, JwkBytes(doc, "x", true));
      TA_ASSIGN_OR_RETURN(std::string d, JwkBytes(doc, "d", false, &has_d));
      TA_ASSIGN_OR_RETURN(impl->pkey, Ed25519FromJwk(x, has_d ? &d : nullptr));
      OPENSSL_cleanse(d.data(), d.size());
      break;
    }
    case Algorithm::kHs256: {
      TA_ASSIGN_OR_RETURN(std::string k, JwkBytes(doc, "k", true));
      auto hmac = internal::HmacImpl(k);
      OPENSSL_cleanse(k.data(), k.size());
      if (!hmac.ok()) return hmac.status();
      impl = *std::move(hmac);
      has_d = true;
      break;
    }
  }
  impl->has_private = has_d;
  return impl;
}

}  // namespace

absl::StatusOr<std::unique_ptr<const SigningKey>> SigningKey::FromJwk(
    absl::string_view jwk_json, absl::Time created_at) {
  auto doc_or = json::Document::Parse(jwk_json);
  if (!doc_or.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: ", doc_or.status().message()));
  }
  const json::Document& doc = *doc_or;
  if (doc.root().type != json::Type::kObject) {
    return absl::InvalidArgumentError("JWK: must be a JSON object");
  }
  TA_ASSIGN_OR_RETURN(JwkMembers members, ReadJwkMembers(doc));
  TA_ASSIGN_OR_RETURN(Algorithm alg, JwkAlgorithm(members));
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, JwkKeyImpl(doc, alg));
  return Make(alg, created_at, std::move(impl), std::move(members.kid));
}

absl::StatusOr<std::string> SigningKey::PublicJwkJson() const {
  if (alg_ == Algorithm::kHs256) {
    return absl::FailedPreconditionError("HS256 keys are never exported");
  }
  std::string out = absl::StrCat("{", impl_->jwk_members, ",\"kid\":");
  json::AppendQuoted(kid_, &out);
  absl::StrAppend(&out, ",\"alg\":\"", AlgorithmName(alg_),
                  "\",\"use\":\"sig\"}");
  return out;
}

absl::StatusOr<std::string> SigningKey::Thumbprint() const {
  if (alg_ == Algorithm::kHs256) {
    return absl::FailedPreconditionError(
        "HS256 keys have no public thumbprint");
  }
  return Base64UrlEncode(
      internal::Sha256Bytes(absl::StrCat("{", impl_->thumbprint_members, "}")));
}

}  // namespace token_authority::token

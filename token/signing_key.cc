#include "token/signing_key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/json.h"
#include "token/openssl_util.h"

namespace token_authority::token {

using internal::BignumPtr;
using internal::BioPtr;
using internal::EcdsaSigPtr;
using internal::EvpMdCtxPtr;
using internal::EvpPkeyCtxPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslError;
using internal::OpenSslInputError;
using internal::ParamBldPtr;
using internal::ParamPtr;

namespace {

// The order n of P-256, big-endian.
constexpr uint8_t kP256Order[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
    0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

constexpr size_t kHmacBlock = 64;
constexpr size_t kSha256Bytes = 32;

// 0 < v < n for a 32-byte big-endian integer.
bool InScalarRange(const uint8_t* v) {
  bool zero = true;
  for (int i = 0; i < 32; ++i) zero = zero && v[i] == 0;
  if (zero) return false;
  return std::memcmp(v, kP256Order, 32) < 0;
}

// Appends a DER INTEGER for the 32-byte unsigned big-endian `v`.
void AppendDerInteger(const uint8_t* v, uint8_t* out, size_t* len) {
  int i = 0;
  while (i < 31 && v[i] == 0) ++i;
  const bool pad = (v[i] & 0x80) != 0;
  const size_t n = static_cast<size_t>(32 - i) + (pad ? 1 : 0);
  out[(*len)++] = 0x02;
  out[(*len)++] = static_cast<uint8_t>(n);
  if (pad) out[(*len)++] = 0x00;
  std::memcpy(out + *len, v + i, static_cast<size_t>(32 - i));
  *len += static_cast<size_t>(32 - i);
}

// A digest context owned by the calling thread, reused across calls (saves an
// allocation and the provider context set-up per signature). nullptr only if
// OpenSSL could not allocate it.
EVP_MD_CTX* ThreadMdCtx() {
  struct Holder {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Holder() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Holder holder;
  return holder.ctx;
}

// SHA-256 of `data` into out[32] with the digest fetched once.
bool Sha256Into(absl::string_view data, uint8_t* out) {
  EVP_MD_CTX* ctx = ThreadMdCtx();
  unsigned int n = 0;
  return ctx != nullptr &&
         EVP_DigestInit_ex(ctx, internal::Sha256(), nullptr) == 1 &&
         EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
}

// R||S (64 bytes, range-checked) -> DER ECDSA-Sig-Value. False if out of
// range.
bool RawToDer(const uint8_t* rs, uint8_t* der, size_t* der_len) {
  if (!InScalarRange(rs) || !InScalarRange(rs + 32)) return false;
  size_t len = 2;
  AppendDerInteger(rs, der, &len);
  AppendDerInteger(rs + 32, der, &len);
  der[0] = 0x30;
  der[1] = static_cast<uint8_t>(len - 2);
  *der_len = len;
  return true;
}

std::string BnBytes(const BIGNUM* bn, int pad_to) {
  std::string out(pad_to > 0 ? static_cast<size_t>(pad_to)
                             : static_cast<size_t>(BN_num_bytes(bn)),
                  '\0');
  if (pad_to > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad_to);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  return out;
}

absl::StatusOr<std::string> BnParam(const EVP_PKEY* pkey, const char* name,
                                    int pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    return OpenSslError(absl::StrCat("reading key parameter ", name));
  }
  BignumPtr bn(raw);
  return BnBytes(bn.get(), pad_to);
}

std::string GroupName(const EVP_PKEY* pkey) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name,
                                     sizeof name, &len) != 1) {
    ERR_clear_error();
    return "";
  }
  return std::string(name, len);
}

// Checks that `pkey` fits `alg`.
absl::Status CheckKeyFits(Algorithm alg, const EVP_PKEY* pkey) {
  switch (alg) {
    case Algorithm::kEs256:
      if (!EVP_PKEY_is_a(pkey, "EC") || GroupName(pkey) != "prime256v1") {
        return absl::InvalidArgumentError(
            "ES256 needs an EC key on curve P-256 (prime256v1)");
      }
      return absl::OkStatus();
    case Algorithm::kRs256:
      if (!EVP_PKEY_is_a(pkey, "RSA")) {
        return absl::InvalidArgumentError("RS256 needs an RSA key");
      }
      if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) {
        return absl::InvalidArgumentError(
            absl::StrCat("RS256 needs an RSA key of at least ", kMinRsaBits,
                         " bits (got ", EVP_PKEY_get_bits(pkey), ")"));
      }
      return absl::OkStatus();
    case Algorithm::kEdDsa:
      if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        return absl::InvalidArgumentError("EdDSA needs an Ed25519 key");
      }
      return absl::OkStatus();
    case Algorithm::kHs256:
      return absl::InvalidArgumentError("HS256 takes a raw secret, not a key");
  }
  return absl::InvalidArgumentError("unknown algorithm");
}

// No passphrases: encrypted PEM is refused instead of prompting.
int NoPassword(char*, int, int, void*) { return 0; }

bool LooksLikePem(absl::string_view material) {
  return absl::StrContains(material.substr(0, 256), "-----BEGIN ");
}

}  // namespace

struct SigningKey::Impl {
  EvpPkeyPtr pkey;  // ES256, RS256, EdDSA
  bool has_private = false;
  // HS256: the secret and the SHA-256 states after absorbing the padded key.
  std::string secret;
  EvpMdCtxPtr inner, outer;
  // ES256, RS256: a context set up once by EVP_PKEY_verify_init with SHA-256
  // as the signature digest. Each Verify duplicates it (EVP_PKEY_CTX_dup) and
  // hands it the digest: EVP_DigestVerifyInit per call would look the
  // key manager, the signature method and the digest up again in OpenSSL 3's
  // name map (a walk of the whole map under a shared lock, per call).
  // The same for signing (EVP_PKEY_sign_init), when the key is private.
  EvpPkeyCtxPtr verify_ctx, sign_ctx;
  // EVP_PKEY_get_size: the largest signature sign_ctx can make (72 bytes of
  // DER for ES256, the modulus size for RS256).
  size_t max_signature_bytes = 0;

  // Sets up verify_ctx (and sign_ctx for a private key) for ES256 and RS256;
  // nothing for the other algorithms.
  absl::Status InitContexts(Algorithm alg) {
    if (alg != Algorithm::kEs256 && alg != Algorithm::kRs256) {
      return absl::OkStatus();
    }
    auto prepare = [&](bool sign) -> EvpPkeyCtxPtr {
      EvpPkeyCtxPtr ctx(
          EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
      if (!ctx ||
          (sign ? EVP_PKEY_sign_init(ctx.get())
                : EVP_PKEY_verify_init(ctx.get())) != 1 ||
          EVP_PKEY_CTX_set_signature_md(ctx.get(), internal::Sha256()) != 1 ||
          (alg == Algorithm::kRs256 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)) {
        return nullptr;
      }
      return ctx;
    };
    verify_ctx = prepare(false);
    if (!verify_ctx) return OpenSslError("preparing signature verification");
    if (has_private) {
      sign_ctx = prepare(true);
      if (!sign_ctx) return OpenSslError("preparing signing");
      const int max = EVP_PKEY_get_size(pkey.get());
      if (max <= 0) return OpenSslError("sizing signatures");
      max_signature_bytes = static_cast<size_t>(max);
    }
    return absl::OkStatus();
  }

  // Signs SHA-256 of `data` with a copy of sign_ctx: DER ECDSA-Sig-Value for
  // ES256, PKCS#1 v1.5 for RS256. Thread-safe: sign_ctx is only read.
  absl::StatusOr<std::string> SignDigest(absl::string_view data) const {
    uint8_t md[kSha256Bytes];
    if (!Sha256Into(data, md)) return OpenSslError("hashing for signing");
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_dup(sign_ctx.get()));
    // max_signature_bytes, known since the key was loaded, instead of
    // asking EVP_PKEY_sign for the size on every call.
    size_t len = max_signature_bytes;
    std::string sig(len, '\0');
    if (!ctx ||
        EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                      &len, md, sizeof md) != 1) {
      return OpenSslError("signing");
    }
    sig.resize(len);
    return sig;
  }

  // Verifies `sig` (DER for ES256, PKCS#1 v1.5 for RS256) over SHA-256 of
  // `data` with a copy of verify_ctx. Thread-safe: verify_ctx is only read.
  bool VerifyDigest(absl::string_view data, const uint8_t* sig,
                    size_t sig_len) const {
    uint8_t md[kSha256Bytes];
    if (!Sha256Into(data, md)) {
      ERR_clear_error();
      return false;
    }
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_dup(verify_ctx.get()));
    const bool ok =
        ctx && EVP_PKEY_verify(ctx.get(), sig, sig_len, md, sizeof md) == 1;
    if (!ok) ERR_clear_error();
    return ok;
  }

  // The RFC 7638 members in lexicographic order, as JSON text without braces:
  // e.g. "crv":"P-256","kty":"EC","x":"...","y":"...".
  std::string thumbprint_members;
  // "kty" and key members in the conventional order, for the public JWK.
  std::string jwk_members;

  absl::Status InitHmac() {
    uint8_t block[kHmacBlock] = {0};
    if (secret.size() > kHmacBlock) {
      unsigned int n = 0;
      if (EVP_Digest(secret.data(), secret.size(), block, &n,
                     internal::Sha256(), nullptr) != 1) {
        return OpenSslError("hashing the HMAC secret");
      }
    } else {
      std::memcpy(block, secret.data(), secret.size());
    }
    uint8_t ipad[kHmacBlock], opad[kHmacBlock];
    for (size_t i = 0; i < kHmacBlock; ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    OPENSSL_cleanse(block, sizeof block);
    inner.reset(EVP_MD_CTX_new());
    outer.reset(EVP_MD_CTX_new());
    const bool ok =
        inner && outer &&
        EVP_DigestInit_ex(inner.get(), internal::Sha256(), nullptr) == 1 &&
        EVP_DigestUpdate(inner.get(), ipad, kHmacBlock) == 1 &&
        EVP_DigestInit_ex(outer.get(), internal::Sha256(), nullptr) == 1 &&
        EVP_DigestUpdate(outer.get(), opad, kHmacBlock) == 1;
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
    if (!ok) return OpenSslError("preparing HMAC-SHA256");
    return absl::OkStatus();
  }

  // HMAC-SHA256(secret, data) into out[32]. Thread-safe: the precomputed
  // states are only read (copied).
  bool Hmac(absl::string_view data, uint8_t out[kSha256Bytes]) const {
    EVP_MD_CTX* ctx = ThreadMdCtx();
    if (ctx == nullptr) return false;
    uint8_t ihash[kSha256Bytes];
    unsigned int n = 0;
    if (EVP_MD_CTX_copy_ex(ctx, inner.get()) != 1 ||
        EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx, ihash, &n) != 1 ||
        EVP_MD_CTX_copy_ex(ctx, outer.get()) != 1 ||
        EVP_DigestUpdate(ctx, ihash, sizeof ihash) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1) {
      ERR_clear_error();
      return false;
    }
    return true;
  }

  absl::Status ComputePublicMembers(Algorithm alg) {
    switch (alg) {
      case Algorithm::kEs256: {
        TA_ASSIGN_OR_RETURN(std::string x,
                            BnParam(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
        TA_ASSIGN_OR_RETURN(std::string y,
                            BnParam(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
        const std::string xs = Base64UrlEncode(x), ys = Base64UrlEncode(y);
        thumbprint_members =
            absl::StrCat("\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", xs,
                         "\",\"y\":\"", ys, "\"");
        jwk_members = absl::StrCat("\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"",
                                   xs, "\",\"y\":\"", ys, "\"");
        return absl::OkStatus();
      }
      case Algorithm::kRs256: {
        TA_ASSIGN_OR_RETURN(std::string n,
                            BnParam(pkey.get(), OSSL_PKEY_PARAM_RSA_N, 0));
        TA_ASSIGN_OR_RETURN(std::string e,
                            BnParam(pkey.get(), OSSL_PKEY_PARAM_RSA_E, 0));
        const std::string ns = Base64UrlEncode(n), es = Base64UrlEncode(e);
        thumbprint_members = absl::StrCat(
            "\"e\":\"", es, "\",\"kty\":\"RSA\",\"n\":\"", ns, "\"");
        jwk_members = absl::StrCat("\"kty\":\"RSA\",\"n\":\"", ns,
                                   "\",\"e\":\"", es, "\"");
        return absl::OkStatus();
      }
      case Algorithm::kEdDsa: {
        uint8_t raw[32];
        size_t len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey.get(), raw, &len) != 1 ||
            len != 32) {
          return OpenSslError("reading the Ed25519 public key");
        }
        const std::string xs = Base64UrlEncode(
            absl::string_view(reinterpret_cast<const char*>(raw), len));
        thumbprint_members = absl::StrCat(
            "\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"", xs, "\"");
        jwk_members = absl::StrCat(
            "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"", xs, "\"");
        return absl::OkStatus();
      }
      case Algorithm::kHs256:
        return absl::OkStatus();
    }
    return absl::InternalError("unknown algorithm");
  }

  ~Impl() { OPENSSL_cleanse(secret.data(), secret.size()); }
};

namespace {

std::string Sha256Bytes(absl::string_view data) {
  uint8_t md[kSha256Bytes];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, internal::Sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), kSha256Bytes);
}

std::string HmacKid(const SigningKey::Impl& impl) {
  uint8_t mac[kSha256Bytes];
  impl.Hmac("token-authority kid v1", mac);
  return absl::StrCat("hs-", Base64UrlEncode(absl::string_view(
                                 reinterpret_cast<char*>(mac), 16)));
}

absl::StatusOr<std::unique_ptr<SigningKey::Impl>> HmacImpl(
    absl::string_view secret) {
  if (secret.size() < kMinHmacSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an HS256 secret must be at least ", kMinHmacSecretBytes,
                     " bytes (got ", secret.size(), ")"));
  }
  auto impl = std::make_unique<SigningKey::Impl>();
  impl->secret = std::string(secret);
  impl->has_private = true;
  TA_RETURN_IF_ERROR(impl->InitHmac());
  return impl;
}

}  // namespace

absl::string_view KeyStateName(KeyState state) {
  switch (state) {
    case KeyState::kPrimary:
      return "primary";
    case KeyState::kActive:
      return "active";
    case KeyState::kRetired:
      return "retired";
  }
  return "unknown";
}

SigningKey::SigningKey(Algorithm alg, std::string kid, absl::Time created_at,
                       std::unique_ptr<Impl> impl)
    : alg_(alg),
      kid_(std::move(kid)),
      created_at_(created_at),
      impl_(std::move(impl)) {}

SigningKey::~SigningKey() = default;

absl::StatusOr<std::unique_ptr<const SigningKey>> SigningKey::Make(
    Algorithm alg, absl::Time created_at, std::unique_ptr<Impl> impl,
    std::string kid) {
  if (alg != Algorithm::kHs256) {
    TA_RETURN_IF_ERROR(CheckKeyFits(alg, impl->pkey.get()));
    TA_RETURN_IF_ERROR(impl->ComputePublicMembers(alg));
    if (kid.empty()) {
      kid = Base64UrlEncode(
          Sha256Bytes(absl::StrCat("{", impl->thumbprint_members, "}")));
    }
  } else if (kid.empty()) {
    kid = HmacKid(*impl);
  }
  TA_RETURN_IF_ERROR(impl->InitContexts(alg));
  return std::unique_ptr<const SigningKey>(
      new SigningKey(alg, std::move(kid), created_at, std::move(impl)));
}

absl::StatusOr<std::unique_ptr<const SigningKey>> SigningKey::Generate(
    Algorithm alg, absl::Time created_at, RandomSource& random,
    const KeyGenerationOptions& options) {
  if (alg == Algorithm::kHs256) {
    if (options.hmac_secret_bytes < kMinHmacSecretBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an HS256 secret must be at least ", kMinHmacSecretBytes, " bytes"));
    }
    TA_ASSIGN_OR_RETURN(std::string secret,
                        random.Bytes(options.hmac_secret_bytes));
    auto impl = HmacImpl(secret);
    OPENSSL_cleanse(secret.data(), secret.size());
    if (!impl.ok()) return impl.status();
    return Make(alg, created_at, *std::move(impl), "");
  }
  EVP_PKEY* raw = nullptr;
  switch (alg) {
    case Algorithm::kEs256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case Algorithm::kRs256:
      if (options.rsa_bits < kMinRsaBits || options.rsa_bits > 16384) {
        return absl::InvalidArgumentError(
            absl::StrCat("RSA keys must have ", kMinRsaBits, " to 16384 bits"));
      }
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                              static_cast<size_t>(options.rsa_bits));
      break;
    case Algorithm::kEdDsa:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    case Algorithm::kHs256:
      break;
  }
  if (raw == nullptr) return OpenSslError("generating a key");
  auto impl = std::make_unique<Impl>();
  impl->pkey.reset(raw);
  impl->has_private = true;
  return Make(alg, created_at, std::move(impl), "");
}

namespace {

enum class KeyKind { kPrivate, kPublic };

// Parses unencrypted PEM or DER key material: a private key (PKCS#8 or
// traditional) or a SubjectPublicKeyInfo. DER must be exactly one structure.
absl::StatusOr<EvpPkeyPtr> ParseKeyMaterial(absl::string_view material,
                                            KeyKind kind) {
  const bool priv = kind == KeyKind::kPrivate;
  EVP_PKEY* raw = nullptr;
  if (LooksLikePem(material)) {
    BioPtr bio = internal::MemBio(material);
    raw = priv ? PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, NoPassword,
                                            nullptr, nullptr, nullptr)
               : PEM_read_bio_PUBKEY_ex(bio.get(), nullptr, NoPassword, nullptr,
                                        nullptr, nullptr);
  } else {
    const auto* begin = reinterpret_cast<const unsigned char*>(material.data());
    const unsigned char* p = begin;
    const long size = static_cast<long>(material.size());
    raw = priv ? d2i_AutoPrivateKey_ex(nullptr, &p, size, nullptr, nullptr)
               : d2i_PUBKEY_ex(nullptr, &p, size, nullptr, nullptr);
    if (raw != nullptr && p != begin + material.size()) {
      EVP_PKEY_free(raw);
      return absl::InvalidArgumentError(
          absl::StrCat(priv ? "private" : "public",
                       " key: trailing bytes after the DER structure"));
    }
  }
  if (raw == nullptr) {
    return OpenSslInputError(
        priv ? "private key: not a PKCS#8 (or traditional) private key in DER "
               "or unencrypted PEM"
             : "public key: not a SubjectPublicKeyInfo in DER or PEM");
  }
  return EvpPkeyPtr(raw);
}

}  // namespace

absl::StatusOr<std::unique_ptr<const SigningKey>> SigningKey::FromPrivateKey(
    Algorithm alg, absl::string_view material, absl::Time created_at) {
  if (alg == Algorithm::kHs256) {
    TA_ASSIGN_OR_RETURN(auto impl, HmacImpl(material));
    return Make(alg, created_at, std::move(impl), "");
  }
  auto impl = std::make_unique<Impl>();
  TA_ASSIGN_OR_RETURN(impl->pkey,
                      ParseKeyMaterial(material, KeyKind::kPrivate));
  impl->has_private = true;
  return Make(alg, created_at, std::move(impl), "");
}

absl::StatusOr<std::unique_ptr<const SigningKey>> SigningKey::FromPublicKey(
    Algorithm alg, absl::string_view material, absl::Time created_at) {
  if (alg == Algorithm::kHs256) {
    return absl::InvalidArgumentError("HS256 has no public key");
  }
  auto impl = std::make_unique<Impl>();
  TA_ASSIGN_OR_RETURN(impl->pkey, ParseKeyMaterial(material, KeyKind::kPublic));
  impl->has_private = false;
  return Make(alg, created_at, std::move(impl), "");
}

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
  TA_ASSIGN_OR_RETURN(std::string kty, JwkString(doc, "kty"));
  TA_ASSIGN_OR_RETURN(std::string alg_name, JwkString(doc, "alg"));
  TA_ASSIGN_OR_RETURN(std::string kid, JwkString(doc, "kid"));
  TA_ASSIGN_OR_RETURN(std::string use, JwkString(doc, "use"));
  TA_ASSIGN_OR_RETURN(std::string crv, JwkString(doc, "crv"));
  if (!use.empty() && use != "sig") {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: \"use\" is \"", use, "\", not \"sig\""));
  }
  if (doc.Find(doc.root(), "kid") != nullptr && kid.empty()) {
    return absl::InvalidArgumentError("JWK: \"kid\" must not be empty");
  }
  Algorithm inferred;
  if (kty == "EC") {
    if (crv != "P-256") {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK: EC curve \"", crv, "\" is not supported (P-256 only)"));
    }
    inferred = Algorithm::kEs256;
  } else if (kty == "RSA") {
    inferred = Algorithm::kRs256;
  } else if (kty == "OKP") {
    if (crv != "Ed25519") {
      return absl::InvalidArgumentError(absl::StrCat(
          "JWK: OKP curve \"", crv, "\" is not supported (Ed25519 only)"));
    }
    inferred = Algorithm::kEdDsa;
  } else if (kty == "oct") {
    inferred = Algorithm::kHs256;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK: key type \"", kty, "\" is not supported"));
  }
  if (!alg_name.empty()) {
    auto alg = AlgorithmFromName(alg_name);
    if (!alg.has_value() || *alg != inferred) {
      return absl::InvalidArgumentError(
          absl::StrCat("JWK: \"alg\" \"", alg_name,
                       "\" does not fit key type \"", kty, "\""));
    }
  }
  auto impl = std::make_unique<Impl>();
  bool has_d = false;
  switch (inferred) {
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
      auto hmac = HmacImpl(k);
      OPENSSL_cleanse(k.data(), k.size());
      if (!hmac.ok()) return hmac.status();
      impl = *std::move(hmac);
      has_d = true;
      break;
    }
  }
  impl->has_private = has_d;
  return Make(inferred, created_at, std::move(impl), kid);
}

bool SigningKey::can_sign() const { return impl_->has_private; }

absl::StatusOr<std::string> SigningKey::Sign(
    absl::string_view signing_input) const {
  if (!impl_->has_private) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", kid_, " can only verify"));
  }
  if (alg_ == Algorithm::kHs256) {
    uint8_t mac[kSha256Bytes];
    if (!impl_->Hmac(signing_input, mac)) {
      return absl::InternalError("HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<char*>(mac), sizeof mac);
  }
  std::string sig;
  if (alg_ == Algorithm::kEdDsa) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr,
                              impl_->pkey.get(), nullptr) != 1 ||
        EVP_DigestSign(
            ctx.get(), nullptr, &len,
            reinterpret_cast<const unsigned char*>(signing_input.data()),
            signing_input.size()) != 1) {
      return OpenSslError("signing");
    }
    sig.resize(len);
    if (EVP_DigestSign(
            ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
            reinterpret_cast<const unsigned char*>(signing_input.data()),
            signing_input.size()) != 1) {
      return OpenSslError("signing");
    }
    sig.resize(len);
    return sig;
  }
  TA_ASSIGN_OR_RETURN(sig, impl_->SignDigest(signing_input));
  if (alg_ != Algorithm::kEs256) return sig;
  // DER ECDSA-Sig-Value -> 64-byte R||S.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!ecdsa) return OpenSslError("decoding the ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(ecdsa.get(), &r, &s);
  std::string rs(64, '\0');
  if (BN_bn2binpad(r, reinterpret_cast<unsigned char*>(rs.data()), 32) != 32 ||
      BN_bn2binpad(s, reinterpret_cast<unsigned char*>(rs.data()) + 32, 32) !=
          32) {
    return OpenSslError("encoding the ECDSA signature");
  }
  return rs;
}

bool SigningKey::Verify(absl::string_view signing_input,
                        absl::string_view signature) const {
  const auto* data =
      reinterpret_cast<const unsigned char*>(signing_input.data());
  switch (alg_) {
    case Algorithm::kHs256: {
      if (signature.size() != kSha256Bytes) return false;
      uint8_t mac[kSha256Bytes];
      if (!impl_->Hmac(signing_input, mac)) return false;
      return CRYPTO_memcmp(mac, signature.data(), kSha256Bytes) == 0;
    }
    case Algorithm::kEs256: {
      if (signature.size() != 64) return false;
      uint8_t der[72];
      size_t der_len = 0;
      if (!RawToDer(reinterpret_cast<const uint8_t*>(signature.data()), der,
                    &der_len)) {
        return false;
      }
      return impl_->VerifyDigest(signing_input, der, der_len);
    }
    case Algorithm::kRs256: {
      if (signature.size() !=
          static_cast<size_t>(EVP_PKEY_get_size(impl_->pkey.get()))) {
        return false;
      }
      return impl_->VerifyDigest(
          signing_input, reinterpret_cast<const uint8_t*>(signature.data()),
          signature.size());
    }
    case Algorithm::kEdDsa: {
      if (signature.size() != 64) return false;
      EvpMdCtxPtr ctx(EVP_MD_CTX_new());
      const bool ok =
          ctx &&
          EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                               impl_->pkey.get()) == 1 &&
          EVP_DigestVerify(
              ctx.get(),
              reinterpret_cast<const unsigned char*>(signature.data()),
              signature.size(), data, signing_input.size()) == 1;
      if (!ok) ERR_clear_error();
      return ok;
    }
  }
  return false;
}

absl::StatusOr<std::string> SigningKey::ExportPrivateKey() const {
  if (!impl_->has_private) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", kid_, " has no private material"));
  }
  if (alg_ == Algorithm::kHs256) return impl_->secret;
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || i2d_PKCS8PrivateKey_bio(bio.get(), impl_->pkey.get(), nullptr,
                                      nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("encoding the private key as PKCS#8");
  }
  return internal::BioContents(bio.get());
}

absl::StatusOr<std::string> SigningKey::ExportPrivateKeyPem() const {
  if (alg_ == Algorithm::kHs256) {
    return absl::FailedPreconditionError("an HS256 secret has no PEM form");
  }
  if (!impl_->has_private) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", kid_, " has no private material"));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PKCS8PrivateKey(bio.get(), impl_->pkey.get(), nullptr,
                                    nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("encoding the private key as PEM");
  }
  return internal::BioContents(bio.get());
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
      Sha256Bytes(absl::StrCat("{", impl_->thumbprint_members, "}")));
}

}  // namespace token_authority::token

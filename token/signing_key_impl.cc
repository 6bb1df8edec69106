// SigningKey::Impl: the OpenSSL contexts prepared once per key, HMAC-SHA256
// from precomputed states, and the public JWK members.
#include "token/signing_key_impl.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"

namespace token_authority::token {

using internal::BignumPtr;
using internal::EvpPkeyCtxPtr;
using internal::kSha256Bytes;
using internal::OpenSslError;

namespace {

constexpr size_t kHmacBlock = 64;

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

}  // namespace

SigningKey::Impl::~Impl() { OPENSSL_cleanse(secret.data(), secret.size()); }

absl::Status SigningKey::Impl::InitContexts(Algorithm alg) {
  if (alg != Algorithm::kEs256 && alg != Algorithm::kRs256) {
    return absl::OkStatus();
  }
  auto prepare = [&](bool sign) -> EvpPkeyCtxPtr {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
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

absl::StatusOr<std::string> SigningKey::Impl::SignDigest(
    absl::string_view data) const {
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

bool SigningKey::Impl::VerifyDigest(absl::string_view data, const uint8_t* sig,
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

absl::Status SigningKey::Impl::InitHmac() {
  uint8_t block[kHmacBlock] = {0};
  if (secret.size() > kHmacBlock) {
    unsigned int n = 0;
    if (EVP_Digest(secret.data(), secret.size(), block, &n, internal::Sha256(),
                   nullptr) != 1) {
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

bool SigningKey::Impl::Hmac(absl::string_view data,
                            uint8_t out[kSha256Bytes]) const {
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

absl::Status SigningKey::Impl::ComputePublicMembers(Algorithm alg) {
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
      thumbprint_members =
          absl::StrCat("\"e\":\"", es, "\",\"kty\":\"RSA\",\"n\":\"", ns, "\"");
      jwk_members =
          absl::StrCat("\"kty\":\"RSA\",\"n\":\"", ns, "\",\"e\":\"", es, "\"");
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
      jwk_members = absl::StrCat("\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"",
                                 xs, "\"");
      return absl::OkStatus();
    }
    case Algorithm::kHs256:
      return absl::OkStatus();
  }
  return absl::InternalError("unknown algorithm");
}

namespace internal {

std::string Sha256Bytes(absl::string_view data) {
  uint8_t md[kSha256Bytes];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, internal::Sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), kSha256Bytes);
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

}  // namespace internal
}  // namespace token_authority::token

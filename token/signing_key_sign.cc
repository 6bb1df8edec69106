// SigningKey::Sign and SigningKey::Verify: JWS signatures of the four
// algorithms (ES256 as 64-byte R||S, never DER).
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/openssl_util.h"
#include "token/signing_key.h"
#include "token/signing_key_impl.h"

namespace token_authority::token {

using internal::EcdsaSigPtr;
using internal::EvpMdCtxPtr;
using internal::kSha256Bytes;
using internal::OpenSslError;

namespace {

// The order n of P-256, big-endian.
constexpr uint8_t kP256Order[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
    0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

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

}  // namespace

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

}  // namespace token_authority::token

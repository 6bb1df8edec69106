// SigningKey import and export of PKCS#8 private keys and SubjectPublicKeyInfo
// public keys, in DER or PEM (HS256: the raw secret).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/openssl_util.h"
#include "token/signing_key.h"
#include "token/signing_key_impl.h"

namespace token_authority::token {

using internal::BioPtr;
using internal::EvpPkeyPtr;
using internal::OpenSslError;
using internal::OpenSslInputError;

namespace {

// No passphrases: encrypted PEM is refused instead of prompting.
int NoPassword(char*, int, int, void*) { return 0; }

bool LooksLikePem(absl::string_view material) {
  return absl::StrContains(material.substr(0, 256), "-----BEGIN ");
}

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
    TA_ASSIGN_OR_RETURN(auto impl, internal::HmacImpl(material));
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

}  // namespace token_authority::token

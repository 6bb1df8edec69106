// SigningKey: key generation, the key id and the checks every factory ends
// with (Make). Import and export: signing_key_pem.cc and signing_key_jwk.cc;
// Sign and Verify: signing_key_sign.cc; the OpenSSL state: signing_key_impl.*.
#include "token/signing_key.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"
#include "token/openssl_util.h"
#include "token/signing_key_impl.h"

namespace token_authority::token {

using internal::kSha256Bytes;
using internal::OpenSslError;

namespace {

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

std::string HmacKid(const SigningKey::Impl& impl) {
  uint8_t mac[kSha256Bytes];
  impl.Hmac("token-authority kid v1", mac);
  return absl::StrCat("hs-", Base64UrlEncode(absl::string_view(
                                 reinterpret_cast<char*>(mac), 16)));
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
      kid = Base64UrlEncode(internal::Sha256Bytes(
          absl::StrCat("{", impl->thumbprint_members, "}")));
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
    auto impl = internal::HmacImpl(secret);
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

bool SigningKey::can_sign() const { return impl_->has_private; }

}  // namespace token_authority::token

// Internal to the token core's signing_key*.cc files: SigningKey::Impl, the
// OpenSSL state behind a key, and the helpers those files share. Include it
// nowhere else; users see token/signing_key.h only.
//
// The implementation is split by what it does with a key:
//   signing_key.cc       generation, the kid, the factories' common end (Make)
//   signing_key_pem.cc   PKCS#8 / SPKI import and export, DER or PEM
//   signing_key_jwk.cc   JWK import, the public JWK and its thumbprint
//   signing_key_sign.cc  Sign and Verify
//   signing_key_impl.cc  this struct: prepared contexts, HMAC, JWK members
#ifndef TOKEN_SIGNING_KEY_IMPL_H_
#define TOKEN_SIGNING_KEY_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "token/algorithm.h"
#include "token/openssl_util.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace internal {

inline constexpr size_t kSha256Bytes = 32;

}  // namespace internal

struct SigningKey::Impl {
  internal::EvpPkeyPtr pkey;  // ES256, RS256, EdDSA
  bool has_private = false;
  // HS256: the secret and the SHA-256 states after absorbing the padded key.
  std::string secret;
  internal::EvpMdCtxPtr inner, outer;
  // ES256, RS256: a context set up once by EVP_PKEY_verify_init with SHA-256
  // as the signature digest. Each Verify duplicates it (EVP_PKEY_CTX_dup) and
  // hands it the digest: EVP_DigestVerifyInit per call would look the
  // key manager, the signature method and the digest up again in OpenSSL 3's
  // name map (a walk of the whole map under a shared lock, per call).
  // The same for signing (EVP_PKEY_sign_init), when the key is private.
  internal::EvpPkeyCtxPtr verify_ctx, sign_ctx;
  // EVP_PKEY_get_size: the largest signature sign_ctx can make (72 bytes of
  // DER for ES256, the modulus size for RS256).
  size_t max_signature_bytes = 0;
  // The RFC 7638 members in lexicographic order, as JSON text without braces:
  // e.g. "crv":"P-256","kty":"EC","x":"...","y":"...".
  std::string thumbprint_members;
  // "kty" and key members in the conventional order, for the public JWK.
  std::string jwk_members;

  ~Impl();

  // Sets up verify_ctx (and sign_ctx for a private key) for ES256 and RS256;
  // nothing for the other algorithms.
  absl::Status InitContexts(Algorithm alg);

  // Signs SHA-256 of `data` with a copy of sign_ctx: DER ECDSA-Sig-Value for
  // ES256, PKCS#1 v1.5 for RS256. Thread-safe: sign_ctx is only read.
  absl::StatusOr<std::string> SignDigest(absl::string_view data) const;

  // Verifies `sig` (DER for ES256, PKCS#1 v1.5 for RS256) over SHA-256 of
  // `data` with a copy of verify_ctx. Thread-safe: verify_ctx is only read.
  bool VerifyDigest(absl::string_view data, const uint8_t* sig,
                    size_t sig_len) const;

  // Prepares inner and outer from `secret` (HS256).
  absl::Status InitHmac();

  // HMAC-SHA256(secret, data) into out[32]. Thread-safe: the precomputed
  // states are only read (copied).
  bool Hmac(absl::string_view data, uint8_t out[internal::kSha256Bytes]) const;

  // Fills thumbprint_members and jwk_members from pkey (nothing for HS256).
  absl::Status ComputePublicMembers(Algorithm alg);
};

namespace internal {

// SHA-256 of `data`, 32 bytes.
std::string Sha256Bytes(absl::string_view data);

// The Impl of an HS256 key with `secret` (copied), its HMAC states
// prepared. InvalidArgumentError below kMinHmacSecretBytes.
absl::StatusOr<std::unique_ptr<SigningKey::Impl>> HmacImpl(
    absl::string_view secret);

}  // namespace internal
}  // namespace token_authority::token

#endif  // TOKEN_SIGNING_KEY_IMPL_H_

// Signing keys: one key of one algorithm with its key id, able to sign (when
// it holds private material) and to verify JWS signatures.
//
// Key ids: for ES256, RS256 and EdDSA the RFC 7638 JWK thumbprint (SHA-256,
// base64url) of the public key, so anyone holding the JWK Set can recompute
// it. For HS256, "hs-" + base64url(first 16 bytes of HMAC-SHA256(secret,
// "token-authority kid v1")): stable across export/import, and, the HMAC
// being a PRF, it reveals nothing about the secret. Keys imported from a JWK
// that carries a "kid" keep that kid.
//
// Key generation for ES256/RS256/EdDSA uses OpenSSL's CSPRNG (the only way
// OpenSSL 3 generates such keys); HS256 secrets come from the injected
// RandomSource.
#ifndef TOKEN_SIGNING_KEY_H_
#define TOKEN_SIGNING_KEY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/random.h"
#include "token/algorithm.h"

namespace token_authority::token {

// The life cycle of a key within its organisation. Numeric values equal
// those of proto tokenauthority.v1.SigningKeyState.
enum class KeyState {
  kPrimary = 1,  // signs new tokens (at most one per key set) and verifies
  kActive = 2,   // verifies tokens it signed; signs no more
  kRetired = 3,  // neither signs nor verifies
};

// "primary", "active", "retired".
absl::string_view KeyStateName(KeyState state);

// Smallest accepted sizes.
inline constexpr int kMinRsaBits = 2048;
inline constexpr size_t kMinHmacSecretBytes = 32;

// Options for SigningKey::Generate.
struct KeyGenerationOptions {
  int rsa_bits = 2048;            // RS256 only; at least kMinRsaBits
  size_t hmac_secret_bytes = 32;  // HS256 only; at least kMinHmacSecretBytes
};

// An immutable key. Sign and Verify are const and thread-safe (concurrent
// calls from any number of threads). Created only through the static
// factories; never fails after creation except where a method says so.
class SigningKey {
 public:
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // A new random key of `alg` created at `created_at`. HS256 draws its secret
  // from `random`; the others use OpenSSL's generator (see top).
  // InvalidArgumentError for bad options; InternalError if OpenSSL fails.
  static absl::StatusOr<std::unique_ptr<const SigningKey>> Generate(
      Algorithm alg, absl::Time created_at, RandomSource& random,
      const KeyGenerationOptions& options = {});

  // Imports private key material as ExportPrivateKey produced it: for
  // ES256/RS256/EdDSA a PKCS#8 PrivateKeyInfo in DER or PEM ("-----BEGIN
  // PRIVATE KEY-----"), also traditional PEM ("BEGIN EC/RSA PRIVATE KEY");
  // for HS256 the raw secret (at least 32 bytes). InvalidArgumentError if the
  // material does not parse or does not fit `alg` (an EC key must be P-256,
  // an RSA key at least 2048 bits, an EdDSA key Ed25519).
  static absl::StatusOr<std::unique_ptr<const SigningKey>> FromPrivateKey(
      Algorithm alg, absl::string_view material, absl::Time created_at);

  // Imports a public key in SubjectPublicKeyInfo DER or PEM ("-----BEGIN
  // PUBLIC KEY-----"); the key can only verify. Not for HS256.
  // InvalidArgumentError as for FromPrivateKey.
  static absl::StatusOr<std::unique_ptr<const SigningKey>> FromPublicKey(
      Algorithm alg, absl::string_view material, absl::Time created_at);

  // Imports one JWK (RFC 7517/7518/8037): "EC" P-256 (public x, y; private
  // also d), "RSA" (public n, e only), "OKP" Ed25519 (public x; private also
  // d), "oct" (k, HS256). The algorithm is the JWK's "alg" when present
  // (which must fit the key type) or inferred from kty/crv ("oct": HS256).
  // The kid is the JWK's "kid" when present, otherwise computed as described
  // at the top. Members are checked strictly (base64url, lengths, point on
  // the curve). InvalidArgumentError naming the bad member.
  static absl::StatusOr<std::unique_ptr<const SigningKey>> FromJwk(
      absl::string_view jwk_json, absl::Time created_at);

  const std::string& kid() const { return kid_; }
  Algorithm algorithm() const { return alg_; }
  absl::Time created_at() const { return created_at_; }
  // False for keys imported from public material (JWK without "d", SPKI).
  bool can_sign() const;

  // The JWS signature of `signing_input` (ASCII "header.payload"): 64-byte
  // R||S for ES256, 64 bytes for EdDSA, the modulus size for RS256, 32 bytes
  // for HS256. FailedPreconditionError for a verify-only key; InternalError
  // if OpenSSL fails.
  absl::StatusOr<std::string> Sign(absl::string_view signing_input) const;

  // Whether `signature` is a valid JWS signature of `signing_input` under
  // this key. ES256 accepts only the 64-byte R||S form with 0 < r, s < n
  // (DER-encoded signatures are refused). HS256 compares in constant time.
  // Never throws, never allocates on the HS256 path.
  bool Verify(absl::string_view signing_input,
              absl::string_view signature) const;

  // The private material for storage (to be encrypted by the caller):
  // PKCS#8 PrivateKeyInfo DER for ES256/RS256/EdDSA, the raw secret for
  // HS256. FailedPreconditionError for a verify-only key.
  absl::StatusOr<std::string> ExportPrivateKey() const;
  // The same as PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"); HS256:
  // FailedPreconditionError (a secret has no PEM form here).
  absl::StatusOr<std::string> ExportPrivateKeyPem() const;

  // The public key as a JWK object with "kty", the key members, "kid",
  // "alg" and "use":"sig". FailedPreconditionError for HS256 (never
  // exported).
  absl::StatusOr<std::string> PublicJwkJson() const;

  // The RFC 7638 SHA-256 thumbprint of the public key (base64url);
  // FailedPreconditionError for HS256.
  absl::StatusOr<std::string> Thumbprint() const;

  // Implementation detail (token/signing_key.cc).
  struct Impl;

 private:
  SigningKey(Algorithm alg, std::string kid, absl::Time created_at,
             std::unique_ptr<Impl> impl);
  static absl::StatusOr<std::unique_ptr<const SigningKey>> Make(
      Algorithm alg, absl::Time created_at, std::unique_ptr<Impl> impl,
      std::string kid);

  Algorithm alg_;
  std::string kid_;
  absl::Time created_at_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace token_authority::token

#endif  // TOKEN_SIGNING_KEY_H_

#include "server/api_key_secret.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "token/base64url.h"

namespace token_authority::server {
namespace {

constexpr absl::string_view kPrefix = "ta_";
constexpr size_t kIdRandomBytes = 8;
constexpr size_t kSecretRandomBytes = 32;
constexpr size_t kSecretRandomChars = 43;  // base64url of 32 bytes

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsBase64Url(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<NewApiKey> MakeApiKey(RandomSource& random) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes, random.Bytes(kIdRandomBytes));
  TA_ASSIGN_OR_RETURN(std::string secret_bytes,
                      random.Bytes(kSecretRandomBytes));
  NewApiKey key;
  key.key_id = absl::StrCat("k", absl::BytesToHexString(id_bytes));
  key.secret = absl::StrCat(kPrefix, key.key_id, "_",
                            token::Base64UrlEncode(secret_bytes));
  key.secret_hash = HashApiKeySecret(key.secret);
  return key;
}

absl::StatusOr<std::string> ApiKeyIdFromSecret(absl::string_view secret) {
  const absl::Status bad =
      absl::InvalidArgumentError("api key: not a token-authority API key");
  if (!absl::StartsWith(secret, kPrefix)) return bad;
  secret.remove_prefix(kPrefix.size());
  const size_t sep = secret.find('_');
  if (sep == absl::string_view::npos) return bad;
  const absl::string_view id = secret.substr(0, sep);
  const absl::string_view rest = secret.substr(sep + 1);
  if (id.size() != 1 + 2 * kIdRandomBytes || id[0] != 'k' ||
      !IsLowerHex(id.substr(1)) || rest.size() != kSecretRandomChars ||
      !IsBase64Url(rest)) {
    return bad;
  }
  return std::string(id);
}

std::string Sha256Digest(absl::string_view data) {
  // The digest is fetched once: SHA256() looks it up in OpenSSL 3's
  // provider store on every call, and this runs on every authenticated RPC.
  static const EVP_MD* const kSha256 = [] {
    const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md != nullptr ? md : EVP_sha256();
  }();
  uint8_t digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, kSha256, nullptr) !=
          1 ||
      len != sizeof(digest)) {
    ERR_clear_error();  // the one-shot call below looks the digest up anew
    SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  }
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string HashApiKeySecret(absl::string_view secret) {
  return Sha256Digest(secret);
}

bool ApiKeyHashesEqual(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace token_authority::server

#include "client/web/csrf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"

namespace token_authority::client::web {
namespace {

absl::StatusOr<std::string> RandomBytes(RandomSource& random, size_t n) {
  std::vector<uint8_t> bytes(n);
  if (absl::Status st = random.Fill(absl::MakeSpan(bytes)); !st.ok()) {
    return st;
  }
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

absl::StatusOr<std::unique_ptr<CsrfGuard>> CsrfGuard::Create(
    RandomSource& random) {
  absl::StatusOr<std::string> key = RandomBytes(random, 32);
  if (!key.ok()) return key.status();
  return std::unique_ptr<CsrfGuard>(new CsrfGuard(*std::move(key)));
}

absl::StatusOr<CsrfGuard::Pair> CsrfGuard::Issue(RandomSource& random) const {
  absl::StatusOr<std::string> raw = RandomBytes(random, 16);
  if (!raw.ok()) return raw.status();
  Pair pair;
  pair.nonce = absl::WebSafeBase64Escape(*raw);
  pair.token = TokenFor(pair.nonce);
  return pair;
}

std::string CsrfGuard::TokenFor(absl::string_view nonce) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // One-shot HMAC: OpenSSL holds no handle past the call.
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(nonce.data()), nonce.size(),
           mac, &mac_len) == nullptr) {
    return "";
  }
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

bool CsrfGuard::Check(absl::string_view nonce, absl::string_view token) const {
  if (nonce.empty() || token.empty()) return false;
  const std::string expected = TokenFor(nonce);
  return !expected.empty() && expected.size() == token.size() &&
         CRYPTO_memcmp(expected.data(), token.data(), token.size()) == 0;
}

std::string CookieValue(absl::string_view cookie_header,
                        absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq != absl::string_view::npos && part.substr(0, eq) == name) {
      return std::string(part.substr(eq + 1));
    }
  }
  return "";
}

}  // namespace token_authority::client::web

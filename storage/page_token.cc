#include "storage/page_token.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace token_authority::storage {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kBindingLength = 8;
constexpr size_t kCheckLength = 4;
constexpr size_t kMaxTokenLength = 512;

std::string Sha256Prefix(absl::string_view data, size_t n) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), n);
}

}  // namespace

std::string PageBinding(std::initializer_list<absl::string_view> parts) {
  std::string input;
  for (absl::string_view p : parts) {
    const uint32_t n = static_cast<uint32_t>(p.size());
    for (int shift = 24; shift >= 0; shift -= 8) {
      input.push_back(static_cast<char>((n >> shift) & 0xff));
    }
    input.append(p.data(), p.size());
  }
  return Sha256Prefix(input, kBindingLength);
}

std::string EncodePageToken(PageKind kind, absl::string_view binding,
                            absl::string_view payload) {
  std::string raw;
  raw.push_back(static_cast<char>(kVersion));
  raw.push_back(static_cast<char>(kind));
  raw.append(binding.data(), binding.size());
  raw.append(payload.data(), payload.size());
  // A check value, so a corrupted or hand-edited token is refused rather
  // than silently continuing somewhere else.
  raw += Sha256Prefix(raw, kCheckLength);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            PageKind kind,
                                            absl::string_view binding) {
  std::string raw;
  if (token.size() > kMaxTokenLength ||
      !absl::WebSafeBase64Unescape(token, &raw) ||
      raw.size() < 2 + kBindingLength + kCheckLength ||
      static_cast<uint8_t>(raw[0]) != kVersion ||
      absl::WebSafeBase64Escape(raw) != token) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  const std::string check = raw.substr(raw.size() - kCheckLength);
  raw.resize(raw.size() - kCheckLength);
  if (Sha256Prefix(raw, kCheckLength) != check) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  if (static_cast<uint8_t>(raw[1]) != static_cast<uint8_t>(kind)) {
    return absl::InvalidArgumentError(
        "page_token: belongs to another kind of list");
  }
  if (absl::string_view(raw).substr(2, kBindingLength) != binding) {
    return absl::InvalidArgumentError(
        "page_token: belongs to another query (the organisation and filter "
        "must stay the same between pages)");
  }
  return raw.substr(2 + kBindingLength);
}

std::string EncodeInt64Pair(int64_t a, int64_t b) {
  std::string out(16, '\0');
  const uint64_t ua = static_cast<uint64_t>(a);
  const uint64_t ub = static_cast<uint64_t>(b);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((ua >> (56 - 8 * i)) & 0xff);
    out[8 + i] = static_cast<char>((ub >> (56 - 8 * i)) & 0xff);
  }
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> DecodeInt64Pair(
    absl::string_view payload) {
  if (payload.size() != 16) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  uint64_t a = 0;
  uint64_t b = 0;
  for (int i = 0; i < 8; ++i) {
    a = (a << 8) | static_cast<uint8_t>(payload[i]);
    b = (b << 8) | static_cast<uint8_t>(payload[8 + i]);
  }
  return std::make_pair(static_cast<int64_t>(a), static_cast<int64_t>(b));
}

}  // namespace token_authority::storage

#include "token/base64url.h"

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace token_authority::token {
namespace {

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Each byte's 6-bit value, or -1 for a byte outside the alphabet. int16_t
// rather than int8_t: the value is read as an int, and a signed char read as
// one is what clang-tidy's bugprone-signed-char-misuse exists to catch.
constexpr std::array<int16_t, 256> MakeDecodeTable() {
  std::array<int16_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int16_t>(i);
  }
  return t;
}
constexpr std::array<int16_t, 256> kDecode = MakeDecodeTable();

enum class DecodeError { kNone, kLength, kPadding, kCharacter, kTrailingBits };

DecodeError DecodeInto(absl::string_view in, std::string* out,
                       size_t* bad_pos) {
  const size_t n = in.size();
  if (n % 4 == 1) return DecodeError::kLength;
  out->resize(Base64UrlDecodedSize(n));
  char* o = out->data();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const int a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]],
              d = kDecode[p[i + 3]];
    if ((a | b | c | d) < 0) {
      for (size_t k = i; k < i + 4; ++k) {
        if (kDecode[p[k]] < 0) {
          *bad_pos = k;
          return p[k] == '=' ? DecodeError::kPadding : DecodeError::kCharacter;
        }
      }
    }
    const uint32_t v =
        (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
        (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *o++ = static_cast<char>(v >> 16);
    *o++ = static_cast<char>(v >> 8);
    *o++ = static_cast<char>(v);
  }
  const size_t rest = n - i;
  if (rest == 0) return DecodeError::kNone;
  int vals[3] = {0, 0, 0};
  for (size_t k = 0; k < rest; ++k) {
    vals[k] = kDecode[p[i + k]];
    if (vals[k] < 0) {
      *bad_pos = i + k;
      return p[i + k] == '=' ? DecodeError::kPadding : DecodeError::kCharacter;
    }
  }
  if (rest == 2) {
    if ((vals[1] & 0x0F) != 0) {
      *bad_pos = n - 1;
      return DecodeError::kTrailingBits;
    }
    *o++ = static_cast<char>((vals[0] << 2) | (vals[1] >> 4));
  } else {  // rest == 3
    if ((vals[2] & 0x03) != 0) {
      *bad_pos = n - 1;
      return DecodeError::kTrailingBits;
    }
    *o++ = static_cast<char>((vals[0] << 2) | (vals[1] >> 4));
    *o++ = static_cast<char>(((vals[1] & 0x0F) << 4) | (vals[2] >> 2));
  }
  return DecodeError::kNone;
}

}  // namespace

void Base64UrlEncodeAppend(absl::string_view data, std::string* out) {
  const size_t n = data.size();
  const size_t old = out->size();
  out->resize(old + (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1));
  char* o = out->data() + old;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (static_cast<uint32_t>(p[i]) << 16) |
                       (static_cast<uint32_t>(p[i + 1]) << 8) | p[i + 2];
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = static_cast<uint32_t>(p[i]) << 16;
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const uint32_t v = (static_cast<uint32_t>(p[i]) << 16) |
                       (static_cast<uint32_t>(p[i + 1]) << 8);
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
  }
}

std::string Base64UrlEncode(absl::string_view data) {
  std::string out;
  Base64UrlEncodeAppend(data, &out);
  return out;
}

bool Base64UrlDecodeTo(absl::string_view encoded, std::string* out) {
  size_t pos = 0;
  return DecodeInto(encoded, out, &pos) == DecodeError::kNone;
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view encoded) {
  std::string out;
  size_t pos = 0;
  switch (DecodeInto(encoded, &out, &pos)) {
    case DecodeError::kNone:
      return out;
    case DecodeError::kLength:
      return absl::InvalidArgumentError(
          absl::StrCat("base64url: a length of ", encoded.size(),
                       " characters is impossible (4k+1)"));
    case DecodeError::kPadding:
      return absl::InvalidArgumentError(absl::StrCat(
          "base64url: padding '=' at position ", pos, " is not allowed"));
    case DecodeError::kCharacter:
      return absl::InvalidArgumentError(
          absl::StrCat("base64url: character at position ", pos,
                       " is not in the URL-safe alphabet"));
    case DecodeError::kTrailingBits:
      return absl::InvalidArgumentError(
          "base64url: non-canonical encoding (unused trailing bits are not "
          "zero)");
  }
  return absl::InternalError("base64url: unreachable");
}

}  // namespace token_authority::token

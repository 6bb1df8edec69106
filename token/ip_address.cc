#include "token/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace token_authority::token {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

bool ParseV4(absl::string_view text, uint8_t out[4]) {
  int part = 0;
  size_t i = 0;
  while (true) {
    if (i >= text.size() ||
        !absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
    size_t start = i;
    int v = 0;
    while (i < text.size() &&
           absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      v = v * 10 + (text[i] - '0');
      if (v > 255) return false;
      ++i;
    }
    if (i - start > 1 && text[start] == '0') return false;  // leading zero
    out[part++] = static_cast<uint8_t>(v);
    if (part == 4) return i == text.size();
    if (i >= text.size() || text[i] != '.') return false;
    ++i;
  }
}

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  IpAddress a;
  if (text.size() > 45 || text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CEscape(text), "\" is not an IP address"));
  }
  if (text.find(':') == absl::string_view::npos) {
    if (!ParseV4(text, a.bytes_.data())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", absl::CEscape(text),
          "\" is not an IPv4 address (four numbers 0-255 without leading "
          "zeros)"));
    }
    a.v4_ = true;
    return a;
  }
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (std::strlen(buf) != text.size() ||
      inet_pton(AF_INET6, buf, a.bytes_.data()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CEscape(text), "\" is not an IPv6 address"));
  }
  // The dotted-quad tail of an IPv6 address follows the IPv4 rules.
  size_t last_colon = text.rfind(':');
  absl::string_view tail = text.substr(last_colon + 1);
  if (tail.find('.') != absl::string_view::npos) {
    uint8_t tmp[4];
    if (!ParseV4(tail, tmp)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CEscape(text), "\" is not an IPv6 address"));
    }
  }
  if (std::memcmp(a.bytes_.data(), kMappedPrefix, 12) == 0) {
    std::array<uint8_t, 16> v4{};
    std::memcpy(v4.data(), a.bytes_.data() + 12, 4);
    a.bytes_ = v4;
    a.v4_ = true;
    return a;
  }
  a.v4_ = false;
  return a;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (v4_) {
    return absl::StrCat(bytes_[0], ".", bytes_[1], ".", bytes_[2], ".",
                        bytes_[3]);
  }
  if (inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf) == nullptr) {
    return "?";
  }
  return buf;
}

absl::StatusOr<IpPrefix> IpPrefix::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  absl::string_view addr_text = text.substr(0, slash);
  // Parse the address without the IPv4-mapped normalisation first, to know
  // how to interpret the length.
  bool v6_text = addr_text.find(':') != absl::string_view::npos;
  auto addr = IpAddress::Parse(addr_text);
  if (!addr.ok()) return addr.status();
  IpPrefix p;
  p.network_ = *addr;
  const int text_bits = v6_text ? 128 : 32;
  int length = text_bits;
  if (slash != absl::string_view::npos) {
    absl::string_view len_text = text.substr(slash + 1);
    bool ok = !len_text.empty() && len_text.size() <= 3;
    for (char c : len_text)
      ok = ok && absl::ascii_isdigit(static_cast<unsigned char>(c));
    if (ok && len_text.size() > 1 && len_text[0] == '0') ok = false;
    int v = 0;
    if (ok) ok = absl::SimpleAtoi(len_text, &v) && v >= 0 && v <= text_bits;
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", absl::CEscape(text),
                       "\": the prefix length must be 0-", text_bits));
    }
    length = v;
  }
  if (v6_text && p.network_.is_v4()) {
    // IPv4-mapped: ::ffff:a.b.c.d/len.
    if (length >= 96) {
      length -= 96;
    } else {
      // Wider than the mapped range: keep it as an IPv6 network.
      std::array<uint8_t, 16> b{};
      std::memcpy(b.data(), kMappedPrefix, 12);
      std::memcpy(b.data() + 12, p.network_.bytes_.data(), 4);
      p.network_.bytes_ = b;
      p.network_.v4_ = false;
    }
  }
  p.length_ = length;
  // Clear host bits.
  const int bits = p.network_.bit_length();
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = length - i * 8;
    uint8_t mask = keep >= 8   ? 0xff
                   : keep <= 0 ? 0
                               : static_cast<uint8_t>(0xff << (8 - keep));
    p.network_.bytes_[i] &= mask;
  }
  return p;
}

bool IpPrefix::Contains(const IpAddress& address) const {
  const uint8_t* a = address.bytes_.data();
  std::array<uint8_t, 16> mapped;
  if (address.is_v4() != network_.is_v4()) {
    if (network_.is_v4()) return false;
    // A wide IPv6 network may contain the IPv4-mapped form of the address.
    std::memcpy(mapped.data(), kMappedPrefix, 12);
    std::memcpy(mapped.data() + 12, address.bytes_.data(), 4);
    a = mapped.data();
  }
  const uint8_t* n = network_.bytes_.data();
  int full = length_ / 8;
  if (std::memcmp(a, n, static_cast<size_t>(full)) != 0) return false;
  int rem = length_ % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (a[full] & mask) == n[full];
}

std::string IpPrefix::ToString() const {
  if (length_ == network_.bit_length()) return network_.ToString();
  return absl::StrCat(network_.ToString(), "/", length_);
}

absl::StatusOr<std::string> CanonicalIpPrefix(absl::string_view text) {
  absl::StatusOr<IpPrefix> prefix = IpPrefix::Parse(text);
  if (!prefix.ok()) return prefix.status();
  return prefix->ToString();
}

}  // namespace token_authority::token

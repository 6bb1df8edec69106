// IP addresses and networks (CIDR), IPv4 and IPv6, parsed and compared as
// numbers, never as strings. Used for the "ip" claim and the viewer's address.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are normalised to IPv4 when
// parsed, as are IPv4-mapped IPv6 networks of length 96 or more
// (::ffff:10.0.0.0/104 == 10.0.0.0/8). Dual-stack servers report IPv4 viewers
// in the mapped form, so a token bound to 203.0.113.7 matches a request from
// ::ffff:203.0.113.7 and vice versa. Other IPv6 addresses never match IPv4
// networks (no NAT64 or 6to4 interpretation).
#ifndef TOKEN_IP_ADDRESS_H_
#define TOKEN_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace token_authority::token {

// One IPv4 or IPv6 address. A small immutable value; thread-compatible.
class IpAddress {
 public:
  // Parses dotted-quad IPv4 ("203.0.113.7": four decimal parts 0-255 without
  // leading zeros) or RFC 4291 IPv6 text ("2001:db8::1", "::ffff:1.2.3.4").
  // No zone ids ("%eth0"), brackets, ports or surrounding spaces.
  // InvalidArgumentError otherwise.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);

  bool is_v4() const { return v4_; }
  // The address bytes: 4 significant bytes for IPv4, 16 for IPv6.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  int bit_length() const { return v4_ ? 32 : 128; }

  // Canonical text (RFC 5952 for IPv6).
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.v4_ == b.v4_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) {
    return !(a == b);
  }

 private:
  IpAddress() = default;
  friend class IpPrefix;
  bool v4_ = true;
  std::array<uint8_t, 16> bytes_{};
};

// A network: an address and a prefix length. A plain address is a /32 or
// /128 network. Immutable value; thread-compatible.
class IpPrefix {
 public:
  // Parses "address" or "address/length" (length 0-32 for IPv4, 0-128 for
  // IPv6, decimal without leading zeros). Host bits below the prefix may be
  // set ("10.1.2.3/8" means 10.0.0.0/8); they are cleared. InvalidArgumentError
  // otherwise.
  static absl::StatusOr<IpPrefix> Parse(absl::string_view text);

  const IpAddress& network() const { return network_; }
  int length() const { return length_; }

  // Whether `address` lies in this network. Different families never match
  // (after the IPv4-mapped normalisation described above).
  bool Contains(const IpAddress& address) const;

  // "network/length", or just the address for a full-length prefix.
  std::string ToString() const;

  friend bool operator==(const IpPrefix& a, const IpPrefix& b) {
    return a.length_ == b.length_ && a.network_ == b.network_;
  }

 private:
  IpPrefix() = default;
  IpAddress network_;
  int length_ = 0;
};

// The form an "ip" value (address or CIDR) is stored, signed and shown in:
// IpPrefix::Parse's result, the very parse the verifier compares with, as
// text: host bits cleared ("10.1.2.3/8" -> "10.0.0.0/8"), IPv6 in RFC 5952
// form ("2001:DB8::0:1" -> "2001:db8::1"), IPv4-mapped IPv6 as IPv4, a
// full-length prefix without its length. InvalidArgumentError as Parse.
absl::StatusOr<std::string> CanonicalIpPrefix(absl::string_view text);

}  // namespace token_authority::token

#endif  // TOKEN_IP_ADDRESS_H_

// The one line token-authority prints on stdout once it listens, and its
// parser for the programs that start the binary (tests, benchmarks):
//   token-authority listening on 127.0.0.1:50051 (admin key written to ...)
#ifndef SERVER_START_LINE_H_
#define SERVER_START_LINE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace token_authority::server {

inline constexpr absl::string_view kStartLinePrefix =
    "token-authority listening on ";

// The listening address (host:port) in `line`, or "" if `line` holds no start
// line. Pure.
inline std::string ListenAddressFromStartLine(absl::string_view line) {
  const size_t at = line.find(kStartLinePrefix);
  if (at == absl::string_view::npos) return "";
  line.remove_prefix(at + kStartLinePrefix.size());
  const size_t end = line.find_first_of(" \n");
  if (end == 0 || end == absl::string_view::npos) return "";
  return std::string(line.substr(0, end));
}

}  // namespace token_authority::server

#endif  // SERVER_START_LINE_H_

// Figures about this process that the metrics endpoint samples at each
// scrape, read from Linux's /proc.
#ifndef SERVER_PROCESS_STATS_H_
#define SERVER_PROCESS_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace token_authority::server {

// Resident set size of this process in bytes (/proc/self/statm).
// Unavailable when it cannot be read.
absl::StatusOr<int64_t> ResidentBytes();

// TCP connections of this process, established, whose local port is
// `local_port` (IPv4 and IPv6): the open client connections of a server
// listening there. Counts the sockets among /proc/self/fd that
// /proc/self/net/tcp{,6} lists in state ESTABLISHED. Unavailable when they
// cannot be read.
absl::StatusOr<int64_t> EstablishedConnections(int local_port);

// The same from a given table (the text of /proc/net/tcp or tcp6) and the
// process's socket inodes, sorted ascending. Pure.
int64_t CountEstablished(int local_port, const std::string& tcp_table,
                         const std::vector<uint64_t>& socket_inodes);

}  // namespace token_authority::server

#endif  // SERVER_PROCESS_STATS_H_

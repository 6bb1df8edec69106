#include "server/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace token_authority::server {
namespace {

constexpr absl::string_view kEstablished = "01";

absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The inodes of the sockets among the process's descriptors
// ("socket:[12345]").
std::vector<uint64_t> SocketInodes() {
  std::vector<uint64_t> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/fd"), closedir);
  if (dir == nullptr) return out;
  while (const dirent* e = readdir(dir.get())) {
    char target[64];
    const std::string link = absl::StrCat("/proc/self/fd/", e->d_name);
    const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    absl::string_view t(target, static_cast<size_t>(n));
    uint64_t inode;
    if (absl::ConsumePrefix(&t, "socket:[") && absl::ConsumeSuffix(&t, "]") &&
        absl::SimpleAtoi(t, &inode)) {
      out.push_back(inode);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<int64_t> ResidentBytes() {
  absl::StatusOr<std::string> statm = ReadProcFile("/proc/self/statm");
  if (!statm.ok()) return statm.status();
  std::vector<absl::string_view> fields =
      absl::StrSplit(*statm, ' ', absl::SkipWhitespace());
  int64_t pages;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &pages)) {
    return absl::UnavailableError("/proc/self/statm: unexpected format");
  }
  return pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

int64_t CountEstablished(int local_port, const std::string& tcp_table,
                         const std::vector<uint64_t>& socket_inodes) {
  int64_t count = 0;
  // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt
  //  uid timeout inode ...", addresses as HEXADDR:HEXPORT.
  for (absl::string_view line : absl::StrSplit(tcp_table, '\n')) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (f.size() < 10 || f[3] != kEstablished) continue;
    const size_t colon = f[1].rfind(':');
    int port;
    uint64_t inode;
    if (colon == absl::string_view::npos ||
        !absl::SimpleHexAtoi(f[1].substr(colon + 1), &port) ||
        port != local_port || !absl::SimpleAtoi(f[9], &inode)) {
      continue;
    }
    if (std::binary_search(socket_inodes.begin(), socket_inodes.end(), inode)) {
      ++count;
    }
  }
  return count;
}

absl::StatusOr<int64_t> EstablishedConnections(int local_port) {
  const std::vector<uint64_t> inodes = SocketInodes();
  int64_t total = 0;
  bool any = false;
  for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    absl::StatusOr<std::string> text = ReadProcFile(table);
    if (!text.ok()) continue;  // e.g. no IPv6 in this kernel
    any = true;
    total += CountEstablished(local_port, *text, inodes);
  }
  if (!any) return absl::UnavailableError("cannot read /proc/self/net/tcp");
  return total;
}

}  // namespace token_authority::server

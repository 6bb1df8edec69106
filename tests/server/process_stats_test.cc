#include "server/process_stats.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::server {
namespace {

TEST(ProcessStatsTest, ResidentBytesFollowTouchedMemory) {
  ASSERT_OK_AND_ASSIGN(const int64_t before, ResidentBytes());
  EXPECT_GT(before, 0);
  constexpr size_t kBytes = 64 << 20;
  std::vector<char> block(kBytes);
  std::memset(block.data(), 1, block.size());
  ASSERT_OK_AND_ASSIGN(const int64_t after, ResidentBytes());
  EXPECT_GE(after, before + static_cast<int64_t>(kBytes) / 2)
      << "before " << before << " after " << after;
  EXPECT_EQ(block[kBytes - 1], 1);
}

TEST(ProcessStatsTest, CountsTheTableRowsOfOurSockets) {
  // Two rows on port 0x1F90 (8080) established, one of them another
  // process's socket; one listening; one on another port.
  const std::string table =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
      "retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
      "00000000     0        0 100 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 "
      "00000000     0        0 101 1 0000000000000000 20 4 30 10 -1\n"
      "   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 "
      "00000000     0        0 999 1 0000000000000000 20 4 30 10 -1\n"
      "   3: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 "
      "00000000     0        0 102 1 0000000000000000 20 4 30 10 -1\n";
  EXPECT_EQ(CountEstablished(8080, table, {100, 101, 102}), 1);
  EXPECT_EQ(CountEstablished(0xC350, table, {100, 101, 102}), 1);
  EXPECT_EQ(CountEstablished(8080, table, {}), 0);
  EXPECT_EQ(CountEstablished(8080, "garbage\n\n", {1}), 0);
}

TEST(ProcessStatsTest, CountsRealConnections) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len),
            0);
  const int port = ntohs(addr.sin_port);
  ASSERT_OK_AND_ASSIGN(int64_t none, EstablishedConnections(port));
  EXPECT_EQ(none, 0);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    fds.push_back(c);
    fds.push_back(::accept(listener, nullptr, nullptr));
    ASSERT_GE(fds.back(), 0);
  }
  // The accepted ends have the listening port as their local port.
  ASSERT_OK_AND_ASSIGN(int64_t three, EstablishedConnections(port));
  EXPECT_EQ(three, 3);
  for (int fd : fds) ::close(fd);
  ::close(listener);
}

}  // namespace
}  // namespace token_authority::server

#include "tests/testing/file_access.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::testing {
namespace {

// errno of open(path, O_RDONLY), 0 if it opened.
int OpenError(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

class FileAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    locked_ = dir_.File("locked");
    std::ofstream(locked_) << "secret";
    ASSERT_EQ(::chmod(locked_.c_str(), 0), 0);
  }
  TempDir dir_;
  std::string locked_;
};

TEST_F(FileAccessTest, AFileOfModeZeroCannotBeOpenedWithoutTheOverride) {
  // Root opens it (the reason the tests could not check a refusal).
  if (::geteuid() == 0) {
    EXPECT_EQ(OpenError(locked_), 0);
  }
  {
    NoFileAccessOverride no_override;
    ASSERT_TRUE(no_override.status().ok()) << no_override.status();
    EXPECT_EQ(OpenError(locked_), EACCES);
    // A thread started meanwhile inherits the reduced set.
    int in_thread = -1;
    std::thread([&] { in_thread = OpenError(locked_); }).join();
    EXPECT_EQ(in_thread, EACCES);
  }
  // Raised again for root; still refused for anyone else.
  EXPECT_EQ(OpenError(locked_), ::geteuid() == 0 ? 0 : EACCES);
}

TEST_F(FileAccessTest, AChildThatDroppedTheOverrideCannotReadItAfterExec) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int err = DropFileAccessOverrideForExec();
    if (err != 0) ::_exit(100);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl("/bin/cat", "cat", locked_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (!WaitForExit(pid, Scaled(absl::Seconds(10)), &status)) {
    KillAndReap(pid);
    FAIL() << "cat did not exit";
  }
  ASSERT_NE(ExitCode(status), 100) << "dropping the capabilities failed";
  ASSERT_NE(ExitCode(status), 127) << "cannot run /bin/cat";
  EXPECT_EQ(ExitCode(status), 1) << "cat read a file of mode 000";
}

}  // namespace
}  // namespace token_authority::testing

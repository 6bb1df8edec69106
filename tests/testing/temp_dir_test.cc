#include "tests/testing/temp_dir.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/file_access.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

void Touch(const std::string& path) { std::ofstream(path) << "x"; }

// Sets TMPDIR for the scope of the object, then restores it.
class ScopedTmpdir {
 public:
  explicit ScopedTmpdir(const char* value) {
    if (const char* old = std::getenv("TMPDIR")) old_ = old;
    if (value == nullptr) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", value, 1);
    }
  }
  ~ScopedTmpdir() {
    if (old_.has_value()) {
      ::setenv("TMPDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TMPDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(TempDirTest, MakesADirectoryNamedAfterTheTestAndRemovesIt) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_FALSE(path.empty());
    EXPECT_TRUE(std::filesystem::is_directory(path));
    EXPECT_THAT(path,
                HasSubstr("/ta-TempDirTest."
                          "MakesADirectoryNamedAfterTheTestAndRemovesIt-"));
    EXPECT_EQ(dir.File("a.txt"), path + "/a.txt");
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
  }
  EXPECT_FALSE(Exists(path));
}

TEST(TempDirTest, EachIsUnique) {
  TempDir a, b;
  ASSERT_FALSE(a.path().empty());
  ASSERT_FALSE(b.path().empty());
  EXPECT_NE(a.path(), b.path());
}

TEST(TempDirTest, HonoursTmpdir) {
  TempDir outer;
  ASSERT_FALSE(outer.path().empty());
  {
    ScopedTmpdir tmpdir(outer.path().c_str());
    EXPECT_EQ(TempDir::Base(), outer.path());
    TempDir inner;
    EXPECT_THAT(inner.path(), StartsWith(outer.path() + "/ta-"));
  }
  {
    ScopedTmpdir tmpdir("");
    EXPECT_EQ(TempDir::Base(), "/tmp");
  }
  {
    ScopedTmpdir tmpdir(nullptr);
    EXPECT_EQ(TempDir::Base(), "/tmp");
  }
}

TEST(TempDirTest, ATmpdirThatDoesNotExistIsAnError) {
  TempDir outer;
  ScopedTmpdir tmpdir((outer.path() + "/missing").c_str());
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr("missing"));
}

TEST(TempDirTest, RemovesEverythingBelowItEvenWithoutPermissions) {
  std::string path;
  {
    // Root, too, is held to the permissions here (it would remove the
    // directories below without the chmod that this test is about).
    NoFileAccessOverride no_override;
    ASSERT_TRUE(no_override.status().ok()) << no_override.status();
    TempDir dir;
    path = dir.path();
    const std::string deep = dir.File("a/b/c");
    std::filesystem::create_directories(deep);
    Touch(deep + "/file");
    Touch(dir.File("a/locked-file"));
    ASSERT_EQ(::chmod(dir.File("a/locked-file").c_str(), 0), 0);
    // Directories a test made unreadable and unsearchable.
    ASSERT_EQ(::chmod(dir.File("a/b/c").c_str(), 0), 0);
    ASSERT_EQ(::chmod(dir.File("a/b").c_str(), 0), 0);
  }
  EXPECT_FALSE(Exists(path));
}

TEST(TempDirTest, DoesNotFollowSymbolicLinks) {
  TempDir outside;
  const std::string kept = outside.File("kept");
  std::filesystem::create_directories(kept);
  Touch(kept + "/file");
  ASSERT_EQ(::chmod(kept.c_str(), 0500), 0);
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_EQ(::symlink(kept.c_str(), dir.File("link").c_str()), 0);
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(Exists(kept + "/file"));
  struct stat st;
  ASSERT_EQ(::stat(kept.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0500u) << "the link's target was chmod-ed";
}

TEST(TempDirTest, MoveTransfersOwnershipAndReleaseKeepsTheDirectory) {
  std::string moved_path, released;
  {
    absl::StatusOr<TempDir> made = TempDir::Create();
    ASSERT_TRUE(made.ok()) << made.status();
    TempDir owner = std::move(*made);
    moved_path = owner.path();
    EXPECT_TRUE(made->path().empty());
    EXPECT_TRUE(Exists(moved_path));

    TempDir other;
    released = other.Release();
    EXPECT_TRUE(other.path().empty());
  }
  EXPECT_FALSE(Exists(moved_path));
  EXPECT_TRUE(Exists(released));
  std::filesystem::remove_all(released);
}

}  // namespace
}  // namespace token_authority::testing

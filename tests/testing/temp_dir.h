// TempDir: a fresh directory for one test, removed with everything in it.
//
//   TempDir dir;                        // $TMPDIR/ta-<Suite>.<Test>-XXXXXX
//   WriteFile(dir.File("kek.key"), ...);
//
// The directory is made under $TMPDIR (or /tmp when unset or empty) by
// mkdtemp, so it is unique even when the same test runs in parallel; its name
// carries the running test's name, to tell leftovers apart. The destructor
// removes it recursively without following symbolic links, after restoring
// the owner's permissions on every directory below it (a test may have made
// one unreadable). Creating it can fail (a $TMPDIR that does not exist):
// then the constructor records a test failure and path() is empty; Create()
// returns the error instead, for code that reports statuses.
//
// Thread-compatible; movable, not copyable.
#ifndef TESTS_TESTING_TEMP_DIR_H_
#define TESTS_TESTING_TEMP_DIR_H_

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace token_authority::testing {

class TempDir {
 public:
  // A new directory, or a test failure and an empty path().
  TempDir() {
    absl::StatusOr<std::string> path = MakeDirectory();
    if (path.ok()) {
      path_ = std::move(*path);
    } else {
      ADD_FAILURE() << path.status();
    }
  }
  // A new directory; Internal naming the template and errno on failure.
  static absl::StatusOr<TempDir> Create() {
    absl::StatusOr<std::string> path = MakeDirectory();
    if (!path.ok()) return path.status();
    return TempDir(std::move(*path));
  }

  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TempDir& operator=(TempDir&& other) noexcept {
    if (this != &other) {
      Remove();
      path_ = std::move(other.path_);
      other.path_.clear();
    }
    return *this;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { Remove(); }

  // The directory's absolute path; empty if it could not be made or was
  // released.
  const std::string& path() const { return path_; }
  // `name` inside the directory.
  std::string File(absl::string_view name) const {
    return absl::StrCat(path_, "/", name);
  }
  // Gives up ownership: the directory stays. Returns its path.
  std::string Release() { return std::exchange(path_, std::string()); }

  // Where new directories go: $TMPDIR, or /tmp when it is unset or empty.
  static std::string Base() {
    const char* base = std::getenv("TMPDIR");
    return base != nullptr && *base != '\0' ? base : "/tmp";
  }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}

  // "ta-<Suite>.<Test>-" with characters other than [A-Za-z0-9._-] replaced
  // (parameterised tests have '/'), or "ta-" outside a test.
  static std::string Prefix() {
    std::string name = "ta-";
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    if (info == nullptr) return name;
    std::string test = absl::StrCat(info->test_suite_name(), ".", info->name());
    if (test.size() > 100) test.resize(100);
    for (char& c : test) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                         c == '-';
      if (!plain) c = '_';
    }
    return absl::StrCat(name, test, "-");
  }

  static absl::StatusOr<std::string> MakeDirectory() {
    std::string tmpl = absl::StrCat(Base(), "/", Prefix(), "XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot create a temporary directory ", tmpl, ": ",
                       std::strerror(errno)));
    }
    return tmpl;
  }

  // Gives the owner rwx on `dir` and every directory below it (never
  // through a symbolic link), so that remove_all can enter and empty them.
  static void MakeRemovable(const std::filesystem::path& dir) {
    ::chmod(dir.c_str(), 0700);
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::error_code type_ec;
      if (it->symlink_status(type_ec).type() ==
          std::filesystem::file_type::directory) {
        MakeRemovable(it->path());
      }
    }
  }

  void Remove() {
    if (path_.empty()) return;
    MakeRemovable(path_);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
  }

  std::string path_;
};

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_TEMP_DIR_H_

#include "server/store_health.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

namespace token_authority::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::token_authority::testing::StatusIs;
using ::token_authority::testing::TempDir;

void Touch(const std::string& path, const std::string& content = "x") {
  std::ofstream(path) << content;
}

// A store health checked by hand (the thread never runs within a test), with
// a write state the test sets, recording every change.
class StoreHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.File("token-authority.db");
    Touch(db_);
  }

  std::unique_ptr<StoreHealth> Start(int64_t min_free_bytes = 0) {
    StoreHealthOptions options;
    options.database_path = db_;
    options.data_dir = dir_.path();
    options.min_free_bytes = min_free_bytes;
    return Start(options);
  }

  std::unique_ptr<StoreHealth> Start(StoreHealthOptions options) {
    options.interval = absl::InfiniteDuration();
    auto health = StoreHealth::Start(
        options, [this] { return state_; },
        [this] {
          ++probes_;
          return probe_;
        },
        [this](bool serving, const std::string& reason) {
          changes_.push_back(serving ? "SERVING" : "NOT_SERVING: " + reason);
        });
    EXPECT_TRUE(health.ok()) << health.status();
    return health.ok() ? std::move(*health) : nullptr;
  }

  TempDir dir_;
  std::string db_;
  StoreWriteState state_;
  // What the probe answers, and how often it was asked.
  absl::Status probe_;
  int probes_ = 0;
  std::vector<std::string> changes_;
};

TEST_F(StoreHealthTest, ServesWhileNothingIsWrong) {
  auto health = Start();
  ASSERT_NE(health, nullptr);
  health->CheckNow();
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  EXPECT_EQ(health->reason(), "");
  EXPECT_THAT(changes_, IsEmpty());
}

TEST_F(StoreHealthTest, DeletedDatabaseFileIsNotServing) {
  auto health = Start();
  ASSERT_NE(health, nullptr);
  ASSERT_EQ(::unlink(db_.c_str()), 0);
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(), HasSubstr("is gone"));
  health->CheckNow();  // no second change
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_THAT(changes_[0], HasSubstr("NOT_SERVING: database file " + db_));
}

TEST_F(StoreHealthTest, ReplacedDatabaseFileIsNotServingUntilItIsBack) {
  auto health = Start();
  ASSERT_NE(health, nullptr);
  const std::string saved = dir_.File("saved.db");
  ASSERT_EQ(::link(db_.c_str(), saved.c_str()), 0);
  const std::string other = dir_.File("other.db");
  Touch(other, "another database");
  ASSERT_EQ(::rename(other.c_str(), db_.c_str()), 0);
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(), HasSubstr("was replaced"));
  // The very file the store opened comes back (same inode).
  ASSERT_EQ(::rename(saved.c_str(), db_.c_str()), 0);
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  EXPECT_THAT(changes_, ElementsAre(HasSubstr("was replaced"), "SERVING"));
}

TEST_F(StoreHealthTest, FailedWritesAreProbedUntilTheProbeSucceeds) {
  auto health = Start();
  ASSERT_NE(health, nullptr);
  health->CheckNow();
  EXPECT_EQ(probes_, 0) << "no probe while writes succeed";
  state_ = {1, "commit: database or disk is full"};
  probe_ = absl::ResourceExhaustedError("probe: database or disk is full");
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(), HasSubstr("writes fail (commit: database"));
  EXPECT_THAT(health->reason(), HasSubstr("probe: database or disk is full"));
  health->CheckNow();
  EXPECT_EQ(probes_, 2) << "probed at each check while failing";
  // The probe succeeds: the failure is over.
  probe_ = absl::OkStatus();
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  health->CheckNow();
  EXPECT_EQ(probes_, 3) << "no probe for a failure that is over";
  // A new storage failure starts checking again.
  state_ = {2, "commit: disk I/O error"};
  probe_ = absl::UnavailableError("probe: disk I/O error");
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(), HasSubstr("disk I/O error"));
  probe_ = absl::OkStatus();
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  EXPECT_EQ(probes_, 5);
  EXPECT_THAT(changes_, ElementsAre(HasSubstr("disk is full"), "SERVING",
                                    HasSubstr("I/O error"), "SERVING"));
}

TEST_F(StoreHealthTest, AfterAFailedWriteTheDiskNeedsFreeSpace) {
  // More free space than any file system has: "full" for this test.
  auto health = Start(int64_t{1} << 62);
  ASSERT_NE(health, nullptr);
  health->CheckNow();
  EXPECT_TRUE(health->serving()) << "free space matters only after a failure";
  state_ = {1, "commit: database or disk is full"};
  probe_ = absl::OkStatus();  // a small write may still fit
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(),
              HasSubstr("the file system of " + dir_.path() + " has "));
  EXPECT_EQ(probes_, 0) << "no probe write while the disk is full";
}

// A store on a database server (PostgreSQL): no file to watch, a probe on
// every check, so that a lost connection shows without a failed call.
TEST_F(StoreHealthTest, ProbeEveryCheckFollowsTheProbe) {
  StoreHealthOptions options;
  options.probe_every_check = true;
  options.interval = absl::InfiniteDuration();
  auto health = Start(options);
  ASSERT_NE(health, nullptr);
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  EXPECT_EQ(probes_, 1) << "probed while writes succeed";
  probe_ = absl::UnavailableError("PostgreSQL connection lost");
  health->CheckNow();
  EXPECT_FALSE(health->serving());
  EXPECT_THAT(health->reason(),
              HasSubstr("the store cannot write: PostgreSQL connection lost"));
  // Still down, with another message (the store retrying): no second
  // change, the first reason stays.
  probe_ = absl::UnavailableError("cannot reconnect\n\tIs the server running");
  health->CheckNow();
  EXPECT_THAT(health->reason(), HasSubstr("connection lost"));
  probe_ = absl::OkStatus();
  health->CheckNow();
  EXPECT_TRUE(health->serving());
  EXPECT_EQ(probes_, 4);
  EXPECT_THAT(changes_, ElementsAre(HasSubstr("connection lost"), "SERVING"));
}

TEST_F(StoreHealthTest, ChecksOnItsOwnThread) {
  StoreHealthOptions options;
  options.database_path = db_;
  options.interval = absl::Milliseconds(10);
  // An atomic rather than absl::Notification: this test also runs under
  // TSan, which cannot see the locks inside Debian's (uninstrumented) abseil.
  std::atomic<bool> gone{false};
  ASSERT_OK_AND_ASSIGN(
      auto health, StoreHealth::Start(options, nullptr, nullptr,
                                      [&](bool serving, const std::string&) {
                                        if (!serving) gone = true;
                                      }));
  ASSERT_EQ(::unlink(db_.c_str()), 0);
  const absl::Time deadline =
      absl::Now() + token_authority::testing::Scaled(absl::Seconds(30));
  while (!gone && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(gone) << "no NOT_SERVING within 30 s of the file's removal";
  health->Stop();
  EXPECT_FALSE(health->serving());
}

TEST_F(StoreHealthTest, StartNeedsTheDatabaseFile) {
  StoreHealthOptions options;
  options.database_path = dir_.File("missing.db");
  EXPECT_THAT(
      StoreHealth::Start(options, nullptr, nullptr, nullptr),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("missing.db")));
}

}  // namespace
}  // namespace token_authority::server

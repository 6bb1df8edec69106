// grpc.health.v1 as a load balancer sees it, against the REAL server: SERVING
// while the store is usable, NOT_SERVING once its database file is deleted or
// replaced under it (the full disk is tests/faults/server_full_disk_test.cc),
// SERVING again when the file the server opened is back.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/data_dir.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {
namespace {

using ::testing::HasSubstr;
namespace health = ::grpc::health::v1;

class HealthE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.adjust_server_options = [](server::AuthorityServerOptions& o) {
      o.store_health_interval = absl::Milliseconds(20);
    };
    ASSERT_OK_AND_ASSIGN(server_, TestServer::Start(options));
    stub_ = health::Health::NewStub(server_->NewChannel());
    db_ = server::DatabasePath(server_->data_dir());
  }

  // The status Check answers for `service` ("" for the whole server).
  health::HealthCheckResponse::ServingStatus Check(
      const std::string& service = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     Scaled(std::chrono::seconds(10)));
    health::HealthCheckRequest req;
    req.set_service(service);
    health::HealthCheckResponse resp;
    const grpc::Status s = stub_->Check(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  }

  // Polls Check until it answers `want`, for at most 30 s (scaled).
  bool WaitFor(health::HealthCheckResponse::ServingStatus want) {
    const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
    while (absl::Now() < deadline) {
      if (Check() == want) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<health::Health::Stub> stub_;
  std::string db_;
};

TEST_F(HealthE2eTest, DeletedDatabaseIsNotServing) {
  EXPECT_EQ(Check(), health::HealthCheckResponse::SERVING);
  EXPECT_EQ(Check("tokenauthority.v1.TokenService"),
            health::HealthCheckResponse::SERVING);
  const std::string kept = server_->data_dir() + "/kept.db";
  ASSERT_EQ(::link(db_.c_str(), kept.c_str()), 0);
  ASSERT_EQ(::unlink(db_.c_str()), 0);
  ASSERT_TRUE(WaitFor(health::HealthCheckResponse::NOT_SERVING));
  // Every service says so, not only the server as a whole.
  EXPECT_EQ(Check("tokenauthority.v1.TokenService"),
            health::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(server_->server()->store_serving());
  EXPECT_THAT(server_->server()->store_problem(), HasSubstr("is gone"));
  // The file the server opened comes back under its name.
  ASSERT_EQ(::rename(kept.c_str(), db_.c_str()), 0);
  EXPECT_TRUE(WaitFor(health::HealthCheckResponse::SERVING));
  EXPECT_EQ(server_->server()->store_problem(), "");
}

TEST_F(HealthE2eTest, ReplacedDatabaseIsNotServing) {
  const std::string other = server_->data_dir() + "/other.db";
  std::ofstream(other) << "not the server's database";
  ASSERT_EQ(::rename(other.c_str(), db_.c_str()), 0);
  ASSERT_TRUE(WaitFor(health::HealthCheckResponse::NOT_SERVING));
  EXPECT_THAT(server_->server()->store_problem(), HasSubstr("was replaced"));
}

}  // namespace
}  // namespace token_authority::testing

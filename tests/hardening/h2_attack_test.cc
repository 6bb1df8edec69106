// The transport attacks of issue 18, briefly (2 s each), against the real
// token-authority binary; rapid reset and PING floods through HAProxy
// started from deploy/haproxy.cfg (gRPC 1.51 bounds neither by itself). Each
// attack gets a freshly started server (the data directory is kept) and asserts
// what must hold regardless of the machine's speed: Health answers afterwards,
// every call of the well-behaved second client succeeds within its 5 s
// deadline, SIGTERM stops the server with exit 0 within its grace, and (not in
// sanitizer builds, whose runtimes inflate RSS) the memory bounds: peak RSS <=
// idle + 100 MB and RSS after the attack <= idle + 32 MB. The issue measures
// "after" 5 s after the attack; this CI variant waits kAfterSeconds (shorter)
// and says so. No latency is asserted (speed is for h2_attack by hand, see the
// README).
#include <cstdio>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/hardening/attack_runner.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/time_scale.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::hardening {
namespace {

constexpr int kSeconds = 2;
constexpr int kAfterSeconds = 3;
constexpr int kGraceSeconds = 10;
#ifdef TA_TESTING_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

class H2AttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    RunnerConfig config;
    config.server_binary = TA_SERVER_BINARY;
    config.haproxy_binary = FindProgram("haproxy");
    config.haproxy_config = TA_HAPROXY_CONFIG;
    config.work_dir = dir_->path();
    config.seconds = kSeconds;
    config.after_seconds = kAfterSeconds;
    config.shutdown_grace_seconds = kGraceSeconds;
    runner_ = new AttackRunner(config);
    prepared_ = runner_->Prepare();
    std::printf(
        "h2_attack_test: %d s per attack, RSS 'after' read %d s after it "
        "ends (the issue's bound is for 5 s; this CI variant waits less)\n",
        kSeconds, kAfterSeconds);
  }
  static void TearDownTestSuite() {
    delete runner_;
    delete dir_;
    runner_ = nullptr;
    dir_ = nullptr;
  }

  void RunAttack(Attack attack) {
    ASSERT_TRUE(prepared_.ok()) << prepared_;
    if (NeedsProxy(attack) && runner_->config().haproxy_binary.empty()) {
      GTEST_SKIP() << "haproxy not installed (scripts/install-deps installs "
                      "it); rapid reset needs it in front of gRPC 1.51";
    }
    auto r = runner_->Run(attack);
    ASSERT_TRUE(r.ok()) << r.status()
                        << "\nserver log: " << runner_->server_log();
    std::printf("%s\n", FormatResult(*r).c_str());
    for (const std::string& v : ServiceViolations(*r, kGraceSeconds)) {
      ADD_FAILURE() << v;
    }
    if (kSanitized) {
      std::printf(
          "%s: RSS bounds not checked: sanitizer build (its runtime "
          "inflates RSS)\n",
          r->name.c_str());
      return;
    }
    for (const std::string& v : MemoryViolations(*r)) ADD_FAILURE() << v;
  }

  static testing::TempDir* dir_;
  static AttackRunner* runner_;
  static absl::Status prepared_;
};

testing::TempDir* H2AttackTest::dir_ = nullptr;
AttackRunner* H2AttackTest::runner_ = nullptr;
absl::Status H2AttackTest::prepared_;

TEST_F(H2AttackTest, RapidResetHealthThroughProxy) {
  RunAttack(Attack::kResetHealth);
}
TEST_F(H2AttackTest, RapidResetVerifyThroughProxy) {
  RunAttack(Attack::kResetVerify);
}
TEST_F(H2AttackTest, GzipBomb) { RunAttack(Attack::kGzipBody); }
TEST_F(H2AttackTest, PingFloodOneConnectionReadingThroughProxy) {
  RunAttack(Attack::kPing1Read);
}
TEST_F(H2AttackTest, PingFloodOneConnectionNotReadingThroughProxy) {
  RunAttack(Attack::kPing1NoRead);
}
TEST_F(H2AttackTest, PingFloodSixConnectionsReadingThroughProxy) {
  RunAttack(Attack::kPing6Read);
}
TEST_F(H2AttackTest, PingFloodSixConnectionsNotReadingThroughProxy) {
  RunAttack(Attack::kPing6NoRead);
}
TEST_F(H2AttackTest, SlowReader) { RunAttack(Attack::kSlowReader); }

}  // namespace
}  // namespace token_authority::hardening

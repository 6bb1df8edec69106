// The metrics of a REAL server (in-process, 127.0.0.1:0, a real data dir)
// scraped over HTTP after real calls: each figure is checked against what
// the test did, and the whole scrape against the format's rules and
// promtool.
#include "server/server_metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/server/exposition_format.h"
#include "tests/server/promtool.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "tests/testing/time_scale.h"

namespace token_authority::server {
namespace {

using ::testing::DoubleEq;
using ::testing::Ge;
using ::testing::Gt;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::token_authority::testing::CheckExposition;
using ::token_authority::testing::OrgCredentials;
using ::token_authority::testing::PromtoolCheckMetrics;
using ::token_authority::testing::SampleValue;
using ::token_authority::testing::TestServer;
using ::token_authority::testing::TestServerOptions;
namespace v1 = ::tokenauthority::v1;

std::string Scrape(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30);
  httplib::Result res = client.Get("/metrics");
  EXPECT_TRUE(res) << httplib::to_string(res.error());
  if (!res) return "";
  EXPECT_EQ(res->status, 200);
  return res->body;
}

class ServerMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(""); }

  // Starts the server with metrics, on SQLite in its data dir, or on the
  // PostgreSQL database `database_url`.
  void StartServer(const std::string& database_url) {
    TestServerOptions options;
    options.adjust_server_options = [database_url](AuthorityServerOptions& o) {
      o.metrics_listen = "127.0.0.1:0";
      o.database_url = database_url;
    };
    auto server = TestServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    port_ = server_->server()->metrics_port();
    ASSERT_GT(port_, 0);
    auto issuer =
        server_->CreateOrganizationWithKey(storage::ApiKeyRole::kIssuer);
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = *issuer;
    auto verifier = server_->CreateApiKey(issuer_.organization_id,
                                          storage::ApiKeyRole::kVerifier);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *verifier;
  }

  grpc::Status Issue(const std::string& group, v1::IssueTokenResponse* out) {
    grpc::ClientContext ctx;
    TestServer::Authorize(&ctx, issuer_.api_key);
    v1::IssueTokenRequest req;
    req.mutable_spec()->mutable_target()->set_stream_group_id(group);
    return server_->TokenStub()->IssueToken(&ctx, req, out);
  }

  bool Verify(const std::string& jwt) {
    grpc::ClientContext ctx;
    TestServer::Authorize(&ctx, verifier_.api_key);
    v1::VerifyTokenRequest req;
    req.set_jwt(jwt);
    req.set_organization_id(issuer_.organization_id);
    req.set_stream_group_id("g");
    v1::VerifyTokenResponse resp;
    EXPECT_TRUE(server_->TokenStub()->VerifyToken(&ctx, req, &resp).ok());
    return resp.allowed();
  }

  std::unique_ptr<TestServer> server_;
  int port_ = 0;
  OrgCredentials issuer_, verifier_;
};

TEST_F(ServerMetricsTest, FiguresFollowTheCalls) {
  const std::string before = Scrape(port_);
  EXPECT_THAT(CheckExposition(before), IsEmpty()) << before;
  EXPECT_THAT(SampleValue(before, "ta_tokens_issued_total"), Optional(0.0));

  constexpr int kTokens = 5;
  std::vector<std::string> jwts, ids;
  for (int i = 0; i < kTokens; ++i) {
    v1::IssueTokenResponse resp;
    ASSERT_TRUE(Issue("g", &resp).ok());
    jwts.push_back(resp.jwt());
    ids.push_back(resp.token().id());
  }
  v1::IssueTokenResponse refused;
  EXPECT_EQ(Issue("", &refused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The same token three times: one signature check, two cache hits.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Verify(jwts[0]));
  {
    grpc::ClientContext ctx;
    TestServer::Authorize(&ctx, issuer_.api_key);
    v1::RevokeTokenRequest req;
    req.set_token_id(ids[1]);
    v1::Token t;
    ASSERT_TRUE(server_->TokenStub()->RevokeToken(&ctx, req, &t).ok());
  }

  // A channel kept open (the helpers above each close theirs).
  auto open_stub = server_->TokenStub();
  {
    grpc::ClientContext ctx;
    TestServer::Authorize(&ctx, issuer_.api_key);
    v1::GetTokenRequest req;
    req.set_token_id(ids[0]);
    v1::Token t;
    ASSERT_TRUE(open_stub->GetToken(&ctx, req, &t).ok());
  }

  const std::string text = Scrape(port_);
  EXPECT_THAT(CheckExposition(text), IsEmpty()) << text;
  const auto promtool = PromtoolCheckMetrics(text);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.output << "\n" << text;

  EXPECT_THAT(
      SampleValue(text, "ta_calls_total",
                  {{"method", "TokenService/IssueToken"}, {"code", "OK"}}),
      Optional(double{kTokens}));
  EXPECT_THAT(SampleValue(text, "ta_calls_total",
                          {{"method", "TokenService/IssueToken"},
                           {"code", "INVALID_ARGUMENT"}}),
              Optional(1.0));
  EXPECT_THAT(
      SampleValue(text, "ta_calls_total",
                  {{"method", "TokenService/VerifyToken"}, {"code", "OK"}}),
      Optional(3.0));
  EXPECT_THAT(SampleValue(text, "ta_call_duration_seconds_count",
                          {{"method", "TokenService/IssueToken"}}),
              Optional(double{kTokens + 1}));
  EXPECT_THAT(SampleValue(text, "ta_tokens_issued_total"),
              Optional(double{kTokens}));
  EXPECT_THAT(SampleValue(text, "ta_tokens_revoked_total"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ta_verify_cache_hits_total"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ta_verify_cache_misses_total"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ta_revocation_feed_subscribers"),
              Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ta_revocation_feed_lag_events"),
              Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ta_store_serving"), Optional(1.0));
  // The store's writer: at least the tokens and the revocation committed,
  // and every committed transaction in both histograms.
  const auto batches = SampleValue(text, "ta_store_batch_size_count");
  ASSERT_TRUE(batches.has_value());
  EXPECT_THAT(SampleValue(text, "ta_store_commit_duration_seconds_count"),
              Optional(DoubleEq(*batches)));
  EXPECT_THAT(SampleValue(text, "ta_store_batch_size_sum"),
              Optional(Ge(kTokens + 1)));
  EXPECT_THAT(SampleValue(text, "ta_store_commit_duration_seconds_sum"),
              Optional(Gt(0)));
  EXPECT_THAT(SampleValue(text, "ta_store_write_failures_total"),
              Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ta_store_database_bytes"), Optional(Gt(4096)));
  EXPECT_THAT(SampleValue(text, "process_resident_memory_bytes"),
              Optional(Gt(1 << 20)));
  // The test's open channel to the gRPC port.
  EXPECT_THAT(SampleValue(text, "ta_grpc_connections"), Optional(Ge(1)));
  open_stub.reset();
}

// The same figures from a server on PostgreSQL (--database): the writer's
// counters and histograms, the database's size (pg_database_size) and the
// store's health; no WAL frames (PostgreSQL's WAL is the server's).
class PostgresServerMetricsTest : public ServerMetricsTest {
 protected:
  void SetUp() override {
    auto cluster = token_authority::testing::SharedPostgresCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    auto db = (*cluster)->CreateDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    StartServer((*cluster)->Url(*db));
  }
};

TEST_F(PostgresServerMetricsTest, StoreFiguresFollowTheCalls) {
  const std::string before = Scrape(port_);
  EXPECT_THAT(CheckExposition(before), IsEmpty()) << before;
  const auto ops_before = SampleValue(before, "ta_store_operations_total");
  ASSERT_TRUE(ops_before.has_value()) << before;
  constexpr int kTokens = 4;
  for (int i = 0; i < kTokens; ++i) {
    v1::IssueTokenResponse resp;
    ASSERT_TRUE(Issue("g", &resp).ok());
  }
  const std::string text = Scrape(port_);
  EXPECT_THAT(CheckExposition(text), IsEmpty()) << text;
  const auto promtool = PromtoolCheckMetrics(text);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.output << "\n" << text;
  EXPECT_THAT(SampleValue(text, "ta_tokens_issued_total"),
              Optional(double{kTokens}));
  EXPECT_THAT(SampleValue(text, "ta_store_operations_total"),
              Optional(Ge(*ops_before + kTokens)));
  EXPECT_THAT(SampleValue(text, "ta_store_transactions_total"),
              Optional(Ge(1)));
  const auto batches = SampleValue(text, "ta_store_batch_size_count");
  ASSERT_TRUE(batches.has_value());
  EXPECT_THAT(SampleValue(text, "ta_store_commit_duration_seconds_count"),
              Optional(DoubleEq(*batches)));
  EXPECT_THAT(SampleValue(text, "ta_store_batch_size_sum"),
              Optional(Ge(kTokens)));
  EXPECT_THAT(SampleValue(text, "ta_store_commit_duration_seconds_sum"),
              Optional(Gt(0)));
  EXPECT_THAT(SampleValue(text, "ta_store_write_failures_total"),
              Optional(0.0));
  // An empty PostgreSQL database alone is several MiB.
  EXPECT_THAT(SampleValue(text, "ta_store_database_bytes"),
              Optional(Gt(1 << 20)));
  EXPECT_THAT(SampleValue(text, "ta_store_serving"), Optional(1.0));
  EXPECT_EQ(SampleValue(text, "ta_store_wal_frames"), std::nullopt) << text;
}

TEST_F(ServerMetricsTest, WatchStreamsAreSubscribers) {
  grpc::ClientContext ctx;
  TestServer::Authorize(&ctx, verifier_.api_key);
  v1::WatchRevocationsRequest req;
  auto stream = server_->TokenStub()->WatchRevocations(&ctx, req);
  // Wait (with a deadline) until the stream is registered.
  std::optional<double> subscribers;
  const absl::Time deadline =
      absl::Now() + token_authority::testing::Scaled(absl::Seconds(30));
  while (absl::Now() < deadline) {
    subscribers = SampleValue(Scrape(port_), "ta_revocation_feed_subscribers");
    if (subscribers == 1.0) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(subscribers, Optional(1.0));
  ctx.TryCancel();
  (void)stream->Finish();
}

}  // namespace
}  // namespace token_authority::server

// The HTTP side of the gateway (client/web/gateway.h): pages, security
// headers, same-origin and CSRF checks, body limits and bad JSON, through
// real HTTP against the REAL authority in-process.
#include "client/web/gateway.h"

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/web/http_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/test_certs.h"
#include "tests/testing/temp_dir.h"
#include "tests/web/gateway_fixture.h"

namespace token_authority::client::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Header(const httplib::Headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

TEST_F(GatewayTest, EveryResponseCarriesTheSecurityHeaders) {
  for (const char* path :
       {"/stream/grp-1", "/secure/token", "/static/secure-token-dialog.js",
        "/api/form?page=/stream/grp-1", "/no/such/page", "/api/nothing"}) {
    SCOPED_TRACE(path);
    Reply r = Get(path);
    const std::string csp = Header(r.headers, "Content-Security-Policy");
    EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
    EXPECT_THAT(csp, HasSubstr("frame-ancestors 'self'"));
    EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
    EXPECT_EQ(Header(r.headers, "X-Content-Type-Options"), "nosniff");
  }
}

TEST_F(GatewayTest, ServesTheSixPagesWithTheComponent) {
  for (const char* path :
       {"/playout/grp-1", "/stream/grp-1", "/stream/grp-1/code-snippets",
        "/stream/new/grp-1", "/webcaster/grp-1", "/secure/token"}) {
    SCOPED_TRACE(path);
    Reply r = Get(path);
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.raw, HasSubstr(absl::StrCat("<secure-token-dialog page=\"",
                                              path, "\">")));
    EXPECT_THAT(r.raw, HasSubstr("<script type=\"module\" "
                                 "src=\"/static/secure-token-dialog.js\">"));
    EXPECT_THAT(r.raw, Not(HasSubstr("<script>")));  // no inline script
  }
  Reply js = Get("/static/secure-token-dialog.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_THAT(Header(js.headers, "Content-Type"), HasSubstr("javascript"));
  EXPECT_THAT(js.raw, HasSubstr("customElements.define"));
  EXPECT_THAT(js.raw, Not(HasSubstr("innerHTML")));
  Reply missing = Get("/settings/grp-1");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(Header(missing.headers, "Content-Type"), HasSubstr("text/html"));
}

TEST_F(GatewayTest, AStreamIdWithMarkupIsEscapedInThePage) {
  Reply r = Get("/stream/%22%3E%3Cimg%20src=x%3E");
  // A space is not allowed in a stream id: no page.
  EXPECT_EQ(r.status, 404);
  r = Get("/stream/%22%3E%3Cimg");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.raw, Not(HasSubstr("\"><img")));
  EXPECT_THAT(r.raw, HasSubstr("&quot;&gt;&lt;img"));
}

TEST_F(GatewayTest, StateChangingCallsNeedTheSameOriginAndTheCsrfToken) {
  const std::string body = Form().dump();
  auto with = [&](httplib::Headers h) { return Post("/api/tokens", body, h); };
  const std::string origin = Origin();
  Reply r = with({{"Cookie", cookie_}, {"X-CSRF-Token", csrf_}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "cross_origin");
  r = with({{"Origin", "http://evil.example"},
            {"Cookie", cookie_},
            {"X-CSRF-Token", csrf_}});
  EXPECT_EQ(r.body["error"]["code"], "cross_origin");
  r = with({{"Sec-Fetch-Site", "cross-site"},
            {"Cookie", cookie_},
            {"X-CSRF-Token", csrf_}});
  EXPECT_EQ(r.body["error"]["code"], "cross_origin");
  r = with({{"Origin", origin}, {"Cookie", cookie_}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "csrf");
  r = with({{"Origin", origin}, {"X-CSRF-Token", csrf_}});
  EXPECT_EQ(r.body["error"]["code"], "csrf");
  r = with({{"Origin", origin},
            {"Cookie", "td_csrf=someone-elses"},
            {"X-CSRF-Token", csrf_}});
  EXPECT_EQ(r.body["error"]["code"], "csrf");
  for (const char* path : {"/api/validate", "/api/decode", "/api/revoke"}) {
    EXPECT_EQ(Post(path, "{}", {{"Origin", origin}}).status, 403) << path;
  }
  EXPECT_EQ(TokenCount(), 0);
  // The same call as the page makes it.
  EXPECT_EQ(Post("/api/tokens", Form()).status, 201);
  EXPECT_EQ(TokenCount(), 1);
}

TEST_F(GatewayTest, BadBodiesAre400sAndCreateNothing) {
  Reply r = Post("/api/tokens", "{\"form\": ", BrowserHeaders());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "bad_json");
  EXPECT_THAT(r.body["error"]["message"].get<std::string>(),
              HasSubstr("not valid JSON"));
  r = Post("/api/tokens", nlohmann::json{{"form", "text"}});
  EXPECT_EQ(r.status, 400);
  r = Post("/api/tokens", nlohmann::json{{"form", {{"tag", 7}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body["error"]["message"].get<std::string>(),
              HasSubstr("form.tag"));
  r = Post("/api/tokens", nlohmann::json{{"form", {{"colour", "red"}}}});
  EXPECT_THAT(r.body["error"]["message"].get<std::string>(),
              HasSubstr("form.colour"));
  auto plain =
      http_->Post("/api/tokens", BrowserHeaders(), Form().dump(), "text/plain");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 415);
  EXPECT_EQ(TokenCount(), 0);
}

TEST_F(GatewayTest, OversizedBodiesAreRefused) {
  const std::string huge =
      nlohmann::json{{"form", {{"tag", std::string(kMaxBodyBytes, 'x')}}}}
          .dump();
  Reply r = Post("/api/tokens", huge, BrowserHeaders());
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body["error"]["code"], "body_too_large");
  EXPECT_EQ(TokenCount(), 0);
}

TEST_F(GatewayTest, TheApiKeyNeverReachesTheBrowser) {
  std::string everything;
  for (const char* path :
       {"/stream/grp-1", "/static/secure-token-dialog.js",
        "/api/form?page=/stream/grp-1", "/api/tokens?page=/stream/grp-1"}) {
    Reply r = Get(path);
    everything += r.raw;
    for (const auto& [name, value] : r.headers) everything += value;
  }
  everything += Post("/api/tokens", Form()).raw;
  EXPECT_THAT(everything, Not(HasSubstr(org_.api_key)));
  EXPECT_THAT(everything, Not(HasSubstr(org_.api_key_id)));
}

TEST_F(GatewayTest, UnknownCallsAreJsonErrors) {
  Reply r = Get("/api/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["code"], "not_found");
  EXPECT_EQ(r.body["error"]["status"], 404);
}

TEST_F(GatewayTest, StartRefusesBadListenAddressesAndTlsFiles) {
  auto client = [this] {
    ClientOptions options;
    options.insecure = true;
    options.api_key = org_.api_key;
    return *TokenAuthorityClient::Create(server_->address(), options);
  };
  GatewayOptions bad;
  bad.listen = "nonsense";
  EXPECT_THAT(DialogGateway::Start(bad, client()).status(),
              testing::StatusIs(absl::StatusCode::kInvalidArgument));
  GatewayOptions half;
  half.listen = "127.0.0.1:0";
  half.tls_cert_file = "/nonexistent.pem";
  EXPECT_THAT(DialogGateway::Start(half, client()).status(),
              testing::StatusIs(absl::StatusCode::kInvalidArgument));
  half.tls_key_file = "/nonexistent.key";
  EXPECT_THAT(DialogGateway::Start(half, client()).status(),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(DialogGateway::Start(GatewayOptions(), nullptr).status(),
              testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(GatewayTest, ServesHttpsWithTheGivenCertificate) {
  ASSERT_OK_AND_ASSIGN(auto ca, testing::TestCa::Create("gateway test CA"));
  ASSERT_OK_AND_ASSIGN(testing::PemPair leaf, ca->Issue("localhost", true));
  testing::TempDir dir;
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"ca.pem", ca->cert_pem()},
        {"cert.pem", leaf.cert_pem},
        {"key.pem", leaf.key_pem}}) {
    std::ofstream(dir.File(name)) << text;
  }
  ClientOptions options;
  options.insecure = true;
  options.api_key = org_.api_key;
  ASSERT_OK_AND_ASSIGN(
      auto client, TokenAuthorityClient::Create(server_->address(), options));
  GatewayOptions tls;
  tls.listen = "127.0.0.1:0";
  tls.tls_cert_file = dir.File("cert.pem");
  tls.tls_key_file = dir.File("key.pem");
  ASSERT_OK_AND_ASSIGN(auto gateway,
                       DialogGateway::Start(tls, std::move(client)));
  EXPECT_STREQ(gateway->scheme(), "https");
  httplib::SSLClient https("127.0.0.1", gateway->port());
  https.set_ca_cert_path(dir.File("ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  https.set_connection_timeout(10);
  auto res = https.Get("/api/form?page=/stream/grp-1");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->get_header_value("Set-Cookie"), HasSubstr("; Secure"));
  // Plain HTTP to the HTTPS port gets no answer.
  httplib::Client plain("127.0.0.1", gateway->port());
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto refused = plain.Get("/api/form?page=/stream/grp-1");
  EXPECT_TRUE(!refused || refused->status != 200);
}

}  // namespace
}  // namespace token_authority::client::web

// The fixture of the gateway tests: the REAL token-authority server
// in-process (tests/testing/test_server.h), an organisation with an issuer
// key, the REAL DialogGateway on 127.0.0.1:0 talking to it over gRPC, and
// real HTTP calls with httplib::Client.
#ifndef TESTS_WEB_GATEWAY_FIXTURE_H_
#define TESTS_WEB_GATEWAY_FIXTURE_H_

#include <httplib.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/web/csrf.h"
#include "client/web/gateway.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace token_authority::client::web {

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, testing::TestServer::Start());
    ASSERT_OK_AND_ASSIGN(
        org_, server_->CreateOrganizationWithKey(storage::ApiKeyRole::kIssuer));
    gateway_ = StartGateway(org_.api_key);
    ASSERT_NE(gateway_, nullptr);
    http_ = NewClient(*gateway_);
    LoadForm("/stream/grp-1");
  }

  std::unique_ptr<DialogGateway> StartGateway(const std::string& api_key) {
    ClientOptions options;
    options.insecure = true;
    options.api_key = api_key;
    auto client = TokenAuthorityClient::Create(server_->address(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    GatewayOptions gateway;
    gateway.listen = "127.0.0.1:0";
    auto started = DialogGateway::Start(gateway, *std::move(client));
    EXPECT_TRUE(started.ok()) << started.status();
    return started.ok() ? *std::move(started) : nullptr;
  }

  static std::unique_ptr<httplib::Client> NewClient(const DialogGateway& g) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", g.port());
    c->set_connection_timeout(10);
    c->set_read_timeout(30);
    return c;
  }

  std::string Origin() const {
    return absl::StrCat("http://127.0.0.1:", gateway_->port());
  }

  // GET /api/form for `page`: keeps the CSRF cookie and token.
  nlohmann::json LoadForm(const std::string& page) {
    auto res = http_->Get(absl::StrCat("/api/form?page=", page).c_str());
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    const std::string cookie = res->get_header_value("Set-Cookie");
    if (!cookie.empty()) {
      cookie_ = cookie.substr(0, cookie.find(';'));
    }
    nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.contains("csrf_token")) csrf_ = j["csrf_token"];
    return j;
  }

  // The headers of a same-origin browser call with the CSRF cookie and token.
  httplib::Headers BrowserHeaders() const {
    return {{"Origin", Origin()},
            {"Sec-Fetch-Site", "same-origin"},
            {"Cookie", cookie_},
            {std::string(kCsrfHeader), csrf_}};
  }

  struct Reply {
    int status = 0;
    nlohmann::json body;
    std::string raw;
    httplib::Headers headers;
  };

  Reply ToReply(const httplib::Result& res) {
    Reply r;
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return r;
    r.status = res->status;
    r.raw = res->body;
    r.headers = res->headers;
    r.body = nlohmann::json::parse(res->body, nullptr, false);
    return r;
  }

  Reply Post(const std::string& path, const std::string& body,
             const httplib::Headers& headers) {
    return ToReply(
        http_->Post(path.c_str(), headers, body, "application/json"));
  }
  Reply Post(const std::string& path, const nlohmann::json& body) {
    return Post(path, body.dump(), BrowserHeaders());
  }
  Reply Get(const std::string& path) {
    return ToReply(http_->Get(path.c_str()));
  }

  // The number of tokens the organisation has (straight from the
  // authority, not through the gateway).
  int TokenCount() {
    ClientOptions options;
    options.insecure = true;
    options.api_key = org_.api_key;
    auto client = TokenAuthorityClient::Create(server_->address(), options);
    EXPECT_TRUE(client.ok());
    tokenauthority::v1::ListTokensRequest request;
    request.set_page_size(1000);
    auto list = (*client)->ListTokens(request);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? list->tokens_size() : -1;
  }

  static nlohmann::json Form(
      nlohmann::json changes = nlohmann::json::object()) {
    nlohmann::json form = {{"target", "stream_group"},
                           {"stream_group_id", "grp-1"},
                           {"lifetime", "2w"}};
    form.update(changes);
    return {{"page", "/stream/grp-1"}, {"form", form}};
  }

  std::unique_ptr<testing::TestServer> server_;
  testing::OrgCredentials org_;
  std::unique_ptr<DialogGateway> gateway_;
  std::unique_ptr<httplib::Client> http_;
  std::string cookie_, csrf_;
};

}  // namespace token_authority::client::web

#endif  // TESTS_WEB_GATEWAY_FIXTURE_H_

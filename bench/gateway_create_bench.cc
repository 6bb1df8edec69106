// What the dialog gateway (client/web/, token-dialogs) adds to creating a
// token: POST /api/tokens through the REAL gateway over loopback HTTP
// against a direct IssueToken with TokenAuthorityClient, both against the
// REAL authority in-process (tests/testing/test_server.h). The two are
// interleaved call by call so that the shared machine's noise hits both.
// Prints the median and 90th percentile of each and the difference of the
// medians. A plain program (it prints figures; nothing is asserted):
//   build/bench/gateway_create_bench [calls, default 400]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/web/gateway.h"
#include "nlohmann/json.hpp"
#include "tests/testing/test_server.h"

namespace {

using token_authority::client::ClientOptions;
using token_authority::client::TokenAuthorityClient;
using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

std::unique_ptr<TokenAuthorityClient> Connect(const std::string& address,
                                              const std::string& key) {
  ClientOptions options;
  options.insecure = true;
  options.api_key = key;
  auto client = TokenAuthorityClient::Create(address, options);
  if (!client.ok()) {
    std::fprintf(stderr, "client: %s\n", client.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(client);
}

}  // namespace

int main(int argc, char** argv) {
  namespace web = token_authority::client::web;
  const int calls = argc > 1 ? std::atoi(argv[1]) : 400;
  auto server = token_authority::testing::TestServer::Start();
  if (!server.ok()) return std::fprintf(stderr, "server failed\n"), 1;
  auto org = (*server)->CreateOrganizationWithKey(
      token_authority::storage::ApiKeyRole::kIssuer);
  if (!org.ok()) return std::fprintf(stderr, "org failed\n"), 1;
  auto direct = Connect((*server)->address(), org->api_key);
  web::GatewayOptions options;
  options.listen = "127.0.0.1:0";
  auto gateway = web::DialogGateway::Start(
      options, Connect((*server)->address(), org->api_key));
  if (!gateway.ok()) return std::fprintf(stderr, "gateway failed\n"), 1;

  httplib::Client http("127.0.0.1", (*gateway)->port());
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);  // as browsers do
  auto form = http.Get("/api/form?page=/stream/bench-1");
  if (!form || form->status != 200) return std::fprintf(stderr, "form\n"), 1;
  const std::string cookie = form->get_header_value("Set-Cookie");
  const httplib::Headers headers = {
      {"Origin", absl::StrCat("http://127.0.0.1:", (*gateway)->port())},
      {"Cookie", cookie.substr(0, cookie.find(';'))},
      {"X-CSRF-Token",
       nlohmann::json::parse(form->body)["csrf_token"].get<std::string>()}};
  const std::string body =
      R"({"form": {"target": "stream_group", "stream_group_id": "bench-1",
                   "lifetime": "2w", "tag": "bench"}})";
  tokenauthority::v1::IssueTokenRequest request;
  request.mutable_spec()->mutable_target()->set_stream_group_id("bench-1");
  request.mutable_spec()->set_tag("bench");

  std::vector<double> via_gateway, via_client;
  for (int i = 0; i < calls + 20; ++i) {  // the first 20 warm up
    Clock::time_point t0 = Clock::now();
    auto res = http.Post("/api/tokens", headers, body, "application/json");
    Clock::time_point t1 = Clock::now();
    auto issued = direct->IssueToken(request);
    Clock::time_point t2 = Clock::now();
    if (!res || res->status != 201 || !issued.ok()) {
      std::fprintf(stderr, "call %d failed\n", i);
      return 1;
    }
    if (i < 20) continue;
    via_gateway.push_back(Micros(t1 - t0));
    via_client.push_back(Micros(t2 - t1));
  }
  const double g50 = Percentile(via_gateway, 0.5);
  const double c50 = Percentile(via_client, 0.5);
  std::printf(
      "create via gateway (HTTP POST /api/tokens): median %.0f us, "
      "p90 %.0f us\n",
      g50, Percentile(via_gateway, 0.9));
  std::printf(
      "direct IssueToken (TokenAuthorityClient):   median %.0f us, "
      "p90 %.0f us\n",
      c50, Percentile(via_client, 0.9));
  std::printf(
      "gateway adds (difference of medians): %.0f us over %d calls "
      "each\n",
      g50 - c50, calls);
  (*gateway)->Stop();
  return 0;
}

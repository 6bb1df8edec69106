// Every call of the JSON API (client/web/dialog_api.h), through the REAL
// gateway over HTTP against the REAL authority in-process.
#include "client/web/dialog_api.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/web/gateway_fixture.h"

namespace token_authority::client::web {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Fields(const nlohmann::json& problems) {
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p["field"]);
  return out;
}

TEST_F(GatewayTest, FormOfEachPageHasTheDefaultsChoicesAndLimits) {
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"/playout/grp-1", "Playout"},
      {"/stream/grp-1", "Stream"},
      {"/stream/grp-1/code-snippets", "Code snippets"},
      {"/stream/new/grp-1", "New stream"},
      {"/webcaster/grp-1", "Webcaster"},
      {"/secure/token", "Secure Token"}};
  for (const auto& [page, title] : pages) {
    SCOPED_TRACE(page);
    const nlohmann::json f = LoadForm(page);
    const bool standalone = page == "/secure/token";
    EXPECT_EQ(f["page_title"], title);
    EXPECT_EQ(f["standalone"], standalone);
    EXPECT_EQ(f["defaults"]["target"], "stream_group");
    EXPECT_EQ(f["defaults"]["stream_group_id"], standalone ? "" : "grp-1");
    EXPECT_EQ(f["defaults"]["lifetime"], "2w");
    ASSERT_EQ(f["target_options"].size(), 3u);
    EXPECT_EQ(f["target_options"][0]["value"], "stream_group");
    EXPECT_EQ(f["target_options"][0]["selected"], true);
    EXPECT_EQ(f["target_options"][1]["selected"], false);
    if (!standalone) {
      EXPECT_THAT(f["target_options"][0]["label"].get<std::string>(),
                  HasSubstr("grp-1"));
    }
    EXPECT_EQ(f["limits"]["max_lifetime_seconds"], 365 * 86400);
    ASSERT_EQ(f["fields"].size(), 10u);
    for (const auto& field : f["fields"]) {
      EXPECT_FALSE(field["label"].get<std::string>().empty()) << field;
    }
    EXPECT_EQ(f["fields"][9]["name"], "tag");
    EXPECT_EQ(f["fields"][9]["max_length"], 128);
    EXPECT_EQ(f["organization"]["enabled"], true);
    EXPECT_EQ(f["organization"]["organization_id"], org_.organization_id);
    EXPECT_FALSE(f["csrf_token"].get<std::string>().empty());
  }
}

TEST_F(GatewayTest, FormOfAPathThatIsNoPageIsABadPage) {
  Reply r = Get("/api/form?page=/settings/x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "bad_page");
  EXPECT_THAT(r.body["error"]["message"].get<std::string>(),
              HasSubstr("secure/token"));
}

TEST_F(GatewayTest, WithoutTheSecurePackageTheFormSaysUpgradeNeeded) {
  ASSERT_OK_AND_ASSIGN(
      testing::OrgCredentials plain,
      server_->CreateOrganizationWithKey(storage::ApiKeyRole::kIssuer,
                                         /*secure=*/false));
  gateway_ = StartGateway(plain.api_key);
  ASSERT_NE(gateway_, nullptr);
  http_ = NewClient(*gateway_);
  const nlohmann::json f = LoadForm("/stream/grp-1");
  EXPECT_EQ(f["organization"]["enabled"], false);
  EXPECT_EQ(f["organization"]["state"], "Upgrade needed");
  EXPECT_THAT(f["organization"]["message"].get<std::string>(),
              HasSubstr("contact us"));
  Reply r = Post("/api/tokens", Form());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["error"]["code"], "upgrade_needed");
}

TEST_F(GatewayTest, ValidateReportsEveryProblemPerFieldAndCreatesNothing) {
  Reply r = Post("/api/validate", Form({{"lifetime", "soon"},
                                        {"not_before", "tomorrow"},
                                        {"client_ip", "300.1.1.1"},
                                        {"domain", "not a domain"},
                                        {"tag", std::string(129, 't')}}));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["valid"], false);
  EXPECT_THAT(
      Fields(r.body["problems"]),
      ElementsAre("lifetime", "not_before", "client_ip", "domain", "tag"));
  for (const auto& p : r.body["problems"]) {
    EXPECT_FALSE(p["label"].get<std::string>().empty());
    EXPECT_FALSE(p["message"].get<std::string>().empty());
  }
  r = Post("/api/validate", Form());
  EXPECT_EQ(r.body["valid"], true);
  EXPECT_TRUE(r.body["problems"].empty());
  EXPECT_EQ(TokenCount(), 0);
}

TEST_F(GatewayTest, CreateAnswersTheOverviewAndBothSnippetForms) {
  Reply r =
      Post("/api/tokens", Form({{"user_id", "viewer-7"}, {"tag", "launch"}}));
  ASSERT_EQ(r.status, 201) << r.raw;
  const nlohmann::json& o = r.body["overview"];
  const std::string jwt = o["jwt"];
  ASSERT_FALSE(jwt.empty());
  EXPECT_THAT(o["target"].get<std::string>(), HasSubstr("grp-1"));
  EXPECT_EQ(o["user_id"], "viewer-7");
  EXPECT_EQ(o["tag"], "launch");
  EXPECT_EQ(o["expires_relative"], "in 14 days");
  EXPECT_FALSE(o["token_id"].get<std::string>().empty());
  EXPECT_FALSE(o["key_id"].get<std::string>().empty());
  for (const char* form : {"group", "entry"}) {
    const nlohmann::json& sc = o["security_config"][form];
    EXPECT_THAT(sc["javascript"].get<std::string>(), HasSubstr(jwt));
    const nlohmann::json parsed =
        nlohmann::json::parse(sc["json"].get<std::string>(), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << sc["json"];
    EXPECT_THAT(parsed.dump(), HasSubstr(jwt));
  }
  EXPECT_EQ(TokenCount(), 1);
}

TEST_F(GatewayTest, CreateWithProblemsIs422AndCreatesNothing) {
  Reply r =
      Post("/api/tokens", Form({{"stream_group_id", ""}, {"domain", "-bad-"}}));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body["error"]["status"], 422);
  EXPECT_EQ(r.body["error"]["code"], "invalid_form");
  EXPECT_THAT(Fields(r.body["error"]["problems"]),
              ElementsAre("stream_group_id", "domain"));
  EXPECT_EQ(TokenCount(), 0);
}

TEST_F(GatewayTest, DecodeShowsTheOverviewAndFlagsATamperedToken) {
  Reply created = Post("/api/tokens", Form({{"tag", "t1"}}));
  ASSERT_EQ(created.status, 201) << created.raw;
  const std::string jwt = created.body["overview"]["jwt"];
  Reply good = Post("/api/decode", nlohmann::json{{"jwt", "  " + jwt + "\n"}});
  ASSERT_EQ(good.status, 200) << good.raw;
  EXPECT_EQ(good.body["invalid"], false);
  EXPECT_EQ(good.body["overview"]["signature_valid"], true);
  EXPECT_EQ(good.body["overview"]["token_id"],
            created.body["overview"]["token_id"]);
  EXPECT_EQ(good.body["overview"]["tag"], "t1");
  EXPECT_TRUE(good.body["overview"].contains("security_config"));

  std::string tampered = jwt;
  char& c = tampered[tampered.size() - 5];
  c = c == 'A' ? 'B' : 'A';
  Reply bad = Post("/api/decode", nlohmann::json{{"jwt", tampered}});
  ASSERT_EQ(bad.status, 200) << bad.raw;
  EXPECT_EQ(bad.body["invalid"], true);
  EXPECT_EQ(bad.body["overview"]["state"], "invalid");
  EXPECT_EQ(bad.body["overview"]["signature_valid"], false);
  EXPECT_FALSE(bad.body["overview"].contains("security_config"));

  Reply empty = Post("/api/decode", nlohmann::json{{"jwt", " "}});
  EXPECT_EQ(empty.status, 400);
  EXPECT_THAT(Fields(empty.body["error"]["problems"]), ElementsAre("jwt"));
}

TEST_F(GatewayTest, ListsTheStreamsTokensNewestFirstPagedAndFiltered) {
  for (const char* tag : {"a", "b", "c"}) {
    ASSERT_EQ(Post("/api/tokens", Form({{"tag", tag}})).status, 201);
  }
  ASSERT_EQ(Post("/api/tokens",
                 Form({{"stream_group_id", "grp-2"}, {"tag", "other"}}))
                .status,
            201);
  Reply first = Get("/api/tokens?page=/stream/grp-1&page_size=2");
  ASSERT_EQ(first.status, 200) << first.raw;
  ASSERT_EQ(first.body["tokens"].size(), 2u);
  EXPECT_EQ(first.body["tokens"][0]["tag"], "c");
  EXPECT_EQ(first.body["tokens"][1]["tag"], "b");
  EXPECT_EQ(first.body["tokens"][0]["state"], "active");
  EXPECT_EQ(first.body["tokens"][0]["revocable"], true);
  const std::string next = first.body["next_page_token"];
  ASSERT_FALSE(next.empty());
  Reply second = Get(absl::StrCat(
      "/api/tokens?page=/stream/grp-1&page_size=2&page_token=", next));
  ASSERT_EQ(second.body["tokens"].size(), 1u);
  EXPECT_EQ(second.body["tokens"][0]["tag"], "a");
  EXPECT_EQ(second.body["next_page_token"], "");

  Reply tagged = Get("/api/tokens?page=/playout/grp-1&tag=b");
  ASSERT_EQ(tagged.body["tokens"].size(), 1u);
  EXPECT_EQ(tagged.body["tokens"][0]["tag"], "b");
  EXPECT_TRUE(Get("/api/tokens?page=/stream/grp-1&state=revoked")
                  .body["tokens"]
                  .empty());
  Reply bad = Get("/api/tokens?page=/stream/grp-1&state=bogus");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body["error"]["message"].get<std::string>(),
              HasSubstr("state"));
  EXPECT_EQ(Get("/api/tokens?page=/stream/grp-1&page_size=0").status, 400);
}

TEST_F(GatewayTest, RevokesOneToken) {
  Reply created = Post("/api/tokens", Form());
  ASSERT_EQ(created.status, 201);
  const std::string id = created.body["overview"]["token_id"];
  Reply r = Post("/api/revoke", nlohmann::json{{"token_id", id}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["token"]["token_id"], id);
  EXPECT_EQ(r.body["token"]["state"], "revoked");
  EXPECT_EQ(r.body["token"]["revocable"], false);
  Reply list = Get("/api/tokens?page=/stream/grp-1");
  EXPECT_EQ(list.body["tokens"][0]["state"], "revoked");
  std::string unknown = id;
  unknown[0] = unknown[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Post("/api/revoke", nlohmann::json{{"token_id", unknown}}).status,
            404);
  EXPECT_EQ(Post("/api/revoke", nlohmann::json::object()).status, 400);
}

}  // namespace
}  // namespace token_authority::client::web

#include "client/dialog.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/dialog_samples.h"
#include "tests/testing/status_matchers.h"
#include "token/time_util.h"
#include "tokenauthority/v1/token_service_mock.grpc.pb.h"

namespace token_authority::client {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::Not;
using ::testing::Return;
using ::testing::StartsWith;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

// 2025-03-01T12:00:00Z
const absl::Time kNow = absl::FromUnixSeconds(1740830400);

struct PageCase {
  const char* path;
  DialogPage page;
  const char* canonical;
};

const PageCase kPages[] = {
    {"playout/abc-123", DialogPage::kPlayout, "playout/abc-123"},
    {"stream/abc-123", DialogPage::kStream, "stream/abc-123"},
    {"stream/abc-123/code-snippets", DialogPage::kStreamCodeSnippets,
     "stream/abc-123/code-snippets"},
    {"stream/new/abc-123", DialogPage::kStreamNew, "stream/new/abc-123"},
    {"webcaster/abc-123", DialogPage::kWebcaster, "webcaster/abc-123"},
};

class PagePathTest : public ::testing::TestWithParam<PageCase> {};

TEST_P(PagePathTest, AcceptsEveryVariantOfThePath) {
  const PageCase& c = GetParam();
  const std::string p = c.path;
  const std::vector<std::string> variants = {
      p,
      "/" + p,
      p + "/",
      "/" + p + "//",
      "  " + p + "\n",
      p + "?tab=token&x=1",
      p + "/?tab=token#dialog",
      p + "#token",
      "https://dashboard.nanocosmos.de/" + p,
      "https://dashboard.nanocosmos.de/" + p + "/?a=b#c",
      "HTTP://localhost:8080/" + p,
      "dashboard.nanocosmos.de/" + p,
      "localhost:3000/" + p + "/",
      "//dashboard.nanocosmos.de/" + p,
  };
  for (const std::string& v : variants) {
    absl::StatusOr<PageLocation> loc = ParsePagePath(v);
    ASSERT_THAT(loc, IsOk()) << v;
    EXPECT_EQ(loc->page, c.page) << v;
    EXPECT_EQ(loc->stream_id, "abc-123") << v;
    EXPECT_EQ(PagePath(*loc), c.canonical) << v;
  }
}

TEST_P(PagePathTest, DefaultsOfThePage) {
  const PageCase& c = GetParam();
  ASSERT_OK_AND_ASSIGN(PageLocation loc, ParsePagePath(c.path));
  const InlineDialog dialog = DialogForPage(loc);
  EXPECT_EQ(dialog.location, loc);
  EXPECT_THAT(dialog.title, HasSubstr("abc-123"));
  EXPECT_THAT(dialog.title, HasSubstr(std::string(PageTitle(c.page))));
  // Target: the entire stream group of the page's stream id; lifetime 2
  // weeks; optional fields empty.
  const DialogForm& f = dialog.defaults;
  EXPECT_EQ(f.target, "stream_group");
  EXPECT_EQ(f.stream_group_id, "abc-123");
  EXPECT_EQ(f.stream_names, "");
  EXPECT_EQ(f.lifetime, "2w");
  EXPECT_EQ(f.expires, "");
  EXPECT_EQ(f.not_before, "");
  EXPECT_EQ(f.client_ip, "");
  EXPECT_EQ(f.domain, "");
  EXPECT_EQ(f.user_id, "");
  EXPECT_EQ(f.tag, "");
  ASSERT_EQ(dialog.target_options.size(), 3u);
  EXPECT_EQ(dialog.target_options[0].choice, TargetChoice::kStreamGroup);
  EXPECT_EQ(dialog.target_options[0].value, "stream_group");
  EXPECT_EQ(dialog.target_options[0].label, "Entire stream group (abc-123)");
  EXPECT_EQ(dialog.target_options[1].choice, TargetChoice::kStreamNames);
  EXPECT_EQ(dialog.target_options[1].value, "streams");
  EXPECT_EQ(dialog.target_options[1].label, "Stream names");
  EXPECT_EQ(dialog.target_options[2].choice, TargetChoice::kOrganization);
  EXPECT_EQ(dialog.target_options[2].value, "organization");
  EXPECT_EQ(dialog.target_options[2].label, "Entire organisation");

  // The defaults are valid as they stand and ask for exactly that.
  const FormCheck check = ValidateForm(f, kNow);
  ASSERT_TRUE(check.ok()) << FormatProblems(check.problems);
  EXPECT_EQ(check.spec.target().stream_group_id(), "abc-123");
  EXPECT_EQ(check.spec.lifetime().seconds(), 14 * 24 * 3600);
  EXPECT_FALSE(check.spec.has_expires_at());
  EXPECT_FALSE(check.spec.has_not_before());
  EXPECT_EQ(check.spec.client_ip(), "");
  EXPECT_EQ(check.spec.domain(), "");
  EXPECT_EQ(check.spec.user_id(), "");
  EXPECT_EQ(check.spec.tag(), "");

  // Every target choice offered is accepted by the validation.
  for (const TargetOption& option : dialog.target_options) {
    DialogForm g = f;
    g.target = option.value;
    g.stream_names = "main";
    EXPECT_TRUE(ValidateForm(g, kNow).ok()) << option.value;
  }
}

INSTANTIATE_TEST_SUITE_P(AllPages, PagePathTest, ::testing::ValuesIn(kPages));

TEST(PagePathErrorTest, RefusesOtherPathsNamingWhatWasExpected) {
  const char* bad[] = {
      "",
      "   ",
      "/",
      "https://dashboard.nanocosmos.de/",
      "settings/abc",
      "abc",
      "playout",
      "playout/",
      "webcaster//",
      "stream",
      "stream/new",
      "stream/new/",
      "stream/abc/settings",
      "stream/abc/code-snippets/more",
      "playout/abc/extra",
      "playout//abc",
      "playout/a%zz",
      "playout/a%20b",
      "stream/new/abc/code-snippets",
  };
  for (const char* path : bad) {
    EXPECT_THAT(ParsePagePath(path),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("expected one of playout/<stream-id>, "
                                   "stream/<stream-id>, "
                                   "stream/<stream-id>/code-snippets, "
                                   "stream/new/<stream-id>, "
                                   "webcaster/<stream-id>")))
        << path;
  }
  EXPECT_THAT(ParsePagePath("playout/"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the stream ID is missing after playout/")));
  EXPECT_THAT(ParsePagePath("stream/new"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing after stream/new/")));
  EXPECT_THAT(ParsePagePath("settings/abc"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"settings\" is not a page with a token "
                                 "dialog")));
  EXPECT_THAT(ParsePagePath("playout/a%20b"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the stream ID is not valid")));
}

TEST(PagePathTest, DecodesPercentEncodedStreamIds) {
  ASSERT_OK_AND_ASSIGN(PageLocation loc, ParsePagePath("playout/a%2Db%2e1"));
  EXPECT_EQ(loc.stream_id, "a-b.1");
}

// Validation ----------------------------------------------------------------

DialogForm DefaultForm() {
  return DialogForPage({DialogPage::kPlayout, "grp-1"}).defaults;
}

std::vector<std::string> Messages(const FormCheck& check) {
  std::vector<std::string> out;
  for (const FormProblem& p : check.problems) {
    out.push_back(p.field + " | " + p.message);
  }
  return out;
}

// Checks that `form` has exactly one problem, in `field`, with `message`.
void ExpectOneProblem(const DialogForm& form, const std::string& field,
                      const std::string& message) {
  const FormCheck check = ValidateForm(form, kNow);
  EXPECT_THAT(Messages(check), ElementsAre(field + " | " + message));
}

TEST(ValidateFormTest, TargetChoice) {
  DialogForm f = DefaultForm();
  f.target = "";
  ExpectOneProblem(f, "target",
                   "Choose what the token is for: the entire stream group, "
                   "stream names or the entire organisation.");
  f.target = "everything";
  ExpectOneProblem(f, "target",
                   "Target \"everything\" is not a choice: use the entire "
                   "stream group, stream names or the entire organisation.");
  for (const char* alias :
       {"Stream group", "group", "stream-group", "streams", "stream names",
        "organisation", "ORG", "org-wide", "organization"}) {
    f.target = alias;
    f.stream_names = "a";
    EXPECT_TRUE(ValidateForm(f, kNow).ok()) << alias;
  }
}

TEST(ValidateFormTest, StreamGroupId) {
  DialogForm f = DefaultForm();
  f.stream_group_id = "  ";
  ExpectOneProblem(f, "stream_group_id", "Enter the stream group ID.");
  f.stream_group_id = std::string(129, 'g');
  ExpectOneProblem(f, "stream_group_id",
                   "Stream group ID must be at most 128 characters (got 129).");
  f.stream_group_id = "my group";
  ExpectOneProblem(f, "stream_group_id",
                   "Stream group ID: character 3 is not allowed (printable "
                   "ASCII without spaces only).");
}

TEST(ValidateFormTest, StreamNames) {
  DialogForm f = DefaultForm();
  f.target = "streams";
  f.stream_names = " , ";
  ExpectOneProblem(f, "stream_names", "Enter at least one stream name.");
  f.stream_names = "main, back up,x";
  ExpectOneProblem(f, "stream_names",
                   "Stream name 2 (\"back up\"): character 5 is not allowed "
                   "(stream names use only A-Z, a-z, 0-9, '.', '_' and '-').");
  std::vector<std::string> many;
  for (int i = 0; i < 101; ++i) many.push_back(absl::StrCat("s", i));
  f.stream_names = absl::StrJoin(many, ",");
  ExpectOneProblem(f, "stream_names",
                   "Give at most 100 stream names (got 101).");
  f.stream_names = "ok," + std::string(129, 'n');
  ExpectOneProblem(f, "stream_names",
                   "Stream name 2 (\"" + std::string(129, 'n') +
                       "\"): a stream name has at most 128 characters (got "
                       "129).");
  f.stream_names = "main, backup ,main.hd,";
  const FormCheck ok = ValidateForm(f, kNow);
  ASSERT_TRUE(ok.ok()) << FormatProblems(ok.problems);
  EXPECT_THAT(ok.spec.target().stream_names().names(),
              ElementsAre("main", "backup", "main.hd"));
}

TEST(ValidateFormTest, Lifetime) {
  DialogForm f = DefaultForm();
  f.lifetime = "2 weeks";
  ExpectOneProblem(f, "lifetime",
                   "Lifetime \"2 weeks\" is not a duration: write a number "
                   "and a unit, such as 90m, 36h, 14d or 2w.");
  f.lifetime = "0s";
  ExpectOneProblem(f, "lifetime", "Lifetime must be at least 1s (got 0s).");
  f.lifetime = "400d";
  ExpectOneProblem(f, "lifetime", "Lifetime must be at most 365d (got 400d).");
  f.lifetime = "36h";
  const FormCheck ok = ValidateForm(f, kNow);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.spec.lifetime().seconds(), 36 * 3600);
}

TEST(ValidateFormTest, Expiry) {
  DialogForm f = DefaultForm();
  f.lifetime = "";
  f.expires = "tomorrow";
  ExpectOneProblem(f, "expires",
                   "Expiry \"tomorrow\" is not a date and time: write it as "
                   "2025-03-01T12:00:00Z (RFC 3339).");
  f.expires = "2025-02-01T00:00:00Z";
  ExpectOneProblem(f, "expires",
                   "Expiry must be in the future (got 2025-02-01T00:00:00Z, "
                   "now is 2025-03-01T12:00:00Z).");
  f.expires = "2027-03-01T00:00:00Z";
  ExpectOneProblem(f, "expires",
                   "Expiry must be at most 365d from now (got "
                   "2027-03-01T00:00:00Z).");
  f.lifetime = "2w";
  f.expires = "2025-03-10T00:00:00Z";
  ExpectOneProblem(f, "expires",
                   "Give either a lifetime or an expiry, not both.");
  f.lifetime = "";
  const FormCheck ok = ValidateForm(f, kNow);
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok.spec.has_lifetime());
  EXPECT_EQ(convert::FromProtoTimestamp(ok.spec.expires_at()),
            absl::FromUnixSeconds(1741564800));
}

TEST(ValidateFormTest, NotBefore) {
  DialogForm f = DefaultForm();
  f.not_before = "soon";
  ExpectOneProblem(f, "not_before",
                   "Not before \"soon\" is not a date and time: write it as "
                   "2025-03-01T12:00:00Z (RFC 3339).");
  // After now + 2 weeks: fine, the lifetime counts from the not-before time.
  f.not_before = "2025-03-20T00:00:00Z";
  EXPECT_TRUE(ValidateForm(f, kNow).ok());
  f.lifetime = "";
  f.expires = "2025-03-05T00:00:00Z";
  f.not_before = "2025-03-05T00:00:00+00:00";
  ExpectOneProblem(f, "not_before",
                   "Not before must be earlier than the expiry "
                   "(2025-03-05T00:00:00Z).");
  f.not_before = "1969-12-31T23:59:59Z";
  ExpectOneProblem(f, "not_before",
                   "Not before must not be before 1970-01-01T00:00:00Z.");
  f.not_before = "2025-03-02T00:00:00Z";
  const FormCheck ok = ValidateForm(f, kNow);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(convert::FromProtoTimestamp(ok.spec.not_before()),
            absl::FromUnixSeconds(1740873600));
}

TEST(ValidateFormTest, NoExpiryComparisonWhenTheExpiryIsUnreadable) {
  DialogForm f = DefaultForm();
  f.lifetime = "forever";
  f.not_before = "2030-01-01T00:00:00Z";
  const FormCheck check = ValidateForm(f, kNow);
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].field, "lifetime");
}

TEST(ValidateFormTest, IpDomainUserTag) {
  DialogForm f = DefaultForm();
  f.client_ip = "300.1.2.3";
  ExpectOneProblem(f, "client_ip",
                   "IP address must be an IPv4 or IPv6 address, or a network "
                   "such as 203.0.113.0/24 or 2001:db8::/32.");
  f = DefaultForm();
  f.domain = "exa mple.com";
  ExpectOneProblem(f, "domain",
                   "Domain must be a host name such as example.com, or "
                   "*.example.com for all of its subdomains.");
  f = DefaultForm();
  f.user_id = std::string(129, 'u');
  ExpectOneProblem(f, "user_id",
                   "User ID must be at most 128 characters (got 129).");
  f = DefaultForm();
  f.tag = "a\x01z";
  ExpectOneProblem(f, "tag",
                   "Tag: character 2 is a control character (only printable "
                   "characters are allowed).");
  f = DefaultForm();
  f.user_id = "caf\xc3";
  ExpectOneProblem(f, "user_id", "User ID must be valid UTF-8.");
  f = DefaultForm();
  f.client_ip = " 2001:db8::/32 ";
  f.domain = "*.example.com";
  f.user_id = "viewer-42";
  f.tag = "campaign spring";
  const FormCheck ok = ValidateForm(f, kNow);
  ASSERT_TRUE(ok.ok()) << FormatProblems(ok.problems);
  EXPECT_EQ(ok.spec.client_ip(), "2001:db8::/32");
  EXPECT_EQ(ok.spec.domain(), "*.example.com");
  EXPECT_EQ(ok.spec.user_id(), "viewer-42");
  EXPECT_EQ(ok.spec.tag(), "campaign spring");
}

TEST(ValidateFormTest, ReportsEveryProblemAtOnceInFieldOrder) {
  DialogForm f;
  f.target = "streams";
  f.stream_names = "a b";
  f.lifetime = "0s";
  f.not_before = "yesterday";
  f.client_ip = "10.0.0.0/33";
  f.domain = "-bad-.com";
  f.user_id = std::string(200, 'x');
  f.tag = std::string(130, 't');
  const FormCheck check = ValidateForm(f, kNow);
  std::vector<std::string> fields;
  for (const FormProblem& p : check.problems) fields.push_back(p.field);
  EXPECT_THAT(fields, ElementsAre("stream_names", "lifetime", "not_before",
                                  "client_ip", "domain", "user_id", "tag"));
  EXPECT_FALSE(check.ok());
}

TEST(ValidateFormTest, HonoursServerLimits) {
  DialogForm f = DefaultForm();
  token::TokenLimits limits;
  limits.max_lifetime = absl::Hours(24);
  const FormCheck check = ValidateForm(f, kNow, limits);
  EXPECT_THAT(Messages(check),
              ElementsAre("lifetime | Lifetime must be at most 1d (got 14d)."));
}

TEST(PersonProblemTest, MapsServerMessagesBackToFields) {
  const absl::Status status = absl::InvalidArgumentError(
      "lifetime: must be at most 30d (got 60d); not_before: must be before "
      "the expiry (2025-03-02T00:00:00Z), got 2025-03-03T00:00:00Z; "
      "something odd");
  EXPECT_THAT(
      ProblemsFromServerError(status),
      ElementsAre(
          FormProblem{"lifetime", "Lifetime must be at most 30d (got 60d)."},
          FormProblem{"not_before",
                      "Not before must be earlier than the expiry "
                      "(2025-03-02T00:00:00Z)."},
          FormProblem{"form", "Something odd."}));
}

// With a client
// -----------------------------------------------------------------

class DialogClientTest : public ::testing::Test {
 protected:
  DialogClientTest() : clock_(kNow) {
    auto stub = std::make_unique<
        ::testing::StrictMock<tokenauthority::v1::MockTokenServiceStub>>();
    stub_ = stub.get();
    TokenAuthorityClient::Stubs stubs;
    stubs.tokens = std::move(stub);
    ClientOptions options;
    options.clock = &clock_;
    options.random = &random_;
    options.sleep = [](absl::Duration) {};
    client_ = *TokenAuthorityClient::CreateWithStubs(std::move(stubs), options);
  }
  FakeClock clock_;
  FakeRandom random_;
  ::testing::StrictMock<tokenauthority::v1::MockTokenServiceStub>* stub_;
  std::unique_ptr<TokenAuthorityClient> client_;
};

TEST_F(DialogClientTest, InvalidFormSendsNothing) {
  DialogForm f = DefaultForm();
  f.lifetime = "soon";
  f.domain = "no domain";
  ASSERT_OK_AND_ASSIGN(DialogOutcome outcome,
                       CreateTokenFromForm(*client_, f, clock_));
  EXPECT_FALSE(outcome.overview.has_value());
  ASSERT_EQ(outcome.problems.size(), 2u);
  EXPECT_EQ(outcome.problems[0].field, "lifetime");
  EXPECT_EQ(outcome.problems[1].field, "domain");
}

TEST_F(DialogClientTest, ValidFormIssuesAndReturnsTheOverview) {
  DialogForm f = DefaultForm();
  f.tag = "spring";
  EXPECT_CALL(*stub_, IssueToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*,
                          const tokenauthority::v1::IssueTokenRequest& req,
                          tokenauthority::v1::IssueTokenResponse* resp) {
        EXPECT_EQ(req.spec().target().stream_group_id(), "grp-1");
        EXPECT_EQ(req.spec().lifetime().seconds(), 14 * 24 * 3600);
        EXPECT_EQ(req.spec().tag(), "spring");
        EXPECT_FALSE(req.request_id().empty());
        *resp = SampleIssued(kNow);
        return grpc::Status::OK;
      }));
  ASSERT_OK_AND_ASSIGN(DialogOutcome outcome,
                       CreateTokenFromForm(*client_, f, clock_));
  EXPECT_TRUE(outcome.problems.empty());
  ASSERT_TRUE(outcome.overview.has_value());
  EXPECT_EQ(outcome.overview->expires_relative, "in 14 days");
  EXPECT_EQ(outcome.overview->security_config.group_js,
            "security: { jwtoken: \"eyJh.eyJi.c2ln\" }");
}

TEST_F(DialogClientTest, ServerValidationBecomesProblems) {
  EXPECT_CALL(*stub_, IssueToken(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "lifetime: must be at most 7d (got 14d)")));
  ASSERT_OK_AND_ASSIGN(DialogOutcome outcome,
                       CreateTokenFromForm(*client_, DefaultForm(), clock_));
  EXPECT_THAT(outcome.problems,
              ElementsAre(FormProblem{
                  "lifetime", "Lifetime must be at most 7d (got 14d)."}));
}

TEST_F(DialogClientTest, OtherServerFailuresAreStatuses) {
  EXPECT_CALL(*stub_, IssueToken(_, _, _))
      .WillOnce(Return(grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          "secure playback is not enabled for organisation o1: upgrade "
          "needed")));
  EXPECT_THAT(CreateTokenFromForm(*client_, DefaultForm(), clock_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("upgrade needed")));
}

TEST_F(DialogClientTest, OverviewForPastedJwt) {
  EXPECT_CALL(*stub_, DecodeToken(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*,
                          const tokenauthority::v1::DecodeTokenRequest& req,
                          tokenauthority::v1::DecodeTokenResponse* resp) {
        EXPECT_EQ(req.jwt(), "aa.bb.cc");
        *resp->mutable_token() = SampleIssued(kNow).token();
        resp->set_signature_valid(true);
        resp->set_state(tokenauthority::v1::TOKEN_STATE_ACTIVE);
        return grpc::Status::OK;
      }));
  ASSERT_OK_AND_ASSIGN(TokenOverview o,
                       OverviewForJwt(*client_, "  Bearer aa.bb.cc\n", clock_));
  EXPECT_EQ(o.token_id, "Zm9vYmFyYmF6cXV4cXV1eA");
  EXPECT_EQ(o.jwt, "aa.bb.cc");
  EXPECT_TRUE(*o.signature_valid);
  EXPECT_EQ(o.security_config.entry_js,
            "h5live: { security: { jwtoken: \"aa.bb.cc\" } }");
  EXPECT_THAT(OverviewForJwt(*client_, "  ", clock_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace token_authority::client

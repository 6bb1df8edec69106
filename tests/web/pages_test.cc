#include "client/web/pages.h"

#include <string>

#include "client/dialog_web.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::client::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HtmlEscapeTest, EscapesMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
  EXPECT_EQ(HtmlEscape("plain-id_1"), "plain-id_1");
}

TEST(PageHtmlTest, EmbedsTheComponentWithThePagePath) {
  ASSERT_OK_AND_ASSIGN(InlineDialog d, DialogForWebPath("/webcaster/abc"));
  const std::string html = PageHtml(d);
  EXPECT_THAT(html, HasSubstr("<secure-token-dialog page=\"/webcaster/abc\">"));
  EXPECT_THAT(html, HasSubstr("<h1>Webcaster</h1>"));
  EXPECT_THAT(html, HasSubstr("src=\"/static/secure-token-dialog.js\""));
  EXPECT_THAT(html, HasSubstr("href=\"/stream/abc/code-snippets\""));
  EXPECT_THAT(html, Not(HasSubstr("style=")));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
}

TEST(PageHtmlTest, EscapesTheStreamId) {
  ASSERT_OK_AND_ASSIGN(InlineDialog d, DialogForWebPath("/stream/%22%3E%3Cb"));
  const std::string html = PageHtml(d);
  EXPECT_THAT(html, Not(HasSubstr("\"><b")));
  EXPECT_THAT(html, HasSubstr("<code>&quot;&gt;&lt;b</code>"));
}

TEST(PageHtmlTest, TheSecureTokenPageHasNoStream) {
  const std::string html = PageHtml(SecureTokenDialog());
  EXPECT_THAT(html, HasSubstr("<secure-token-dialog page=\"/secure/token\">"));
  EXPECT_THAT(html, Not(HasSubstr("class=\"stream\"")));
  EXPECT_THAT(NotFoundHtml("<x>"), HasSubstr("&lt;x&gt;"));
  EXPECT_THAT(IndexHtml("s1"), HasSubstr("href=\"/playout/s1\""));
}

TEST(AssetsTest, TheComponentIsCompiledIn) {
  EXPECT_THAT(std::string(kDialogJs),
              HasSubstr("customElements.define('secure-token-dialog'"));
  EXPECT_THAT(std::string(kDialogJs), Not(HasSubstr("innerHTML")));
  EXPECT_THAT(std::string(kDialogJs), Not(HasSubstr("eval(")));
  EXPECT_THAT(std::string(kDialogCss), HasSubstr("secure-token-dialog"));
  EXPECT_THAT(std::string(kFaviconSvg), HasSubstr("<svg"));
}

}  // namespace
}  // namespace token_authority::client::web

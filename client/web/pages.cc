#include "client/web/pages.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "client/dialog_web.h"

namespace token_authority::client::web {
namespace {

// The document around `body`.
std::string Document(absl::string_view title, absl::string_view body) {
  return absl::StrCat(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>",
      HtmlEscape(title), "</title>\n<link rel=\"icon\" href=\"", kFaviconPath,
      "\" type=\"image/svg+xml\">\n<link rel=\"stylesheet\" href=\"",
      kDialogCssPath, "\">\n<script type=\"module\" src=\"", kDialogJsPath,
      "\"></script>\n</head>\n<body>\n", body, "</body>\n</html>\n");
}

// The dashboard's navigation for a stream: the pages with a dialog.
std::string Navigation(absl::string_view stream_id) {
  std::string nav =
      "<nav aria-label=\"Dashboard\"><ul>\n"
      "<li><a href=\"/secure/token\">Secure Token</a></li>\n";
  if (stream_id.empty()) return absl::StrCat(nav, "</ul></nav>\n");
  for (DialogPage page : {DialogPage::kPlayout, DialogPage::kStream,
                          DialogPage::kStreamCodeSnippets,
                          DialogPage::kStreamNew, DialogPage::kWebcaster}) {
    const PageLocation location{page, std::string(stream_id)};
    absl::StrAppend(&nav, "<li><a href=\"/", HtmlEscape(PagePath(location)),
                    "\">", HtmlEscape(PageTitle(page)), "</a></li>\n");
  }
  return absl::StrCat(nav, "</ul></nav>\n");
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string PageHtml(const InlineDialog& dialog) {
  const std::string& id = dialog.location.stream_id;
  std::string body = absl::StrCat(
      "<header><p class=\"brand\">nanoStream Cloud dashboard</p>\n",
      Navigation(id), "</header>\n<main>\n<h1>", HtmlEscape(dialog.page_title),
      "</h1>\n");
  if (!id.empty()) {
    absl::StrAppend(&body, "<p class=\"stream\">Stream <code>", HtmlEscape(id),
                    "</code></p>\n");
  }
  absl::StrAppend(&body, "<secure-token-dialog page=\"/",
                  HtmlEscape(dialog.path),
                  "\"></secure-token-dialog>\n</main>\n");
  return Document(absl::StrCat(dialog.page_title, " - Secure Token"), body);
}

std::string IndexHtml(absl::string_view stream_id) {
  return Document("Secure Token dialogs",
                  absl::StrCat("<header><p class=\"brand\">nanoStream Cloud "
                               "dashboard</p>\n",
                               Navigation(stream_id),
                               "</header>\n<main><h1>Secure Token "
                               "dialogs</h1></main>\n"));
}

std::string NotFoundHtml(absl::string_view message) {
  return Document("Not found", absl::StrCat("<main><h1>Not found</h1>\n<p>",
                                            HtmlEscape(message), "</p>\n",
                                            Navigation(""), "</main>\n"));
}

}  // namespace token_authority::client::web

// The HTML pages of the dialog gateway and the files they load. Each page
// of the dashboard that carries the dialog (/playout/ID, /stream/ID,
// /stream/ID/code-snippets, /stream/new/ID, /webcaster/ID) and the
// standalone /secure/token page is a small static document that embeds
//   <secure-token-dialog page="/stream/ID"></secure-token-dialog>
// and loads the component as an ES module; everything the dialog shows comes
// from the JSON API. No inline script or style (the CSP forbids them).
#ifndef CLIENT_WEB_PAGES_H_
#define CLIENT_WEB_PAGES_H_

#include <string>

#include "absl/strings/string_view.h"
#include "client/dialog.h"

namespace token_authority::client::web {

// The web component (static/secure-token-dialog.js), its style sheet and
// the icon, compiled in (web_assets.cc, generated).
extern const char kDialogJs[];
extern const char kDialogCss[];
extern const char kFaviconSvg[];

inline constexpr absl::string_view kDialogJsPath =
    "/static/secure-token-dialog.js";
inline constexpr absl::string_view kDialogCssPath = "/static/dialog.css";
inline constexpr absl::string_view kFaviconPath = "/static/favicon.svg";

// `text` with &, <, >, " and ' as character references.
std::string HtmlEscape(absl::string_view text);

// The HTML of `dialog`'s page.
std::string PageHtml(const InlineDialog& dialog);

// The index (/): links to the six pages of `stream_id`.
std::string IndexHtml(absl::string_view stream_id);

// A page for a path that is not one (404), naming the pages there are.
std::string NotFoundHtml(absl::string_view message);

}  // namespace token_authority::client::web

#endif  // CLIENT_WEB_PAGES_H_

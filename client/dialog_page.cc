// The page paths of the inline token dialogs (dialog.h): parsing a path as
// the dashboard or a person gives it, the canonical path, the page's title.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/dialog.h"
#include "token/validation.h"

namespace token_authority::client {
namespace {

constexpr absl::string_view kExpectedPaths =
    "expected one of playout/<stream-id>, stream/<stream-id>, "
    "stream/<stream-id>/code-snippets, stream/new/<stream-id>, "
    "webcaster/<stream-id>";

bool IsPageName(absl::string_view segment) {
  return absl::EqualsIgnoreCase(segment, "playout") ||
         absl::EqualsIgnoreCase(segment, "stream") ||
         absl::EqualsIgnoreCase(segment, "webcaster");
}

bool LooksLikeHost(absl::string_view segment) {
  return absl::StrContains(segment, '.') || absl::StrContains(segment, ':') ||
         absl::EqualsIgnoreCase(segment, "localhost");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          "a '%' is not followed by two hexadecimal digits");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::Status PathError(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page path \"", absl::CEscape(path), "\": ", what, "; ", kExpectedPaths));
}

// `id` as one path segment that ParsePagePath reads back as `id`: every
// byte outside [A-Za-z0-9._~+-] is percent-encoded ('/', '?', '#', '%' would
// otherwise be read as syntax), and on the stream pages an id spelled "new"
// (any casing) gets its first letter encoded so that it is not read as the
// "stream/new/<id>" page.
std::string PathSegment(absl::string_view id, bool after_stream) {
  std::string out;
  out.reserve(id.size());
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    const bool plain = absl::ascii_isalnum(c) || c == '.' || c == '_' ||
                       c == '~' || c == '+' || c == '-';
    const bool is_new =
        after_stream && i == 0 && absl::EqualsIgnoreCase(id, "new");
    if (plain && !is_new) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// The segments of a page path: without surrounding whitespace, fragment,
// query string, scheme and host, and slashes at either end. `original` is the
// path as given (for messages); the segments point into it.
absl::StatusOr<std::vector<absl::string_view>> PathSegments(
    absl::string_view original) {
  absl::string_view path = absl::StripAsciiWhitespace(original);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("page path is empty; ", kExpectedPaths));
  }
  // Fragment and query string.
  path = path.substr(0, path.find('#'));
  path = path.substr(0, path.find('?'));
  // Scheme and host.
  if (const size_t scheme = path.find("://");
      scheme != absl::string_view::npos) {
    path.remove_prefix(scheme + 3);
    const size_t slash = path.find('/');
    path = slash == absl::string_view::npos ? absl::string_view()
                                            : path.substr(slash);
  }
  while (absl::ConsumePrefix(&path, "/")) {
  }
  while (absl::ConsumeSuffix(&path, "/")) {
  }
  std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  if (segments.size() > 1 && !IsPageName(segments[0]) &&
      LooksLikeHost(segments[0])) {
    segments.erase(segments.begin());  // "dash.example.com/playout/x"
  }
  if (segments.empty() || segments[0].empty()) {
    return PathError(original, "no page in it");
  }
  for (absl::string_view s : segments) {
    if (s.empty()) return PathError(original, "it has an empty segment (//)");
  }
  return segments;
}

// Finds the page in `segments` (of the path `original`, for messages): sets
// location->page and `id` to the stream id segment as written.
absl::Status FindPage(const std::vector<absl::string_view>& segments,
                      absl::string_view original, PageLocation* location,
                      absl::string_view* id) {
  const std::string page = absl::AsciiStrToLower(segments[0]);
  const size_t n = segments.size();
  if (page == "playout" || page == "webcaster") {
    location->page =
        page == "playout" ? DialogPage::kPlayout : DialogPage::kWebcaster;
    if (n == 1) {
      return PathError(
          original, absl::StrCat("the stream ID is missing after ", page, "/"));
    }
    if (n != 2) {
      return PathError(original, absl::StrCat("unexpected segments after ",
                                              page, "/<stream-id>"));
    }
    *id = segments[1];
  } else if (page == "stream") {
    const bool is_new = n >= 2 && absl::EqualsIgnoreCase(segments[1], "new");
    if (n == 1 || (n == 2 && is_new)) {
      return PathError(original,
                       absl::StrCat("the stream ID is missing after ",
                                    is_new ? "stream/new/" : "stream/"));
    }
    if (n == 2) {
      location->page = DialogPage::kStream;
      *id = segments[1];
    } else if (n == 3 && is_new) {
      location->page = DialogPage::kStreamNew;
      *id = segments[2];
    } else if (n == 3 && absl::EqualsIgnoreCase(segments[2], "code-snippets")) {
      location->page = DialogPage::kStreamCodeSnippets;
      *id = segments[1];
    } else {
      return PathError(original, "this is not a page with a token dialog");
    }
  } else {
    return PathError(original, absl::StrCat("\"", absl::CEscape(segments[0]),
                                            "\" is not a page with a token "
                                            "dialog"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PageLocation> ParsePagePath(absl::string_view path) {
  absl::StatusOr<std::vector<absl::string_view>> segments = PathSegments(path);
  if (!segments.ok()) return segments.status();
  PageLocation location;
  absl::string_view id;
  if (absl::Status st = FindPage(*segments, path, &location, &id); !st.ok()) {
    return st;
  }
  absl::StatusOr<std::string> decoded = PercentDecode(id);
  if (!decoded.ok()) {
    return PathError(path, absl::StrCat("the stream ID is not valid: ",
                                        decoded.status().message()));
  }
  if (absl::Status st = token::ValidateStreamGroupId(*decoded); !st.ok()) {
    return PathError(
        path, absl::StrCat("the stream ID is not valid: ", st.message()));
  }
  location.stream_id = *std::move(decoded);
  return location;
}

std::string PagePath(const PageLocation& location) {
  const std::string& id = location.stream_id;
  switch (location.page) {
    case DialogPage::kPlayout:
      return absl::StrCat("playout/", PathSegment(id, false));
    case DialogPage::kStream:
      return absl::StrCat("stream/", PathSegment(id, true));
    case DialogPage::kStreamCodeSnippets:
      return absl::StrCat("stream/", PathSegment(id, true), "/code-snippets");
    case DialogPage::kStreamNew:
      return absl::StrCat("stream/new/", PathSegment(id, false));
    case DialogPage::kWebcaster:
      return absl::StrCat("webcaster/", PathSegment(id, false));
  }
  return id;
}

absl::string_view PageTitle(DialogPage page) {
  switch (page) {
    case DialogPage::kPlayout:
      return "Playout";
    case DialogPage::kStream:
      return "Stream";
    case DialogPage::kStreamCodeSnippets:
      return "Code snippets";
    case DialogPage::kStreamNew:
      return "New stream";
    case DialogPage::kWebcaster:
      return "Webcaster";
  }
  return "Page";
}

}  // namespace token_authority::client

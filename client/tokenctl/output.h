// Output helpers of tokenctl: aligned tables for people, JSON for scripts.
#ifndef CLIENT_TOKENCTL_OUTPUT_H_
#define CLIENT_TOKENCTL_OUTPUT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace token_authority::client::tokenctl {

// A table with a header row; columns are padded to the widest cell (by
// DisplayWidth) and separated by two spaces; the last column is not padded.
// Cells are shown as given, except as Cell() says (a table never breaks a
// terminal line).
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Two aligned columns "Field  Value", one line per pair, no header.
std::string RenderFields(
    const std::vector<std::pair<std::string, std::string>>& fields);

// The columns a terminal gives `text` (valid UTF-8): one per code point,
// two for East Asian wide and fullwidth characters (CJK, Hangul, fullwidth
// forms, most emoji), none for combining marks and zero-width characters.
size_t DisplayWidth(absl::string_view text);

// A message as JSON for scripts: proto field names, default values included,
// enum values in the words the tables print ("active", "not-yet-valid",
// "ES256", "issuer"; client/proto_text.h) and times as RFC 3339 UTC to the
// second. Never fails: a conversion error yields {"error": "..."}.
nlohmann::json ProtoToJson(const google::protobuf::Message& message);

// The text of a JSON document for stdout: indented by 2, invalid UTF-8
// replaced, ending in a newline.
std::string DumpJson(const nlohmann::json& doc);

// RFC 3339 UTC to the second for a set timestamp, "-" for an unset one.
std::string TimeText(const google::protobuf::Timestamp& ts, bool is_set);

// Makes any text safe for one table cell: "-" for empty; C-escaped (ASCII
// only) when it holds a control character or is not valid UTF-8.
std::string Cell(const std::string& text);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_OUTPUT_H_

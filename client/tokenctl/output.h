// Output helpers of tokenctl: aligned tables for people, JSON for scripts.
#ifndef CLIENT_TOKENCTL_OUTPUT_H_
#define CLIENT_TOKENCTL_OUTPUT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace token_authority::client::tokenctl {

// A table with a header row; columns are padded to the widest cell and
// separated by two spaces; the last column is not padded. Cells are shown as
// given, except that control characters are escaped (a table never breaks a
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

// A message as JSON (proto field names, enums by name, default values
// included). Never fails: a conversion error yields {"error": "..."}.
nlohmann::json ProtoToJson(const google::protobuf::Message& message);

// The text of a JSON document for stdout: indented by 2, invalid UTF-8
// replaced, ending in a newline.
std::string DumpJson(const nlohmann::json& doc);

// RFC 3339 for a set timestamp, "-" for an unset one.
std::string TimeText(const google::protobuf::Timestamp& ts, bool is_set);

// Makes any text safe for one table cell.
std::string Cell(const std::string& text);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_OUTPUT_H_

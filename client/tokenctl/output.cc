#include "client/tokenctl/output.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "convert/proto_convert.h"
#include "google/protobuf/util/json_util.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {

std::string Cell(const std::string& text) {
  if (text.empty()) return "-";
  bool plain = true;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) plain = false;
  }
  return plain ? text : absl::CHexEscape(text);
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(header_.size());
  for (std::string& c : cells) c = Cell(c);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string l;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 < row.size()) {
        absl::StrAppend(&l, row[i], std::string(width[i] - row[i].size(), ' '),
                        "  ");
      } else {
        absl::StrAppend(&l, row[i]);
      }
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    absl::StrAppend(&out, l, "\n");
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string RenderFields(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& f : fields) width = std::max(width, f.first.size());
  std::string out;
  for (const auto& f : fields) {
    absl::StrAppend(&out, f.first, std::string(width - f.first.size(), ' '),
                    "  ", Cell(f.second), "\n");
  }
  return out;
}

nlohmann::json ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options)
           .ok()) {
    return {{"error", "could not convert the answer to JSON"}};
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    return {{"error", "could not convert the answer to JSON"}};
  }
  return doc;
}

std::string DumpJson(const nlohmann::json& doc) {
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

std::string TimeText(const google::protobuf::Timestamp& ts, bool is_set) {
  if (!is_set) return "-";
  return token::FormatRfc3339(convert::FromProtoTimestamp(ts));
}

}  // namespace token_authority::client::tokenctl

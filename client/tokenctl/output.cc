#include "client/tokenctl/output.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/proto_text.h"
#include "convert/proto_convert.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "token/time_util.h"

namespace token_authority::client::tokenctl {
namespace {

constexpr int32_t kInvalid = -1;

// The code point at `text[*i]`, advancing `*i`; kInvalid (advancing by one
// byte) for a byte that does not start a well-formed UTF-8 sequence
// (overlong forms, surrogates and values past U+10FFFF included).
int32_t NextCodePoint(absl::string_view text, size_t* i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(*i);
  int len = 0;
  int32_t cp = 0;
  int32_t min = 0;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++*i;
    return kInvalid;
  }
  if (*i + len > text.size()) {
    ++*i;
    return kInvalid;
  }
  for (int k = 1; k < len; ++k) {
    const uint8_t b = byte(*i + k);
    if ((b & 0xC0) != 0x80) {
      ++*i;
      return kInvalid;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++*i;
    return kInvalid;
  }
  *i += len;
  return cp;
}

struct Range {
  int32_t first, last;
};

bool InRanges(int32_t cp, const Range* ranges, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    if (cp >= ranges[k].first && cp <= ranges[k].last) return true;
  }
  return false;
}

// East Asian Wide and Fullwidth blocks (Unicode's EastAsianWidth W and F,
// by block) and the emoji blocks terminals draw two columns wide.
constexpr Range kWide[] = {
    {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},
    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
    {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},
    {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

// Combining marks, zero-width characters and variation selectors.
constexpr Range kZero[] = {
    {0x0300, 0x036F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
    {0x200B, 0x200F}, {0x2060, 0x2064}, {0x20D0, 0x20FF},
    {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF},
};

// Whether a cell must be escaped: control characters (C0, DEL, C1) or bytes
// that are not UTF-8.
bool NeedsEscape(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int32_t cp = NextCodePoint(text, &i);
    if (cp == kInvalid || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return true;
    }
  }
  return false;
}

// Rewrites the enum values and times of `j` (the JSON of a message of type
// `d`) in the words and the precision of the tables.
void Humanize(const google::protobuf::Descriptor& d, nlohmann::json& j) {
  if (!j.is_object()) return;
  for (int f = 0; f < d.field_count(); ++f) {
    const google::protobuf::FieldDescriptor& field = *d.field(f);
    auto it = j.find(field.name());
    if (it == j.end() || field.is_map()) continue;
    auto rewrite = [&field](nlohmann::json& v) {
      if (field.type() == google::protobuf::FieldDescriptor::TYPE_ENUM &&
          v.is_string()) {
        const google::protobuf::EnumValueDescriptor* value =
            field.enum_type()->FindValueByName(v.get<std::string>());
        if (value != nullptr) v = EnumValueText(*value);
      } else if (field.type() ==
                 google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
        if (field.message_type() == google::protobuf::Timestamp::descriptor() &&
            v.is_string()) {
          absl::StatusOr<absl::Time> t =
              token::ParseRfc3339(v.get<std::string>());
          if (t.ok()) v = UtcSecondsText(*t);
        } else {
          Humanize(*field.message_type(), v);
        }
      }
    };
    if (field.is_repeated() && it->is_array()) {
      for (nlohmann::json& v : *it) rewrite(v);
    } else {
      rewrite(*it);
    }
  }
}

}  // namespace

size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    const int32_t cp = NextCodePoint(text, &i);
    // An invalid byte is shown as one replacement character.
    if (cp != kInvalid && InRanges(cp, kZero, std::size(kZero))) continue;
    const bool wide = cp != kInvalid && InRanges(cp, kWide, std::size(kWide));
    width += wide ? 2 : 1;
  }
  return width;
}

std::string Cell(const std::string& text) {
  if (text.empty()) return "-";
  return NeedsEscape(text) ? absl::CHexEscape(text) : text;
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
      width[i] = std::max(width[i], DisplayWidth(row[i]));
    }
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string l;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 < row.size()) {
        absl::StrAppend(&l, row[i],
                        std::string(width[i] - DisplayWidth(row[i]), ' '),
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
  for (const auto& f : fields) width = std::max(width, DisplayWidth(f.first));
  std::string out;
  for (const auto& f : fields) {
    absl::StrAppend(&out, f.first,
                    std::string(width - DisplayWidth(f.first), ' '), "  ",
                    Cell(f.second), "\n");
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
  Humanize(*message.GetDescriptor(), doc);
  return doc;
}

std::string DumpJson(const nlohmann::json& doc) {
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

std::string TimeText(const google::protobuf::Timestamp& ts, bool is_set) {
  if (!is_set) return "-";
  return UtcSecondsText(convert::FromProtoTimestamp(ts));
}

}  // namespace token_authority::client::tokenctl

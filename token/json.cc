#include "token/json.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace token_authority::token::json {
namespace {

// Length of the valid UTF-8 sequence starting at p[0] (a byte >= 0x80), or 0.
size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = p[0];
  size_t avail = static_cast<size_t>(end - p);
  auto cont = [&](size_t i) { return i < avail && (p[i] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0)
    return (avail > 1 && p[1] >= 0xA0 && p[1] <= 0xBF && cont(2)) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
    return (cont(1) && cont(2)) ? 3 : 0;
  if (c == 0xED)  // excludes surrogates U+D800..U+DFFF
    return (avail > 1 && p[1] >= 0x80 && p[1] <= 0x9F && cont(2)) ? 3 : 0;
  if (c == 0xF0)
    return (avail > 1 && p[1] >= 0x90 && p[1] <= 0xBF && cont(2) && cont(3))
               ? 4
               : 0;
  if (c >= 0xF1 && c <= 0xF3) return (cont(1) && cont(2) && cont(3)) ? 4 : 0;
  if (c == 0xF4)
    return (avail > 1 && p[1] >= 0x80 && p[1] <= 0x8F && cont(2) && cont(3))
               ? 4
               : 0;
  return 0;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

class Parser {
 public:
  Parser(absl::string_view input, const ParseOptions& options, Document* doc)
      : p_(input.data()),
        begin_(input.data()),
        end_(input.data() + input.size()),
        options_(options),
        doc_(doc) {}

  absl::Status Run() {
    doc_->nodes_.reserve(16);
    SkipSpace();
    if (!ParseValue(1)) return Error();
    SkipSpace();
    if (p_ != end_) {
      SetError("unexpected data after the JSON value");
      return Error();
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", error_pos_, ": ", error_));
  }
  bool SetError(const char* what) {
    if (error_ == nullptr) {
      error_ = what;
      error_pos_ = static_cast<size_t>(p_ - begin_);
    }
    return false;
  }

  void SkipSpace() {
    while (p_ != end_ &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
      ++p_;
    }
  }

  absl::string_view Span(const char* start) const {
    return absl::string_view(start, static_cast<size_t>(p_ - start));
  }

  uint32_t NewNode(Type t) {
    doc_->nodes_.push_back(Node{});
    doc_->nodes_.back().type = t;
    return static_cast<uint32_t>(doc_->nodes_.size() - 1);
  }

  bool Literal(const char* word, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return SetError("invalid literal");
    }
    p_ += n;
    return true;
  }

  bool ParseValue(int depth) {
    if (p_ == end_) return SetError("unexpected end of input");
    switch (*p_) {
      case '{':
        return ParseObject(depth);
      case '[':
        return ParseArray(depth);
      case '"': {
        uint32_t idx = NewNode(Type::kString);
        absl::string_view s;
        if (!ParseString(&s)) return false;
        doc_->nodes_[idx].text = s;
        return true;
      }
      case 't':
        NewNode(Type::kTrue);
        return Literal("true", 4);
      case 'f':
        NewNode(Type::kFalse);
        return Literal("false", 5);
      case 'n':
        NewNode(Type::kNull);
        return Literal("null", 4);
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return ParseNumber();
        return SetError("unexpected character");
    }
  }

  bool ParseNumber() {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return SetError("invalid number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return SetError("invalid number");
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9')
        return SetError("invalid number");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9')
        return SetError("invalid number");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    uint32_t idx = NewNode(Type::kNumber);
    doc_->nodes_[idx].text =
        absl::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  // At '"'. Sets *out to the decoded string.
  bool ParseString(absl::string_view* out) {
    ++p_;
    const char* start = p_;
    // Fast scan: plain ASCII without escapes.
    while (p_ != end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = absl::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c == '\\') break;
      if (c < 0x20) return SetError("unescaped control character in string");
      if (c >= 0x80) {
        size_t n =
            Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_),
                               reinterpret_cast<const unsigned char*>(end_));
        if (n == 0) return SetError("invalid UTF-8 in string");
        p_ += n;
        continue;
      }
      ++p_;
    }
    if (p_ == end_) return SetError("unterminated string");
    // Slow path: escapes present; decode into an owned string.
    auto decoded = std::make_unique<std::string>(start, p_);
    std::string& s = *decoded;
    while (p_ != end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        *out = s;
        doc_->decoded_.push_back(std::move(decoded));
        return true;
      }
      if (c < 0x20) return SetError("unescaped control character in string");
      if (c >= 0x80) {
        size_t n =
            Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_),
                               reinterpret_cast<const unsigned char*>(end_));
        if (n == 0) return SetError("invalid UTF-8 in string");
        s.append(p_, n);
        p_ += n;
        continue;
      }
      if (c != '\\') {
        s.push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      ++p_;
      if (p_ == end_) return SetError("unterminated string");
      switch (*p_) {
        case '"':
          s.push_back('"');
          break;
        case '\\':
          s.push_back('\\');
          break;
        case '/':
          s.push_back('/');
          break;
        case 'b':
          s.push_back('\b');
          break;
        case 'f':
          s.push_back('\f');
          break;
        case 'n':
          s.push_back('\n');
          break;
        case 'r':
          s.push_back('\r');
          break;
        case 't':
          s.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 7 || p_[1] != '\\' || p_[2] != 'u') {
              return SetError("unpaired surrogate escape");
            }
            p_ += 2;
            uint32_t lo;
            if (!Hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) {
              return SetError("unpaired surrogate escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return SetError("unpaired surrogate escape");
          }
          AppendUtf8(cp, &s);
          break;
        }
        default:
          return SetError("invalid escape in string");
      }
      ++p_;
    }
    return SetError("unterminated string");
  }

  // At 'u' of "\uXXXX"; leaves p_ at the last hex digit.
  bool Hex4(uint32_t* cp) {
    if (end_ - p_ < 5) return SetError("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 1; i <= 4; ++i) {
      int h = HexValue(p_[i]);
      if (h < 0) return SetError("invalid \\u escape");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return true;
  }

  bool ParseArray(int depth) {
    if (depth > options_.max_depth) return SetError("nesting too deep");
    uint32_t idx = NewNode(Type::kArray);
    const char* start = p_;
    ++p_;
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      doc_->nodes_[idx].text = Span(start);
      return true;
    }
    uint32_t prev = 0, count = 0;
    while (true) {
      SkipSpace();
      uint32_t child = static_cast<uint32_t>(doc_->nodes_.size());
      if (!ParseValue(depth + 1)) return false;
      if (prev == 0) {
        doc_->nodes_[idx].first_child = child;
      } else {
        doc_->nodes_[prev].next = child;
      }
      prev = child;
      ++count;
      SkipSpace();
      if (p_ == end_) return SetError("unterminated array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        break;
      }
      return SetError("expected ',' or ']'");
    }
    doc_->nodes_[idx].size = count;
    doc_->nodes_[idx].text = Span(start);
    return true;
  }

  bool ParseObject(int depth) {
    if (depth > options_.max_depth) return SetError("nesting too deep");
    uint32_t idx = NewNode(Type::kObject);
    const char* start = p_;
    ++p_;
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      doc_->nodes_[idx].text = Span(start);
      return true;
    }
    uint32_t prev = 0, count = 0;
    while (true) {
      SkipSpace();
      if (p_ == end_ || *p_ != '"') return SetError("expected a member name");
      absl::string_view key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (p_ == end_ || *p_ != ':') return SetError("expected ':'");
      ++p_;
      SkipSpace();
      uint32_t child = static_cast<uint32_t>(doc_->nodes_.size());
      if (!ParseValue(depth + 1)) return false;
      doc_->nodes_[child].key = key;
      if (prev == 0) {
        doc_->nodes_[idx].first_child = child;
      } else {
        doc_->nodes_[prev].next = child;
      }
      prev = child;
      ++count;
      SkipSpace();
      if (p_ == end_) return SetError("unterminated object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        break;
      }
      return SetError("expected ',' or '}'");
    }
    doc_->nodes_[idx].size = count;
    doc_->nodes_[idx].text = Span(start);
    if (HasDuplicateKeys(idx, count)) return SetError("duplicate member name");
    return true;
  }

  bool HasDuplicateKeys(uint32_t obj, uint32_t count) {
    const std::vector<Node>& n = doc_->nodes_;
    if (count < 2) return false;
    if (count <= 12) {
      for (uint32_t i = n[obj].first_child; i != 0; i = n[i].next) {
        const absl::string_view a = n[i].key;
        for (uint32_t j = n[i].next; j != 0; j = n[j].next) {
          const absl::string_view b = n[j].key;
          // Cheap rejections first: most keys differ in size or first byte.
          if (a.size() == b.size() &&
              (a.empty() || (a[0] == b[0] && a.back() == b.back())) && a == b) {
            return true;
          }
        }
      }
      return false;
    }
    std::vector<absl::string_view> keys;
    keys.reserve(count);
    for (uint32_t i = n[obj].first_child; i != 0; i = n[i].next) {
      keys.push_back(n[i].key);
    }
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  ParseOptions options_;
  Document* doc_;
  const char* error_ = nullptr;
  size_t error_pos_ = 0;
};

absl::string_view TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kFalse:
    case Type::kTrue:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

absl::StatusOr<Document> Document::Parse(absl::string_view input,
                                         const ParseOptions& options) {
  Document doc;
  Parser parser(input, options, &doc);
  absl::Status st = parser.Run();
  if (!st.ok()) return st;
  return doc;
}

const Node* Document::Find(const Node& obj, absl::string_view key) const {
  if (obj.type != Type::kObject) return nullptr;
  for (uint32_t i = obj.first_child; i != 0; i = nodes_[i].next) {
    if (nodes_[i].key == key) return &nodes_[i];
  }
  return nullptr;
}

bool GetInt64(const Node& n, int64_t* out) {
  if (n.type != Type::kNumber) return false;
  absl::string_view t = n.text;
  bool neg = false;
  size_t i = 0;
  if (!t.empty() && t[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i == t.size()) return false;
  uint64_t v = 0;
  const uint64_t limit = neg ? static_cast<uint64_t>(INT64_MAX) + 1
                             : static_cast<uint64_t>(INT64_MAX);
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (c < '0' || c > '9') return false;  // fraction or exponent
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  if (neg) {
    *out = v == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN
                                                     : -static_cast<int64_t>(v);
  } else {
    *out = static_cast<int64_t>(v);
  }
  return true;
}

void AppendQuoted(absl::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending unescaped run
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default: {
        char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(buf, 6);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

bool IsValidUtf8(absl::string_view s) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p != end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    size_t n = Utf8SequenceLength(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

}  // namespace token_authority::token::json

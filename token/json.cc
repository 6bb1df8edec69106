#include "token/json.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace token_authority::token::json {
namespace {

namespace od = simdjson::ondemand;

bool IsJsonSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// simdjson needs SIMDJSON_PADDING readable bytes after its input, and its
// parser keeps buffers sized for the longest input seen. Each thread keeps
// one parser and one copy buffer for inputs up to this size (JWT segments are
// far below it); longer inputs (large JWK Sets) get a one-off parser so that
// a thread does not keep big buffers forever.
constexpr size_t kReusedCapacity = size_t{64} * 1024;

struct SimdState {
  od::parser parser;
  std::string buffer;  // '[' input ']' and SIMDJSON_PADDING zero bytes
};

SimdState& ThreadState() {
  thread_local SimdState state;
  return state;
}

}  // namespace

// Walks a simdjson On-Demand document depth-first and builds the flat node
// array. simdjson is given the input wrapped in '[' ... ']' (simdjson 3.0
// mishandles some scalar documents: it accepts "false|" and refuses
// "false "), so the value is always read as an array element, and "exactly
// one value, nothing after it" is checked on the wrapper.
//
// Every value is consumed through simdjson (numbers, literals and strings
// read, arrays and objects iterated to their end): On-Demand skips values
// that are not consumed leniently. The strictness simdjson does not provide
// is added here: duplicate member names, the nesting bound, the BOM.
//
// Every view stored in a Node is mapped back into the caller's input (or
// into Document::decoded_ for strings with escapes), never into the copy or
// the parser's buffers, which the next Parse on this thread reuses.
class Parser {
 public:
  // `copy` is where the input starts in simdjson's buffer (after the '[').
  Parser(absl::string_view input, const char* copy, const ParseOptions& options,
         Document* doc)
      : input_(input), copy_(copy), options_(options), doc_(doc) {}

  absl::Status Run(od::document& sdoc) {
    sdoc_ = &sdoc;
    doc_->nodes_.reserve(16);
    od::array wrapper;
    if (auto e = sdoc.get_array().get(wrapper)) return StructureError(e);
    bool seen = false;
    for (auto element : wrapper) {
      const simdjson::error_code e = element.error();
      if (seen) {  // a second value, or anything but the end after the first
        return Error(Offset(LocationOr(copy_ + input_.size())),
                     "unexpected data after the JSON value");
      }
      if (e) return StructureError(e);
      absl::Status st = Value(element.value_unsafe(), 1);
      if (!st.ok()) return st;
      seen = true;
    }
    if (!seen) return Error(0, "no JSON value");
    const char* loc = nullptr;
    if (sdoc.current_location().get(loc) == simdjson::SUCCESS) {
      return Error(Offset(loc), "unexpected data after the JSON value");
    }
    return absl::OkStatus();
  }

 private:
  size_t Offset(const char* p) const {
    return p > copy_ ? static_cast<size_t>(p - copy_) : 0;
  }
  // simdjson's current position (the next token), or `fallback` at the end.
  const char* LocationOr(const char* fallback) const {
    const char* loc = nullptr;
    return sdoc_->current_location().get(loc) == simdjson::SUCCESS ? loc
                                                                   : fallback;
  }
  // The bytes [p, p + n) of the copy, as a view into the caller's input.
  absl::string_view InInput(const char* p, size_t n) const {
    return absl::string_view(input_.data() + (p - copy_), n);
  }
  static absl::string_view TrimRight(std::string_view token) {
    size_t n = token.size();
    while (n > 0 && IsJsonSpace(token[n - 1])) --n;
    return absl::string_view(token.data(), n);
  }

  static absl::Status Error(size_t offset, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", offset, ": ", what));
  }
  // A value that simdjson refused to read, at `at`.
  absl::Status ValueError(const char* at, absl::string_view what,
                          simdjson::error_code e) const {
    return Error(Offset(at),
                 absl::StrCat(what, " (", simdjson::error_message(e), ")"));
  }
  // A structure error (missing comma, colon, bracket...) found while
  // iterating; simdjson's position is next to it.
  absl::Status StructureError(simdjson::error_code e) const {
    return Error(Offset(LocationOr(copy_ + input_.size())),
                 simdjson::error_message(e));
  }

  uint32_t NewNode(Type t) {
    doc_->nodes_.push_back(Node{});
    doc_->nodes_.back().type = t;
    return static_cast<uint32_t>(doc_->nodes_.size() - 1);
  }

  absl::string_view KeepDecoded(std::string_view s) {
    doc_->decoded_.push_back(std::make_unique<std::string>(s));
    return *doc_->decoded_.back();
  }

  absl::Status Value(od::value& v, int depth) {
    // The value as written, plus the whitespace up to the next token.
    const std::string_view raw = v.raw_json_token();
    od::json_type type;
    if (auto e = v.type().get(type)) {
      return ValueError(raw.data(), "unexpected character", e);
    }
    switch (type) {
      case od::json_type::array: {
        if (depth > options_.max_depth) return TooDeep(raw.data());
        od::array a;
        if (auto e = v.get_array().get(a)) return StructureError(e);
        return Array(a, raw.data(), depth);
      }
      case od::json_type::object: {
        if (depth > options_.max_depth) return TooDeep(raw.data());
        od::object o;
        if (auto e = v.get_object().get(o)) return StructureError(e);
        return Object(o, raw.data(), depth);
      }
      case od::json_type::string:
        return String(v, raw);
      case od::json_type::number: {
        const uint32_t idx = NewNode(Type::kNumber);
        double unused;
        if (auto e = v.get_double().get(unused)) {
          return ValueError(raw.data(), "invalid number", e);
        }
        doc_->nodes_[idx].text = InInput(raw.data(), TrimRight(raw).size());
        return absl::OkStatus();
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) {
          return ValueError(raw.data(), "invalid literal", e);
        }
        NewNode(b ? Type::kTrue : Type::kFalse);
        return absl::OkStatus();
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) {
          return ValueError(raw.data(), "invalid literal", e);
        }
        if (!is_null) return Error(Offset(raw.data()), "invalid literal");
        NewNode(Type::kNull);
        return absl::OkStatus();
      }
    }
    return Error(Offset(raw.data()), "unexpected value");
  }

  absl::Status String(od::value& v, std::string_view raw) {
    const uint32_t idx = NewNode(Type::kString);
    // Stage 1 has already refused unclosed strings, invalid UTF-8 and
    // unescaped control characters anywhere in the input.
    const absl::string_view token = TrimRight(raw);
    if (token.size() < 2 || token.back() != '"') {
      return Error(Offset(raw.data()), "invalid string");
    }
    const absl::string_view body = token.substr(1, token.size() - 2);
    if (body.find('\\') == absl::string_view::npos) {
      // Nothing to decode, but the token must still be consumed.
      od::raw_json_string unused;
      if (auto e = v.get_raw_json_string().get(unused)) {
        return ValueError(raw.data(), "invalid string", e);
      }
      doc_->nodes_[idx].text = InInput(body.data(), body.size());
      return absl::OkStatus();
    }
    // Decodes the escapes; refuses invalid ones and unpaired surrogates.
    std::string_view s;
    if (auto e = v.get_string().get(s)) {
      return ValueError(raw.data(), "invalid string", e);
    }
    doc_->nodes_[idx].text = KeepDecoded(s);
    return absl::OkStatus();
  }

  absl::Status TooDeep(const char* at) const {
    return Error(Offset(at), absl::StrCat("nesting too deep (at most ",
                                          options_.max_depth, " levels)"));
  }

  absl::Status Array(od::array& a, const char* start, int depth) {
    const uint32_t idx = NewNode(Type::kArray);
    uint32_t prev = 0, count = 0;
    for (auto element : a) {
      // value_unsafe(): the value in place (checked for an error first);
      // copying simdjson's small structs around costs more than it seems.
      if (auto e = element.error()) return StructureError(e);
      const uint32_t child = static_cast<uint32_t>(doc_->nodes_.size());
      absl::Status st = Value(element.value_unsafe(), depth + 1);
      if (!st.ok()) return st;
      Link(idx, prev, child);
      prev = child;
      ++count;
    }
    Close(idx, count, start);
    return absl::OkStatus();
  }

  absl::Status Object(od::object& o, const char* start, int depth) {
    const uint32_t idx = NewNode(Type::kObject);
    uint32_t prev = 0, count = 0;
    for (auto member : o) {
      if (auto e = member.error()) return StructureError(e);
      od::field& f = member.value_unsafe();
      // The raw name starts after its opening quote; stage 1 guarantees a
      // closing quote. Without a backslash the name is its bytes as written.
      const char* name = f.key().raw();
      const char* p = name;
      while (*p != '"' && *p != '\\') ++p;
      absl::string_view key;
      if (*p == '"') {
        key = InInput(name, static_cast<size_t>(p - name));
      } else {
        std::string_view s;
        if (auto e = f.unescaped_key().get(s)) {
          return ValueError(name - 1, "invalid member name", e);
        }
        key = KeepDecoded(s);
      }
      const uint32_t child = static_cast<uint32_t>(doc_->nodes_.size());
      absl::Status st = Value(f.value(), depth + 1);
      if (!st.ok()) return st;
      doc_->nodes_[child].key = key;
      Link(idx, prev, child);
      prev = child;
      ++count;
    }
    Close(idx, count, start);
    const Node* dup = DuplicateKey(idx, count);
    if (dup != nullptr) {
      std::string what = "duplicate member name";
      if (dup->key.size() <= 64) {
        what.push_back(' ');
        AppendQuoted(dup->key, &what);
      }
      return Error(Offset(start), what);
    }
    return absl::OkStatus();
  }

  void Link(uint32_t parent, uint32_t prev, uint32_t child) {
    if (prev == 0) {
      doc_->nodes_[parent].first_child = child;
    } else {
      doc_->nodes_[prev].next = child;
    }
  }

  // After the last child: records the size and the text as written, from the
  // opening bracket at `start` to the closing one (simdjson is now at the
  // next token; there is always one: the wrapper's ']').
  void Close(uint32_t idx, uint32_t count, const char* start) {
    const char* end = LocationOr(copy_ + input_.size());
    while (end > start && IsJsonSpace(end[-1])) --end;
    Node& n = doc_->nodes_[idx];
    n.size = count;
    n.text = InInput(start, static_cast<size_t>(end - start));
  }

  // A member of object `obj` whose (decoded) name another member also has,
  // or nullptr.
  const Node* DuplicateKey(uint32_t obj, uint32_t count) const {
    const std::vector<Node>& n = doc_->nodes_;
    if (count < 2) return nullptr;
    if (count <= 12) {
      for (uint32_t i = n[obj].first_child; i != 0; i = n[i].next) {
        const absl::string_view a = n[i].key;
        for (uint32_t j = n[i].next; j != 0; j = n[j].next) {
          const absl::string_view b = n[j].key;
          // Cheap rejections first: most keys differ in size or first byte.
          if (a.size() == b.size() &&
              (a.empty() || (a[0] == b[0] && a.back() == b.back())) && a == b) {
            return &n[j];
          }
        }
      }
      return nullptr;
    }
    std::vector<const Node*> members;
    members.reserve(count);
    for (uint32_t i = n[obj].first_child; i != 0; i = n[i].next) {
      members.push_back(&n[i]);
    }
    std::sort(members.begin(), members.end(),
              [](const Node* a, const Node* b) { return a->key < b->key; });
    auto it = std::adjacent_find(
        members.begin(), members.end(),
        [](const Node* a, const Node* b) { return a->key == b->key; });
    return it == members.end() ? nullptr : *it;
  }

  const absl::string_view input_;
  const char* const copy_;
  const ParseOptions options_;
  Document* const doc_;
  od::document* sdoc_ = nullptr;
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
  // RFC 8259 section 8.1: no byte order mark. (Newer simdjson releases skip
  // one silently; refuse it explicitly whatever the version.)
  if (input.size() >= 3 && std::memcmp(input.data(), "\xEF\xBB\xBF", 3) == 0) {
    return absl::InvalidArgumentError(
        "invalid JSON at byte 0: byte order mark");
  }
  std::unique_ptr<SimdState> one_off;
  SimdState* state = &ThreadState();
  if (input.size() > kReusedCapacity) {
    one_off = std::make_unique<SimdState>();
    state = one_off.get();
  }
  const size_t length = input.size() + 2;  // with the wrapping brackets
  const size_t capacity = length + simdjson::SIMDJSON_PADDING;
  if (state->buffer.size() < capacity) state->buffer.resize(capacity);
  char* buf = state->buffer.data();
  buf[0] = '[';
  if (!input.empty()) std::memcpy(buf + 1, input.data(), input.size());
  buf[length - 1] = ']';
  std::memset(buf + length, 0, simdjson::SIMDJSON_PADDING);

  // Stage 1 (structural indexing over the whole input) refuses invalid
  // UTF-8, unescaped control characters in strings and unclosed strings.
  od::document sdoc;
  if (auto e = state->parser.iterate(buf, length, capacity).get(sdoc)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(e)));
  }
  Document doc;
  Parser parser(input, buf + 1, options, &doc);
  absl::Status st = parser.Run(sdoc);
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
  return simdjson::validate_utf8(s.data(), s.size());
}

}  // namespace token_authority::token::json

// A small strict JSON (RFC 8259) reader and writer helpers for the token
// core. Internal to the core (server and client use nlohmann or protobuf).
//
// Reading is done by simdjson (On-Demand API, Debian libsimdjson-dev):
// nlohmann-json was measured too slow for the HS256 goal (decode+verify
// >= 500k/s on one core), and a well-kept library replaces a hand-written
// parser. simdjson validates UTF-8, control characters, string escapes
// (unpaired surrogates included), numbers, literals and structure. What JWT
// headers and payloads need on top is added while walking every value:
// duplicate member names refused at every depth (compared after unescaping),
// nesting bounded by ParseOptions::max_depth, no byte order mark, exactly one
// value with nothing after it, and every value consumed (On-Demand skips
// unread values leniently). Unlike the hand-written reader this replaces,
// numbers that overflow a double (1e400) or have an exponent of 20 or more
// digits are refused (simdjson's limit; RFC 8259 section 9 permits one).
//
// The reader builds a flat node array in one pass over a per-thread padded
// copy of the input (no per-call allocation beyond the node array and the
// decoded strings); strings without escapes, numbers and array/object texts
// are views into the input, so the input must outlive the Document.
#ifndef TOKEN_JSON_H_
#define TOKEN_JSON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace token_authority::token::json {

enum class Type : uint8_t {
  kNull,
  kFalse,
  kTrue,
  kNumber,
  kString,
  kArray,
  kObject
};

// "null", "boolean", "number", "string", "array", "object".
absl::string_view TypeName(Type t);

struct Node {
  Type type = Type::kNull;
  uint32_t next = 0;         // next sibling (array element / member); 0: none
  uint32_t first_child = 0;  // arrays/objects: first element/member; 0: none
  uint32_t size = 0;         // arrays/objects: number of children
  absl::string_view key;     // members of objects: the decoded member name
  // strings: the decoded value; numbers: the literal; arrays and objects:
  // their JSON text as written (from '[' or '{' to the matching bracket).
  absl::string_view text;
};

struct ParseOptions {
  int max_depth = 32;  // nesting of arrays/objects; the root is depth 1
};

// A parsed document. Movable, not copyable. Thread-compatible.
class Document {
 public:
  // Parses `input` (exactly one JSON value with optional surrounding
  // whitespace). InvalidArgumentError ("invalid JSON at byte N: ...", the
  // offset left out for errors simdjson finds in its first pass over the
  // whole input): syntax error, invalid UTF-8, unescaped control character,
  // invalid escape or lone surrogate escape, number out of double range,
  // duplicate member name, nesting deeper than max_depth, byte order mark,
  // trailing data. `input` must outlive the Document. Thread-safe (each
  // thread reuses its own simdjson parser).
  static absl::StatusOr<Document> Parse(absl::string_view input,
                                        const ParseOptions& options = {});

  const Node& root() const { return nodes_[0]; }
  const Node& node(uint32_t index) const { return nodes_[index]; }
  // The member of object `obj` named `key`, or nullptr (also when `obj` is
  // not an object).
  const Node* Find(const Node& obj, absl::string_view key) const;

  Document(Document&&) = default;
  Document& operator=(Document&&) = default;

 private:
  Document() = default;
  friend class Parser;
  std::vector<Node> nodes_;
  std::vector<std::unique_ptr<std::string>> decoded_;  // unescaped strings
};

// Iterates the children of an array or object node:
//   for (uint32_t i = n.first_child; i != 0; i = doc.node(i).next) ...
// (index 0 is always the root, which is nobody's child).

// If `n` is a number written as an integer (no fraction, no exponent) that
// fits in int64, stores it and returns true.
bool GetInt64(const Node& n, int64_t* out);

// Appends `s` as a JSON string literal (quotes included), escaping '"', '\\'
// and control characters; other bytes are copied as they are.
void AppendQuoted(absl::string_view s, std::string* out);

// Whether `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(absl::string_view s);

}  // namespace token_authority::token::json

#endif  // TOKEN_JSON_H_

#include "token/json.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token::json {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOk;
using ::token_authority::testing::StatusIs;

TEST(JsonTest, ParsesAllTypes) {
  const std::string in =
      R"( {"s":"x","n":-12,"f":1.5e3,"t":true,"F":false,"z":null,)"
      R"("a":[1,"two",[3]],"o":{"k":{}}} )";
  auto doc = Document::Parse(in);
  ASSERT_OK(doc.status());
  const Node& root = doc->root();
  EXPECT_EQ(root.type, Type::kObject);
  EXPECT_EQ(root.size, 8u);
  EXPECT_EQ(doc->Find(root, "s")->text, "x");
  int64_t v = 0;
  EXPECT_TRUE(GetInt64(*doc->Find(root, "n"), &v));
  EXPECT_EQ(v, -12);
  EXPECT_FALSE(GetInt64(*doc->Find(root, "f"), &v));
  EXPECT_EQ(doc->Find(root, "f")->text, "1.5e3");
  EXPECT_EQ(doc->Find(root, "t")->type, Type::kTrue);
  EXPECT_EQ(doc->Find(root, "F")->type, Type::kFalse);
  EXPECT_EQ(doc->Find(root, "z")->type, Type::kNull);
  const Node* a = doc->Find(root, "a");
  ASSERT_EQ(a->type, Type::kArray);
  EXPECT_EQ(a->size, 3u);
  EXPECT_EQ(a->text, R"([1,"two",[3]])");
  const Node& second = doc->node(doc->node(a->first_child).next);
  EXPECT_EQ(second.text, "two");
  EXPECT_EQ(doc->Find(root, "missing"), nullptr);
  EXPECT_EQ(doc->Find(*a, "x"), nullptr);
  EXPECT_EQ(doc->Find(root, "o")->text, R"({"k":{}})");
}

TEST(JsonTest, DecodesEscapes) {
  auto doc = Document::Parse(
      R"({"e":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00"})");
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->Find(doc->root(), "e")->text,
            "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(JsonTest, DuplicateMembersAreRefusedAtEveryDepth) {
  EXPECT_THAT(Document::Parse(R"({"a":1,"a":2})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate member")));
  EXPECT_THAT(Document::Parse(R"({"x":{"b":1,"b":1}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate member")));
  // Escaped spelling of the same name is still a duplicate.
  EXPECT_THAT(Document::Parse(R"({"exp":1,"\u0065xp":2})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate member")));
  // Many members (sorted path).
  std::string big = "{";
  for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  EXPECT_THAT(Document::Parse(big + "\"k7\":1}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate member")));
  EXPECT_THAT(Document::Parse(big + "\"k40\":1}"), IsOk());
  // Same name in different objects is fine.
  EXPECT_THAT(Document::Parse(R"({"a":{"a":1},"b":{"a":2}})"), IsOk());
}

TEST(JsonTest, NestingIsBounded) {
  std::string deep(33, '[');
  deep += std::string(33, ']');
  EXPECT_THAT(
      Document::Parse(deep),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting")));
  std::string ok(32, '[');
  ok += std::string(32, ']');
  EXPECT_THAT(Document::Parse(ok), IsOk());
  std::string very_deep(100000, '{');
  EXPECT_THAT(Document::Parse(very_deep),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(JsonTest, RefusesInvalidDocuments) {
  for (const char* bad : {"",
                          " ",
                          "{",
                          "}",
                          "{\"a\"}",
                          "{\"a\":}",
                          "{\"a\":1,}",
                          "[1,]",
                          "[1 2]",
                          "{'a':1}",
                          "{a:1}",
                          "01",
                          "-",
                          "1.",
                          ".5",
                          "1e",
                          "+1",
                          "NaN",
                          "Infinity",
                          "tru",
                          "nul",
                          "\"abc",
                          "\"a\\x\"",
                          "\"\\u12\"",
                          "\"\\ud800\"",
                          "\"\\udc00\"",
                          "\"\\ud800\\u0041\"",
                          "{} {}",
                          "1 2",
                          "{\"a\":1}x",
                          "/*c*/{}",
                          "\"tab\there\""}) {
    EXPECT_THAT(Document::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(JsonTest, RefusesInvalidUtf8AndRawControls) {
  for (const char* bad : {"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
                          "\"\xe2\x82\"", "\"\xf4\x90\x80\x80\"", "\"a\nb\""}) {
    EXPECT_THAT(Document::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(Document::Parse(absl::string_view("\"a\0b\"", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Document::Parse("\"\xf0\x9f\x98\x80\""), IsOk());
}

TEST(JsonTest, RefusesMalformedStructure) {
  for (const char* bad : {
           // A string value followed by ':' must not pass as a member name.
           R"({"a":"x":"b","c":1})",
           R"({"a":"x" "b":1})",
           R"({"a":1 "b":2})",
           R"({"a" 1})",
           R"({1:2})",
           R"({,})",
           R"({"a":1,,"b":2})",
           "[1,,2]",
           "[,1]",
           "[1]]",
           "[[1]",
           R"({"a":[1})",
           R"([{"a":1])",
           "]",
           ",",
           ":",
           "[1]:",
           "\"a\":1",
           "\"a\" \"b\"",
           "[] []",
           "1,2",
       }) {
    EXPECT_THAT(Document::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  EXPECT_THAT(Document::Parse("{} {}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unexpected data after the JSON value")));
}

TEST(JsonTest, ScalarDocuments) {
  // Surrounding whitespace is allowed; anything glued to the value is not.
  auto doc = Document::Parse(" false \n");
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().type, Type::kFalse);
  doc = Document::Parse("null\t");
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().type, Type::kNull);
  doc = Document::Parse(" -12.5e1 ");
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().text, "-12.5e1");
  doc = Document::Parse(" \"a\\u0042\" ");
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().text, "aB");
  for (const char* bad : {"false|", "true|", "null|", "nullx", "1|", "1x",
                          "\"a\"x", "truefalse"}) {
    EXPECT_THAT(Document::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(JsonTest, RefusesByteOrderMark) {
  EXPECT_THAT(Document::Parse("\xef\xbb\xbf{}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("byte order mark")));
}

TEST(JsonTest, NumbersOutsideTheDoubleRangeAreRefused) {
  for (const char* bad : {"[1e400]", "[-1e400]", "[1E309]"}) {
    EXPECT_THAT(Document::Parse(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("invalid number")))
        << bad;
  }
  // Long literals within the range are fine; GetInt64 still needs int64.
  const std::string digits(300, '7');  // 7.7e299
  const std::string in = "[" + digits + ",1e-400,0." + digits + "]";
  auto doc = Document::Parse(in);
  ASSERT_OK(doc.status());
  const Node& first = doc->node(doc->root().first_child);
  EXPECT_EQ(first.text, digits);
  int64_t v;
  EXPECT_FALSE(GetInt64(first, &v));
}

TEST(JsonTest, TextsAreAsWrittenWithoutSurroundingWhitespace) {
  const std::string in =
      " { \"a\" : [ 1 , \"x\" ] ,\n \"b\" : { } , \"c\" : 2e1 } ";
  auto doc = Document::Parse(in);
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().text,
            "{ \"a\" : [ 1 , \"x\" ] ,\n \"b\" : { } , \"c\" : 2e1 }");
  EXPECT_EQ(doc->Find(doc->root(), "a")->text, "[ 1 , \"x\" ]");
  EXPECT_EQ(doc->Find(doc->root(), "b")->text, "{ }");
  EXPECT_EQ(doc->Find(doc->root(), "c")->text, "2e1");
  // Views point into the caller's input, not into a copy.
  const Node* a = doc->Find(doc->root(), "a");
  EXPECT_GE(a->text.data(), in.data());
  EXPECT_LT(a->text.data(), in.data() + in.size());
}

TEST(JsonTest, DocumentsSurviveLaterParsesOnTheSameThread) {
  const std::string first = R"({"k":"v","e":"\u00e9","n":[1,2]})";
  auto a = Document::Parse(first);
  ASSERT_OK(a.status());
  // A longer document, then a failing one, reuse the thread's parser.
  std::string big = "[";
  for (int i = 0; i < 2000; ++i) big += "\"s\\u0041\",";
  big += "0]";
  ASSERT_OK(Document::Parse(big).status());
  EXPECT_THAT(Document::Parse("{\"x\":\"\\u0041\",\"x\":1}"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(a->Find(a->root(), "k")->text, "v");
  EXPECT_EQ(a->Find(a->root(), "e")->text, "\xc3\xa9");
  EXPECT_EQ(a->Find(a->root(), "n")->text, "[1,2]");
}

TEST(JsonTest, LargeInputsAndConcurrentParses) {
  // Above the per-thread reuse size (64 KiB): a one-off parser.
  std::string large = "{";
  for (int i = 0; i < 10000; ++i) {
    large += "\"member" + std::to_string(i) + "\":\"value\",";
  }
  std::string dup = large + "\"member5000\":1}";
  large += "\"last\":true}";
  ASSERT_GT(large.size(), 64u * 1024);
  auto doc = Document::Parse(large);
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().size, 10001u);
  EXPECT_EQ(doc->Find(doc->root(), "member9999")->text, "value");
  EXPECT_THAT(Document::Parse(dup),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate member name \"member5000\"")));

  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 2000; ++i) {
        const std::string in = "{\"t\":" + std::to_string(t) + ",\"i\":[" +
                               std::to_string(i) + "],\"s\":\"\\u0041\"}";
        auto d = Document::Parse(in);
        int64_t v = -1;
        if (!d.ok() || !GetInt64(*d->Find(d->root(), "t"), &v) || v != t ||
            d->Find(d->root(), "s")->text != "A") {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(JsonTest, GetInt64Limits) {
  auto doc = Document::Parse(
      R"([9223372036854775807,-9223372036854775808,9223372036854775808,0,-0,1e2,1.0])");
  ASSERT_OK(doc.status());
  std::vector<const Node*> n;
  for (uint32_t i = doc->root().first_child; i != 0; i = doc->node(i).next) {
    n.push_back(&doc->node(i));
  }
  int64_t v;
  EXPECT_TRUE(GetInt64(*n[0], &v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(GetInt64(*n[1], &v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_FALSE(GetInt64(*n[2], &v));
  EXPECT_TRUE(GetInt64(*n[3], &v));
  EXPECT_TRUE(GetInt64(*n[4], &v));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(GetInt64(*n[5], &v));
  EXPECT_FALSE(GetInt64(*n[6], &v));
}

TEST(JsonTest, AppendQuotedEscapesAndRoundTrips) {
  std::string out;
  const std::string in = std::string("q\"b\\n\n\x01\x1f/\xc3\xa9") + '\0';
  AppendQuoted(in, &out);
  EXPECT_EQ(out, "\"q\\\"b\\\\n\\n\\u0001\\u001f/\xc3\xa9\\u0000\"");
  auto doc = Document::Parse(out);
  ASSERT_OK(doc.status());
  EXPECT_EQ(doc->root().text, in);
}

TEST(JsonTest, DocumentMoveKeepsDecodedStrings) {
  std::string in = R"({"k\u0041":"v\u0042"})";
  auto doc = Document::Parse(in);
  ASSERT_OK(doc.status());
  Document moved = *std::move(doc);
  const Node* n = moved.Find(moved.root(), "kA");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->text, "vB");
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));  // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));  // surrogate
  EXPECT_EQ(TypeName(Type::kTrue), "boolean");
}

}  // namespace
}  // namespace token_authority::token::json

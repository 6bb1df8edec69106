#include "absl/time/time.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tokenauthority/v1/token_service.pb.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client::tokenctl {
namespace {

TEST(TableTest, AlignsColumnsAndTrimsTheLastOne) {
  Table t({"ID", "NAME", "STATE"});
  EXPECT_TRUE(t.empty());
  t.AddRow({"a", "long name", "ok"});
  t.AddRow({"bbbb", "", "revoked"});
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(t.Render(),
            "ID    NAME       STATE\n"
            "a     long name  ok\n"
            "bbbb  -          revoked\n");
}

TEST(TableTest, MissingCellsAndControlCharacters) {
  Table t({"A", "B"});
  t.AddRow({"x"});
  t.AddRow({"line\nbreak", "tab\there"});
  EXPECT_EQ(t.Render(),
            "A            B\n"
            "x            -\n"
            "line\\nbreak  tab\\there\n");
}

TEST(TableTest, AlignsUtf8ByDisplayWidth) {
  Table t({"USER", "TAG"});
  t.AddRow({"zo\xC3\xAB", "a"});                // "zoë": 3 columns
  t.AddRow({"\xE5\xB1\xB1\xE7\x94\xB0", "b"});  // "山田": 4 columns
  t.AddRow({"e\xCC\x81", "c"});                 // "e" + combining acute
  EXPECT_EQ(t.Render(),
            "USER  TAG\n"
            "zo\xC3\xAB   a\n"
            "\xE5\xB1\xB1\xE7\x94\xB0  b\n"
            "e\xCC\x81     c\n");
}

TEST(DisplayWidthTest, CodePointsWideCharactersAndMarks) {
  EXPECT_EQ(DisplayWidth(""), 0u);
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("zo\xC3\xAB"), 3u);                // zoë
  EXPECT_EQ(DisplayWidth("\xE5\xB1\xB1\xE7\x94\xB0"), 4u);  // 山田
  EXPECT_EQ(DisplayWidth("\xED\x95\x9C"), 2u);              // 한
  EXPECT_EQ(DisplayWidth("\xEF\xBC\xA1"), 2u);              // fullwidth A
  EXPECT_EQ(DisplayWidth("\xF0\x9F\x98\x80"), 2u);          // emoji
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1u);                 // é, combining
  EXPECT_EQ(DisplayWidth("\xD0\x96"), 1u);                  // Cyrillic Ж
  EXPECT_EQ(DisplayWidth("\xFF\xFE"), 2u);  // invalid bytes: one each
}

TEST(CellTest, EscapesWhatWouldBreakATerminal) {
  EXPECT_EQ(Cell(""), "-");
  EXPECT_EQ(Cell("zo\xC3\xAB"), "zo\xC3\xAB");  // valid UTF-8 as is
  EXPECT_EQ(Cell("a\xFF"), "a\\xff");           // invalid UTF-8
  EXPECT_EQ(Cell("a\xC2\x9B"), "a\\xc2\\x9b");  // C1 control (CSI)
  EXPECT_EQ(Cell("\xC0\xAF"), "\\xc0\\xaf");    // overlong '/'
}

TEST(RenderFieldsTest, TwoAlignedColumns) {
  EXPECT_EQ(
      RenderFields({{"Key ID", "k1"}, {"Algorithm", "ES256"}, {"Retired", ""}}),
      "Key ID     k1\n"
      "Algorithm  ES256\n"
      "Retired    -\n");
}

TEST(ProtoToJsonTest, FieldNamesEnumsAndDefaults) {
  tokenauthority::v1::SigningKey k;
  k.set_key_id("kid");
  k.set_algorithm(tokenauthority::v1::ALGORITHM_ES256);
  *k.mutable_created_at() = convert::ToProtoTimestamp(absl::FromUnixSeconds(0));
  const nlohmann::json j = ProtoToJson(k);
  EXPECT_EQ(j["key_id"], "kid");
  EXPECT_EQ(j["algorithm"], "ES256");  // as the tables print it
  EXPECT_EQ(j["state"], "unspecified");
  EXPECT_EQ(j["created_at"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(j["organization_id"], "");  // defaults are printed
  EXPECT_FALSE(j.contains("retired_at"));
}

// Enum values in the tables' words and times to the second, also inside
// nested and repeated messages.
TEST(ProtoToJsonTest, OneSpellingAndOnePrecisionEverywhere) {
  tokenauthority::v1::ListTokensResponse list;
  tokenauthority::v1::Token* t = list.add_tokens();
  t->set_state(tokenauthority::v1::TOKEN_STATE_NOT_YET_VALID);
  t->set_algorithm(tokenauthority::v1::ALGORITHM_EDDSA);
  *t->mutable_expires_at() = convert::ToProtoTimestamp(
      absl::FromUnixSeconds(1740830400) + absl::Microseconds(123456));
  list.add_tokens()->set_state(tokenauthority::v1::TOKEN_STATE_INVALID);
  const nlohmann::json j = ProtoToJson(list);
  EXPECT_EQ(j["tokens"][0]["state"], "not-yet-valid");
  EXPECT_EQ(j["tokens"][0]["algorithm"], "EdDSA");
  EXPECT_EQ(j["tokens"][0]["expires_at"], "2025-03-01T12:00:00Z");
  EXPECT_EQ(j["tokens"][1]["state"], "invalid");

  tokenauthority::v1::VerifyTokenResponse v;
  v.set_reason(tokenauthority::v1::DENY_REASON_TARGET_MISMATCH);
  EXPECT_EQ(ProtoToJson(v)["reason"], "target-mismatch");
  tokenauthority::v1::ApiKey key;
  key.set_role(tokenauthority::v1::API_KEY_ROLE_ISSUER);
  EXPECT_EQ(ProtoToJson(key)["role"], "issuer");
}

TEST(DumpJsonTest, IndentedWithNewlineAndReplacesBadUtf8) {
  EXPECT_EQ(DumpJson({{"a", 1}}), "{\n  \"a\": 1\n}\n");
  const std::string out = DumpJson(nlohmann::json(std::string("\xff")));
  EXPECT_EQ(out, "\"\xEF\xBF\xBD\"\n");
}

TEST(TimeTextTest, SetAndUnset) {
  EXPECT_EQ(
      TimeText(convert::ToProtoTimestamp(absl::FromUnixSeconds(1740830400)),
               true),
      "2025-03-01T12:00:00Z");
  EXPECT_EQ(TimeText({}, false), "-");
  // One precision: seconds, whatever the server's timestamp carries.
  EXPECT_EQ(
      TimeText(convert::ToProtoTimestamp(absl::FromUnixSeconds(1740830400) +
                                         absl::Nanoseconds(999999999)),
               true),
      "2025-03-01T12:00:00Z");
}

}  // namespace
}  // namespace token_authority::client::tokenctl

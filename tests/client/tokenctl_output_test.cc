#include "absl/time/time.h"
#include "client/tokenctl/output.h"
#include "convert/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
  EXPECT_EQ(j["algorithm"], "ALGORITHM_ES256");
  EXPECT_EQ(j["created_at"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(j["organization_id"], "");  // defaults are printed
  EXPECT_FALSE(j.contains("retired_at"));
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
}

}  // namespace
}  // namespace token_authority::client::tokenctl

#include "token/base64url.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

// RFC 4648 section 10 vectors, in the URL-safe alphabet without padding.
TEST(Base64UrlTest, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg"},
      {"fo", "Zm8"},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    EXPECT_THAT(Base64UrlDecode(encoded), IsOkAndHolds(std::string(plain)));
  }
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  EXPECT_THAT(Base64UrlDecode("-_-_"), IsOkAndHolds(bytes));
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 37 + 11));
    std::string out;
    ASSERT_TRUE(Base64UrlDecodeTo(Base64UrlEncode(data), &out)) << i;
    EXPECT_EQ(out, data);
  }
}

TEST(Base64UrlTest, AppendKeepsPrefix) {
  std::string s = "x.";
  Base64UrlEncodeAppend("foo", &s);
  EXPECT_EQ(s, "x.Zm9v");
}

TEST(Base64UrlTest, RefusesPadding) {
  EXPECT_THAT(
      Base64UrlDecode("Zg=="),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("padding")));
  EXPECT_THAT(
      Base64UrlDecode("Zm8="),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("padding")));
}

TEST(Base64UrlTest, RefusesStandardAlphabetAndOtherCharacters) {
  for (const char* bad : {"+/+/", "ab c", "ab.c", "ab\ncd", "Zm9v\x80"}) {
    EXPECT_THAT(Base64UrlDecode(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  std::string with_nul("Zm\0v", 4);
  EXPECT_THAT(
      Base64UrlDecode(with_nul),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("position 2")));
}

TEST(Base64UrlTest, RefusesImpossibleLength) {
  EXPECT_THAT(Base64UrlDecode("Zm9vY"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4k+1")));
  EXPECT_THAT(Base64UrlDecode("A"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Base64UrlTest, RefusesNonCanonicalTrailingBits) {
  // "Zg" is canonical for "f"; "Zh" carries a set unused bit.
  EXPECT_THAT(
      Base64UrlDecode("Zh"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-canonical")));
  // "Zm8" is canonical for "fo"; "Zm9" sets an unused bit.
  EXPECT_THAT(
      Base64UrlDecode("Zm9"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-canonical")));
  std::string out;
  EXPECT_FALSE(Base64UrlDecodeTo("Zh", &out));
  EXPECT_TRUE(Base64UrlDecodeTo("Zg", &out));
  EXPECT_EQ(out, "f");
}

TEST(Base64UrlTest, DecodedSize) {
  EXPECT_EQ(Base64UrlDecodedSize(0), 0u);
  EXPECT_EQ(Base64UrlDecodedSize(2), 1u);
  EXPECT_EQ(Base64UrlDecodedSize(3), 2u);
  EXPECT_EQ(Base64UrlDecodedSize(4), 3u);
  EXPECT_EQ(Base64UrlDecodedSize(43), 32u);
  EXPECT_EQ(Base64UrlDecodedSize(86), 64u);
}

}  // namespace
}  // namespace token_authority::token

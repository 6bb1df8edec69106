#include "storage/page_token.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage {
namespace {

using ::testing::StartsWith;
using ::token_authority::testing::IsOkAndHolds;
using ::token_authority::testing::StatusIs;

TEST(PageTokenTest, RoundTripsPayload) {
  const std::string b = PageBinding({"tokens", "acme", "tag"});
  const std::string token =
      EncodePageToken(PageKind::kTokens, b, EncodeInt64Pair(1700000000, -5));
  ASSERT_OK_AND_ASSIGN(std::string payload,
                       DecodePageToken(token, PageKind::kTokens, b));
  EXPECT_THAT(DecodeInt64Pair(payload),
              IsOkAndHolds(std::make_pair(int64_t{1700000000}, int64_t{-5})));
}

TEST(PageTokenTest, BindingSeparatesParts) {
  EXPECT_NE(PageBinding({"ab", "c"}), PageBinding({"a", "bc"}));
  EXPECT_EQ(PageBinding({"a", "b"}).size(), 8u);
}

TEST(PageTokenTest, RefusesOtherKindsBindingsAndGarbage) {
  const std::string b = PageBinding({"x"});
  const std::string token = EncodePageToken(PageKind::kTokens, b, "payload");
  const auto bad = [](absl::string_view t, PageKind k, absl::string_view bind) {
    return DecodePageToken(t, k, bind);
  };
  EXPECT_THAT(
      bad(token, PageKind::kAuditEvents, b),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  EXPECT_THAT(
      bad(token, PageKind::kTokens, PageBinding({"y"})),
      StatusIs(absl::StatusCode::kInvalidArgument, StartsWith("page_token:")));
  for (const std::string& g :
       {std::string("garbage!!"), std::string(""), std::string("AAAA"),
        token.substr(0, token.size() - 1), token + "A",
        std::string(600, 'A')}) {
    EXPECT_THAT(bad(g, PageKind::kTokens, b),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         StartsWith("page_token: malformed")))
        << g;
  }
  // Every single-character change is caught.
  for (size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(bad(t, PageKind::kTokens, b).ok()) << i;
  }
  EXPECT_THAT(DecodeInt64Pair("short"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace token_authority::storage

#include "token/target.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace token_authority::token {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(TargetTest, Kinds) {
  Target g = Target::StreamGroup("grp");
  EXPECT_EQ(g.kind(), Target::Kind::kStreamGroup);
  EXPECT_EQ(g.stream_group_id(), "grp");
  EXPECT_THAT(g.stream_names(), IsEmpty());
  Target s = Target::Streams({"a", "b"});
  EXPECT_EQ(s.kind(), Target::Kind::kStreams);
  EXPECT_THAT(s.stream_names(), ElementsAre("a", "b"));
  EXPECT_EQ(Target::Organization().kind(), Target::Kind::kOrganization);
  EXPECT_EQ(TargetKindName(Target::Kind::kStreams), "streams");
}

TEST(TargetTest, Covers) {
  Target g = Target::StreamGroup("grp");
  EXPECT_TRUE(g.Covers("grp", ""));
  EXPECT_TRUE(g.Covers("grp", "any-stream"));
  EXPECT_FALSE(g.Covers("GRP", ""));
  EXPECT_FALSE(g.Covers("", "grp"));
  Target s = Target::Streams({"a", "b"});
  EXPECT_TRUE(s.Covers("", "b"));
  EXPECT_TRUE(s.Covers("some-group", "a"));
  EXPECT_FALSE(s.Covers("a", ""));
  EXPECT_FALSE(s.Covers("", "c"));
  EXPECT_FALSE(s.Covers("", "A"));
  EXPECT_TRUE(Target::Organization().Covers("", ""));
  EXPECT_TRUE(Target::Organization().Covers("g", "s"));
}

TEST(TargetTest, EqualityAndDescribe) {
  EXPECT_EQ(Target::Streams({"a"}), Target::Streams({"a"}));
  EXPECT_NE(Target::Streams({"a"}), Target::Streams({"b"}));
  EXPECT_NE(Target::StreamGroup("a"), Target::Streams({"a"}));
  EXPECT_EQ(Target::StreamGroup("x").Describe(), "stream group \"x\"");
  EXPECT_EQ(Target::Streams({"a", "b"}).Describe(), "streams a, b");
  EXPECT_EQ(Target::Streams({"a"}).Describe(), "stream a");
  EXPECT_EQ(Target::Organization().Describe(), "the whole organisation");
}

TEST(ValidateTargetTest, GoodTargets) {
  EXPECT_THAT(ValidateTarget(Target::StreamGroup("grp-1")), IsEmpty());
  EXPECT_THAT(ValidateTarget(Target::Streams({"a", "a"})), IsEmpty());
  EXPECT_THAT(ValidateTarget(Target::Organization()), IsEmpty());
  EXPECT_THAT(
      ValidateTarget(Target::Streams(std::vector<std::string>(100, "s"))),
      IsEmpty());
}

TEST(ValidateTargetTest, ReportsEveryBadName) {
  auto v = ValidateTarget(Target::Streams({"ok", "bad name", "", "also/bad"}));
  ASSERT_EQ(v.size(), 3u);
  for (const auto& x : v) EXPECT_EQ(x.field, "stream_names");
  EXPECT_THAT(v[0].description, HasSubstr("name 2"));
  EXPECT_THAT(v[1].description, HasSubstr("name 3"));
  EXPECT_THAT(v[2].description, HasSubstr("name 4"));
}

TEST(ValidateTargetTest, CountLimits) {
  EXPECT_THAT(ValidateTarget(Target::Streams({})),
              ElementsAre(Field(&FieldViolation::field, "stream_names")));
  EXPECT_THAT(
      ValidateTarget(Target::Streams(std::vector<std::string>(101, "s"))),
      ElementsAre(FieldViolation{"stream_names",
                                 "at most 100 stream names (got 101)"}));
  EXPECT_THAT(ValidateTarget(Target::StreamGroup("")),
              ElementsAre(Field(&FieldViolation::field, "target")));
}

}  // namespace
}  // namespace token_authority::token

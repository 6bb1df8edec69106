#include "storage/pg_sql.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(PostgresDialectTest, TranslatesParametersJoinsAndHints) {
  EXPECT_EQ(PostgresDialect("SELECT a FROM t CROSS JOIN u ON u.x = t.x "
                            "INDEXED BY foo_bar WHERE a = ?1 AND b < ?12"),
            "SELECT a FROM t JOIN u ON u.x = t.x WHERE a = $1 AND b < $12");
  // A '?' not followed by a digit and other text stay.
  EXPECT_EQ(PostgresDialect("SELECT '?' , x FROM y"), "SELECT '?' , x FROM y");
}

TEST(PostgresDialectTest, EveryTokenListQueryTranslates) {
  sqlite::TokenQuery q;
  q.filter.stream_name = "cam";
  q.filter.state = TokenState::kRevoked;
  q.after = std::make_pair(int64_t{5}, int64_t{6});
  q.limit = 3;
  const sqlite::BoundQuery bq = sqlite::BuildTokenListQuery(q);
  const std::string sql = PostgresDialect(bq.sql);
  EXPECT_THAT(sql, Not(HasSubstr("?")));
  EXPECT_THAT(sql, Not(HasSubstr("CROSS")));
  EXPECT_THAT(sql, Not(HasSubstr("INDEXED")));
  EXPECT_THAT(sql, HasSubstr(absl::StrCat("$", bq.values.size())));
  EXPECT_EQ(ParamsOf(bq).size(), static_cast<int>(bq.values.size()));
}

TEST(PostgresParamsTest, KeepsValuesAndFormats) {
  Params p;
  p.Int(-7).Text("x").Bytes(std::string("\0\1", 2)).Null().TextOrNull("");
  ASSERT_EQ(p.size(), 5);
  EXPECT_STREQ(p.values()[0], "-7");
  EXPECT_EQ(p.formats()[1], 0);
  EXPECT_EQ(p.formats()[2], 1);
  EXPECT_EQ(p.lengths()[2], 2);
  EXPECT_EQ(p.values()[3], nullptr);
  EXPECT_EQ(p.values()[4], nullptr);
}

}  // namespace
}  // namespace token_authority::storage::pg

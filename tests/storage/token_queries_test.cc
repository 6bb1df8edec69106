// EXPLAIN QUERY PLAN for every shape of list/count query the store builds:
// none may scan a whole table, and lists must come out of an index in
// order (no temporary B-tree for ORDER BY).
#include "storage/token_queries.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::storage::sqlite {
namespace {

using ::testing::HasSubstr;

class QueryPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Connection::Open(dir_.File("plan.db"), {});
    ASSERT_TRUE(c.ok()) << c.status();
    conn_ = *std::move(c);
    ASSERT_OK(Migrate(*conn_));
  }

  // The plan's detail lines.
  std::vector<std::string> Plan(const BoundQuery& q) {
    auto stmt = conn_->PrepareUncached("EXPLAIN QUERY PLAN " + q.sql);
    EXPECT_TRUE(stmt.ok()) << stmt.status() << "\n" << q.sql;
    if (!stmt.ok()) return {};
    Statement s(conn_->db(), stmt->get());
    q.Bind(s);
    std::vector<std::string> lines;
    while (true) {
      auto row = s.Step();
      EXPECT_TRUE(row.ok()) << row.status();
      if (!row.ok() || !*row) break;
      lines.push_back(s.String(3));
    }
    return lines;
  }

  // Fails if the plan scans a table or sorts (when `ordered`).
  void ExpectIndexed(const BoundQuery& q, bool ordered) {
    const std::vector<std::string> plan = Plan(q);
    ASSERT_FALSE(plan.empty()) << q.sql;
    const std::string text = absl::StrJoin(plan, "\n");
    for (const std::string& line : plan) {
      EXPECT_FALSE(absl::StartsWith(line, "SCAN ")) << "full scan in:\n"
                                                    << q.sql << "\nplan:\n"
                                                    << text;
      if (ordered) {
        EXPECT_FALSE(absl::StrContains(line, "TEMP B-TREE"))
            << "sort in:\n"
            << q.sql << "\nplan:\n"
            << text;
      }
    }
    ++checked_;
  }

  testing::TempDir dir_;
  std::unique_ptr<Connection> conn_;
  int checked_ = 0;
};

// Stored in every database: the value must never change.
TEST(RequestHashTest, IsTheFirstEightBytesOfSha256) {
  // SHA-256("abc") = ba7816bf8f01cfea 414140de...
  EXPECT_EQ(RequestHash("abc"), static_cast<int64_t>(0xba7816bf8f01cfeaULL));
  // SHA-256("") = e3b0c44298fc1c14 9afbf4c8...
  EXPECT_EQ(RequestHash(""), static_cast<int64_t>(0xe3b0c44298fc1c14ULL));
}

TEST_F(QueryPlanTest, EveryTokenListAndCountShapeUsesAnIndex) {
  const std::vector<std::optional<TokenState>> states = {
      std::nullopt, TokenState::kActive, TokenState::kNotYetValid,
      TokenState::kExpired, TokenState::kRevoked};
  for (int mask = 0; mask < 16; ++mask) {
    for (const auto& state : states) {
      for (int range = 0; range < 2; ++range) {
        for (int cursor = 0; cursor < 2; ++cursor) {
          TokenQuery q;
          q.org_no = 1;
          if (mask & 1) q.filter.tag = "tag";
          if (mask & 2) q.filter.user_id = "user";
          if (mask & 4) q.filter.stream_name = "stream";
          if (mask & 8) q.filter.stream_group_id = "group";
          q.filter.state = state;
          if (range) {
            q.filter.issued_after = testing::StartTime();
            q.filter.issued_before = testing::StartTime() + absl::Hours(1);
          }
          if (cursor) q.after = std::make_pair(int64_t{1700000000}, int64_t{5});
          q.now_seconds = 1700000000;
          q.limit = 101;
          SCOPED_TRACE(::testing::Message()
                       << "mask=" << mask
                       << " state=" << (state ? TokenStateName(*state) : "none")
                       << " range=" << range << " cursor=" << cursor);
          ExpectIndexed(BuildTokenListQuery(q), /*ordered=*/true);
          if (!cursor) ExpectIndexed(BuildTokenCountQuery(q), false);
        }
      }
    }
  }
  EXPECT_EQ(checked_, 16 * 5 * 2 * 2 + 16 * 5 * 2);
}

TEST_F(QueryPlanTest, TheNarrowestIndexServesEachFilter) {
  TokenQuery q;
  q.org_no = 1;
  q.limit = 10;
  q.filter.tag = "t";
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("INDEX tokens_tag"));
  q.filter = {};
  q.filter.user_id = "u";
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("INDEX tokens_user"));
  q.filter = {};
  q.filter.stream_group_id = "g";
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("INDEX tokens_group"));
  q.filter = {};
  q.filter.stream_name = "s";
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("SEARCH s USING PRIMARY KEY"));
  q.filter = {};
  q.filter.state = TokenState::kRevoked;
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("INDEX tokens_revoked"));
  q.filter = {};
  EXPECT_THAT(absl::StrJoin(Plan(BuildTokenListQuery(q)), "\n"),
              HasSubstr("INDEX tokens_org"));
}

TEST_F(QueryPlanTest, BulkRevocationSelectionUsesAnIndex) {
  const std::vector<std::optional<TokenState>> states = {
      std::nullopt, TokenState::kActive, TokenState::kNotYetValid};
  for (int mask = 1; mask < 16; ++mask) {
    for (int cursor = 0; cursor < 2; ++cursor) {
      for (const auto& state : states) {
        RevokeQuery q;
        q.org_no = 1;
        q.filter.state = state;
        if (mask & 1) q.filter.tag = "tag";
        if (mask & 2) q.filter.user_id = "user";
        if (mask & 4) q.filter.stream_name = "stream";
        if (mask & 8) q.filter.stream_group_id = "group";
        q.now_seconds = 1700000000;
        q.max_no = 1000;
        if (cursor) q.after = std::make_pair(int64_t{1700000000}, int64_t{5});
        q.limit = 1000;
        SCOPED_TRACE(::testing::Message()
                     << "mask=" << mask
                     << " state=" << (state ? TokenStateName(*state) : "any"));
        ExpectIndexed(BuildRevokeSelectQuery(q, false), /*ordered=*/true);
        if (!cursor) ExpectIndexed(BuildRevokeSelectQuery(q, true), false);
      }
    }
  }
}

TEST_F(QueryPlanTest, EveryAuditListShapeUsesAnIndex) {
  const std::vector<std::optional<int>> actions = {
      std::nullopt, static_cast<int>(AuditAction::kTokenIssued),
      static_cast<int>(AuditAction::kTokenRevoked)};
  for (int mask = 0; mask < 8; ++mask) {
    for (const auto& action : actions) {
      for (int range = 0; range < 4; ++range) {
        for (int cursor = 0; cursor < 2; ++cursor) {
          AuditQuery q;
          q.org_no = 1;
          if (mask & 1) q.tag = "tag";
          if (mask & 2) q.user_id = "user";
          if (mask & 4) q.token_id_bytes = std::string(16, 'x');
          q.action = action;
          if (range & 1) {
            q.since_micros = 1;
            q.min_id = 10;
          }
          if (range & 2) {
            q.until_micros = 2;
            q.max_id_excl = 20;
          }
          if (cursor) q.before_id = 15;
          q.limit = 101;
          SCOPED_TRACE(::testing::Message()
                       << "mask=" << mask << " action=" << action.value_or(0)
                       << " range=" << range);
          ExpectIndexed(BuildAuditListQuery(q), /*ordered=*/true);
        }
      }
    }
  }
  AuditQuery revoked;
  revoked.org_no = 1;
  revoked.action = static_cast<int>(AuditAction::kTokenRevoked);
  revoked.limit = 10;
  EXPECT_THAT(absl::StrJoin(Plan(BuildAuditListQuery(revoked)), "\n"),
              HasSubstr("INDEX audit_action"));
  ExpectIndexed({kAuditProbeSql, {SqlValue::Int(5)}}, /*ordered=*/true);
  ExpectIndexed({kTokenByRequestSql,
                 {SqlValue::Int(1), SqlValue::Int(RequestHash("r")),
                  SqlValue::Text("r")}},
                /*ordered=*/true);
}

TEST_F(QueryPlanTest, RevocationLogAndSweepUseIndexes) {
  ExpectIndexed({kRevocationsSinceSql, {SqlValue::Int(3), SqlValue::Int(10)}},
                /*ordered=*/true);
  // Active revocations are few (revoked and not yet expired); sorting them
  // by sequence is fine, scanning the log is not.
  ExpectIndexed({kActiveRevocationsSql, {SqlValue::Int(3)}}, /*ordered=*/false);
  ExpectIndexed({kSweepSelectSql, {SqlValue::Int(3), SqlValue::Int(10)}},
                /*ordered=*/true);
  ExpectIndexed({kSweepRevocationsSql, {SqlValue::Int(3), SqlValue::Int(10)}},
                /*ordered=*/true);
}

}  // namespace
}  // namespace token_authority::storage::sqlite

namespace token_authority::storage::sqlite {
namespace {

TEST(FirstAuditIdAtOrAfterTest, MatchesALinearSearchWithGapsAndTies) {
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Open(dir.File("a.db"), {}));
  ASSERT_OK(Migrate(*conn));
  EXPECT_THAT(FirstAuditIdAtOrAfter(*conn, 0),
              ::token_authority::testing::IsOkAndHolds(std::nullopt));
  // ids with gaps, times non-decreasing with ties.
  std::vector<std::pair<int64_t, int64_t>> rows;
  int64_t id = 3;
  int64_t time = 100;
  for (int i = 0; i < 200; ++i) {
    rows.emplace_back(id, time);
    id += 1 + (i * 7) % 5;
    time += (i % 3 == 0) ? 0 : (i % 11);
  }
  for (const auto& [i, t] : rows) {
    ASSERT_OK(conn->Exec(absl::StrCat(
        "INSERT INTO audit_events(id, time, action, org_no) VALUES (", i, ", ",
        t, ", 1, 0)")));
  }
  for (int64_t target = 90; target <= time + 5; ++target) {
    std::optional<int64_t> want;
    for (const auto& [i, t] : rows) {
      if (t >= target) {
        want = i;
        break;
      }
    }
    EXPECT_THAT(FirstAuditIdAtOrAfter(*conn, target),
                ::token_authority::testing::IsOkAndHolds(want))
        << target;
  }
}

}  // namespace
}  // namespace token_authority::storage::sqlite

#include "storage/pg_sql.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

namespace token_authority::storage::pg {

std::string PostgresDialect(absl::string_view sqlite_sql) {
  std::string sql =
      absl::StrReplaceAll(sqlite_sql, {{" CROSS JOIN ", " JOIN "}});
  std::string out;
  out.reserve(sql.size());
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '?' && i + 1 < sql.size() && absl::ascii_isdigit(sql[i + 1])) {
      out.push_back('$');
      continue;
    }
    static constexpr absl::string_view kHint = " INDEXED BY ";
    if (c == ' ' && absl::StartsWith(absl::string_view(sql).substr(i), kHint)) {
      size_t j = i + kHint.size();
      while (j < sql.size() && (absl::ascii_isalnum(sql[j]) || sql[j] == '_')) {
        ++j;
      }
      i = j - 1;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

Params ParamsOf(const sqlite::BoundQuery& bq) {
  Params p;
  for (const sqlite::SqlValue& v : bq.values) {
    switch (v.type) {
      case sqlite::SqlValue::Type::kInt:
        p.Int(v.i);
        break;
      case sqlite::SqlValue::Type::kText:
        p.Text(v.s);
        break;
      case sqlite::SqlValue::Type::kBlob:
        p.Bytes(v.s);
        break;
    }
  }
  return p;
}

}  // namespace token_authority::storage::pg

// The SQL the SQLite store builds (token_queries.h: every list, count and
// revocation-log query, with its filter rules) turned into PostgreSQL's
// dialect, so that both stores run the same queries and no filter rule is
// written twice. The translation covers exactly what token_queries.cc and
// row_readers.h emit: numbered parameters ?N -> $N, "CROSS JOIN x ON"
// (SQLite's fixed join order) -> "JOIN x ON", and "INDEXED BY name" (an
// SQLite planner hint) dropped. Pure functions.
#ifndef STORAGE_PG_SQL_H_
#define STORAGE_PG_SQL_H_

#include <string>

#include "absl/strings/string_view.h"
#include "storage/pg_connection.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {

std::string PostgresDialect(absl::string_view sqlite_sql);

// bq.values as parameters (integers, text, bytea).
Params ParamsOf(const sqlite::BoundQuery& bq);

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_SQL_H_

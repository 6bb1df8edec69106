// SqliteTokenStoreImpl: the maintenance thread ("ta-store-maint": coalesced
// TouchApiKey updates, the retention sweep) and the maintenance operations
// (sweep, integrity check, disk usage).
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"
#include "storage/token_queries.h"

namespace token_authority::storage::sqlite {

absl::StatusOr<int64_t> SqliteTokenStoreImpl::SweepBatch() {
  int64_t deleted = 0;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    Connection& c = ctx.conn;
    const int64_t cutoff = FloorSeconds(ctx.now - options_.retention);
    struct Row {
      int64_t no, org_no, kind, iat;
      std::string target;
    };
    std::vector<Row> rows;
    {
      TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(kSweepSelectSql));
      s.BindInt64(1, cutoff);
      s.BindInt64(2, options_.sweep_batch_size);
      while (true) {
        TA_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        rows.push_back(
            Row{s.Int64(0), s.Int64(1), s.Int64(2), s.Int64(3), s.String(4)});
      }
    }
    TA_ASSIGN_OR_RETURN(
        Statement del_stream,
        c.Prepare("DELETE FROM token_streams WHERE org_no = ?1 AND stream = ?2 "
                  "AND issued_at = ?3 AND token_no = ?4"));
    for (const Row& r : rows) {
      if (r.kind == kStoredStreams) {
        for (absl::string_view stream :
             absl::StrSplit(r.target, ',', absl::SkipEmpty())) {
          del_stream.BindInt64(1, r.org_no);
          del_stream.BindText(2, stream);
          del_stream.BindInt64(3, r.iat);
          del_stream.BindInt64(4, r.no);
          TA_RETURN_IF_ERROR(del_stream.Run());
          del_stream.Reset();
        }
      }
    }
    {
      TA_ASSIGN_OR_RETURN(Statement s,
                          c.Prepare("DELETE FROM tokens WHERE no = ?1"));
      for (const Row& r : rows) {
        s.BindInt64(1, r.no);
        TA_RETURN_IF_ERROR(s.Run());
        s.Reset();
      }
    }
    {
      TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(kSweepRevocationsSql));
      s.BindInt64(1, cutoff);
      s.BindInt64(2, options_.sweep_batch_size);
      TA_RETURN_IF_ERROR(s.Run());
    }
    deleted = static_cast<int64_t>(rows.size());
    return absl::OkStatus();
  }));
  return deleted;
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::RunRetentionSweep() {
  return SweepInBatches(options_.sweep_batch_size,
                        [this] { return SweepBatch(); });
}

absl::Status SqliteTokenStoreImpl::CheckIntegrity() {
  ConnectionOptions opts{options_.vfs, options_.busy_timeout, false};
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c,
                      Connection::Open(options_.path, opts));
  TA_ASSIGN_OR_RETURN(StmtPtr stmt,
                      c->PrepareUncached("PRAGMA integrity_check(10)"));
  Statement s(c->db(), stmt.get());
  TA_ASSIGN_OR_RETURN(
      std::vector<std::string> problems,
      s.ReadAll([](const Statement& row) { return row.String(0); }));
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("integrity_check: ", absl::StrJoin(problems, "; ")));
}

absl::Status SqliteTokenStoreImpl::ProbeWrite() {
  return writer_.Write([](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Statement s, ctx.conn.Prepare("INSERT OR REPLACE INTO meta(key, value) "
                                      "VALUES ('health_probe', ?1)"));
    s.BindInt64(1, absl::ToUnixMicros(ctx.now));
    return s.Run();
  });
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::DiskUsage() {
  int64_t total = 0;
  for (const std::string& p : {options_.path, options_.path + "-wal"}) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) total += static_cast<int64_t>(st.st_size);
  }
  return total;
}

}  // namespace token_authority::storage::sqlite

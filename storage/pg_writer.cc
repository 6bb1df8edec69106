#include "storage/pg_writer.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"

namespace token_authority::storage::pg {

absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id) {
  if (id.empty()) return 0;
  TA_ASSIGN_OR_RETURN(
      Result r,
      c.Query("SELECT no FROM organizations WHERE id = $1 AND no != 0",
              Params().Text(id)));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("organization ", id, " not found"));
  }
  return r.row(0).Int64(0);
}

absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field) {
  if (id.empty()) return std::optional<int64_t>();
  TA_ASSIGN_OR_RETURN(Result r, c.Query("SELECT no FROM api_keys WHERE id = $1",
                                        Params().Text(id)));
  if (r.rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": unknown API key ", id));
  }
  return std::optional<int64_t>(r.row(0).Int64(0));
}

Writer::Writer(std::unique_ptr<Connection> conn, const Clock& clock,
               int max_batch_size, int64_t last_audit_time,
               WriterStatsCounter* stats)
    : GroupCommitQueueOf(max_batch_size, stats),
      conn_(std::move(conn)),
      clock_(clock),
      last_audit_time_(last_audit_time) {}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  GroupCommitQueue::Start("ta-pg-writer", "ta-pg-complete",
                          [this](std::vector<Op*>& batch) { RunBatch(batch); });
}

absl::Status Writer::EnsureConnected() {
  if (conn_->ok()) return absl::OkStatus();
  if (!down_) {
    down_ = true;
    backoff_ = absl::Milliseconds(50);
    next_attempt_ = absl::Now();
    std::cerr << "token store: PostgreSQL connection lost; writes answer "
                 "UNAVAILABLE until it is back\n";
  }
  if (absl::Now() < next_attempt_) {
    return absl::UnavailableError(
        "PostgreSQL connection lost; reconnecting in the background");
  }
  absl::Status st = conn_->Reset();
  if (!st.ok()) {
    next_attempt_ = absl::Now() + backoff_;
    backoff_ = std::min(backoff_ * 2, absl::Seconds(2));
    return st;
  }
  down_ = false;
  std::cerr << "token store: PostgreSQL connection re-established\n";
  return absl::OkStatus();
}

void Writer::RunBatch(std::vector<Op*>& batch) {
  absl::Status st;
  for (int attempt = 0; attempt < 3; ++attempt) {
    st = EnsureConnected();
    if (!st.ok()) break;
    const auto start = BeginTransaction();
    st = TryBatch(batch);
    if (st.ok()) Committed(batch.size(), start);
    if (!absl::IsAborted(st)) break;
  }
  Finish(batch, batch.size(), st.ok() ? nullptr : &st);
}

void Writer::AbortTransaction() {
  (void)conn_->ExecScript("ROLLBACK");
  cache_.Clear();
}

absl::Status Writer::TryBatch(std::vector<Op*>& batch) {
  Connection& c = *conn_;
  TA_RETURN_IF_ERROR(c.Run("BEGIN"));
  for (Op* op : batch) {
    absl::Status st = c.Run("SAVEPOINT op");
    if (st.ok()) {
      WriteCtx ctx(&c, clock_.Now(), &last_audit_time_, &cache_);
      st = Run(op, ctx);
      // An aborted or lost transaction fails the whole batch (retried when
      // aborted).
      if (absl::IsAborted(st) || absl::IsUnavailable(st)) {
        AbortTransaction();
        return st;
      }
      if (st.ok()) {
        st = c.Run("RELEASE SAVEPOINT op");
      } else {
        // Rows the operation saw may be gone with its savepoint.
        cache_.Clear();
        absl::Status rb = c.Run("ROLLBACK TO SAVEPOINT op");
        if (!rb.ok()) {
          AbortTransaction();
          return rb;
        }
      }
    }
    op->status = st;
  }
  absl::Status commit = c.Run("COMMIT");
  if (!commit.ok()) {
    if (!c.Idle()) (void)c.ExecScript("ROLLBACK");
    cache_.Clear();
    return absl::Status(commit.code(),
                        absl::StrCat("commit: ", commit.message()));
  }
  return absl::OkStatus();
}

}  // namespace token_authority::storage::pg

#include "storage/pg_writer.h"

#include <semaphore.h>

#include <algorithm>
#include <cassert>
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

absl::StatusOr<int64_t> WriteCtx::OrgNo(absl::string_view id) {
  if (id.empty()) return 0;
  auto it = org_cache_->find(std::string(id));
  if (it != org_cache_->end()) return it->second;
  TA_ASSIGN_OR_RETURN(int64_t no, LookupOrgNo(conn, id));
  org_cache_->emplace(std::string(id), no);
  return no;
}

struct Writer::Op {
  WriteFn fn;
  absl::Status status;
  DoneFn done;  // WriteAsync: completed on the completion thread
  Op() { sem_init(&posted, 0, 0); }
  ~Op() { sem_destroy(&posted); }
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  void Notify() { sem_post(&posted); }
  void Wait() {
    while (sem_wait(&posted) != 0) {
    }
  }
  sem_t posted;
};

Writer::Writer(std::unique_ptr<Connection> conn, const Clock& clock,
               int max_batch_size, int64_t last_audit_time)
    : conn_(std::move(conn)),
      clock_(clock),
      max_batch_size_(max_batch_size),
      last_audit_time_(last_audit_time) {}

Writer::~Writer() { Stop(); }

void Writer::Start() {
  writer_loop_.Start("ta-pg-writer", absl::InfiniteDuration(),
                     [this] { DrainQueue(); });
  completion_loop_.Start("ta-pg-complete", absl::InfiniteDuration(),
                         [this] { CompleteQueued(); });
}

void Writer::Stop() {
  {
    MutexLock lock(&queue_mu_);
    closed_ = true;
  }
  writer_loop_.Stop();
  completion_loop_.Stop();
}

bool Writer::Enqueue(Op* op) {
  MutexLock lock(&queue_mu_);
  if (closed_) return false;
  const bool wake = queue_.empty();
  queue_.push_back(op);
  if (wake) writer_loop_.Wake();
  return true;
}

absl::Status Writer::Write(WriteFn fn) {
  Op op;
  op.fn = std::move(fn);
  if (!Enqueue(&op)) return absl::UnavailableError("token store is shut down");
  op.Wait();
  return op.status;
}

void Writer::WriteAsync(WriteFn fn, DoneFn done) {
  assert(done != nullptr);
  auto op = std::make_unique<Op>();
  op->fn = std::move(fn);
  op->done = std::move(done);
  Op* raw = op.release();
  if (Enqueue(raw)) return;
  op.reset(raw);
  op->done(absl::UnavailableError("token store is shut down"));
}

void Writer::DrainQueue() {
  std::vector<Op*> batch;
  while (true) {
    batch.clear();
    {
      MutexLock lock(&queue_mu_);
      while (!queue_.empty() &&
             static_cast<int>(batch.size()) < max_batch_size_) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (batch.empty()) return;
    RunBatch(batch);
  }
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
    if (st.ok()) st = TryBatch(batch);
    if (!absl::IsAborted(st)) break;
  }
  if (!st.ok()) {
    for (Op* op : batch) op->status = st;
  }
  Finish(batch);
}

absl::Status Writer::TryBatch(std::vector<Op*>& batch) {
  Connection& c = *conn_;
  TA_RETURN_IF_ERROR(c.Run("BEGIN"));
  for (Op* op : batch) {
    absl::Status st = c.Run("SAVEPOINT op");
    if (st.ok()) {
      WriteCtx ctx(&c, clock_.Now(), &last_audit_time_, &org_cache_);
      st = op->fn(ctx);
      // An aborted or lost transaction fails the whole batch (retried when
      // aborted).
      if (absl::IsAborted(st) || absl::IsUnavailable(st)) {
        (void)c.ExecScript("ROLLBACK");
        org_cache_.clear();
        return st;
      }
      if (st.ok()) {
        st = c.Run("RELEASE SAVEPOINT op");
      } else {
        absl::Status rb = c.Run("ROLLBACK TO SAVEPOINT op");
        if (!rb.ok()) {
          (void)c.ExecScript("ROLLBACK");
          org_cache_.clear();
          return rb;
        }
      }
    }
    op->status = st;
  }
  absl::Status commit = c.Run("COMMIT");
  if (!commit.ok()) {
    if (!c.Idle()) (void)c.ExecScript("ROLLBACK");
    org_cache_.clear();
    return absl::Status(commit.code(),
                        absl::StrCat("commit: ", commit.message()));
  }
  return absl::OkStatus();
}

void Writer::Finish(std::vector<Op*>& batch) {
  std::vector<Op*> completions;
  for (Op* op : batch) {
    if (op->done) {
      completions.push_back(op);
    } else {
      op->Notify();  // the caller may destroy `op` from here on
    }
  }
  if (completions.empty()) return;
  bool wake;
  {
    MutexLock lock(&completion_mu_);
    wake = completion_queue_.empty();
    completion_queue_.insert(completion_queue_.end(), completions.begin(),
                             completions.end());
  }
  if (wake) completion_loop_.Wake();
}

void Writer::CompleteQueued() {
  std::vector<Op*> completing;
  while (true) {
    {
      MutexLock lock(&completion_mu_);
      if (completion_queue_.empty()) return;
      completing.swap(completion_queue_);
    }
    for (Op* raw : completing) {
      std::unique_ptr<Op> op(raw);
      op->done(op->status);
    }
    completing.clear();
  }
}

}  // namespace token_authority::storage::pg

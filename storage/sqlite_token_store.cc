#include "storage/sqlite_token_store.h"

#include <semaphore.h>
#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "storage/page_token.h"
#include "storage/record_validation.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "storage/token_queries.h"
#include "storage/wal_buffer_vfs.h"
#include "base/status_macros.h"
#include "base/thread_name.h"

namespace token_authority::storage {
namespace {

using sqlite::BoundQuery;
using sqlite::Connection;
using sqlite::ConnectionOptions;
using sqlite::Statement;

constexpr absl::string_view kKekCheckPlaintext = "token-authority kek check v1";
constexpr absl::string_view kKekCheckAad = "token-authority/kek-check";

// Associated data binding a sealed signing key to its organisation and kid.
std::string SigningKeyAad(absl::string_view org_id, absl::string_view kid) {
  return absl::StrCat("token-authority/signing-key", absl::string_view("\0", 1),
                      org_id, absl::string_view("\0", 1), kid);
}

absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

std::optional<absl::Time> OptionalMicros(const Statement& s, int col) {
  if (s.IsNull(col)) return std::nullopt;
  return FromMicros(s.Int64(col));
}

int64_t FloorSeconds(absl::Time t) {
  return absl::ToInt64Seconds(
      absl::Floor(t - absl::UnixEpoch(), absl::Seconds(1)));
}

// Prefixes a status message with context, keeping the code.
absl::Status Annotate(const absl::Status& st, absl::string_view context) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(context, ": ", st.message()));
}

Token ReadToken(const Statement& s) {
  Token t;
  t.id = EncodeTokenId(s.Blob(1));
  t.organization_id = s.String(2);
  t.target_kind = static_cast<TargetKind>(s.Int64(3));
  switch (t.target_kind) {
    case TargetKind::kStreamGroup:
      t.stream_group_id = s.String(4);
      break;
    case TargetKind::kStreams:
      t.streams = absl::StrSplit(s.Text(4), ',', absl::SkipEmpty());
      break;
    case TargetKind::kOrganization:
      break;
  }
  t.issued_at = absl::FromUnixSeconds(s.Int64(5));
  t.not_before = absl::FromUnixSeconds(s.IsNull(6) ? s.Int64(5) : s.Int64(6));
  t.expires_at = absl::FromUnixSeconds(s.Int64(7));
  t.key_id = s.String(8);
  t.algorithm = s.String(9);
  t.jwt_sha256 = std::string(s.Blob(10));
  t.issued_by = s.String(11);
  t.user_id = s.String(12);
  t.tag = s.String(13);
  t.client_ip = s.String(14);
  t.domain = s.String(15);
  t.request_id = s.String(16);
  t.spec_fingerprint = std::string(s.Blob(17));
  t.revoked_at = OptionalMicros(s, 18);
  t.revocation_sequence = s.IsNull(19) ? 0 : s.Int64(19);
  t.revocation_reason = s.String(20);
  return t;
}

AuditEvent ReadAudit(const Statement& s) {
  AuditEvent e;
  e.id = s.Int64(0);
  e.time = FromMicros(s.Int64(1));
  e.action = static_cast<AuditAction>(s.Int64(2));
  e.actor = s.String(3);
  e.organization_id = s.String(4);
  if (!s.IsNull(5)) e.token_id = EncodeTokenId(s.Blob(5));
  e.tag = s.String(6);
  e.user_id = s.String(7);
  e.request_id = s.String(8);
  e.detail = s.String(9);
  return e;
}

constexpr char kOrgColumns[] =
    "id, name, secure_enabled, created_at, updated_at";

Organization ReadOrganization(const Statement& s) {
  Organization o;
  o.id = s.String(0);
  o.name = s.String(1);
  o.secure_enabled = s.Int64(2) != 0;
  o.created_at = FromMicros(s.Int64(3));
  o.updated_at = FromMicros(s.Int64(4));
  return o;
}

constexpr char kApiKeyColumns[] =
    "k.id, o.id, k.role, k.name, k.secret_hash, k.created_at, k.revoked_at, "
    "k.last_used_at FROM api_keys k CROSS JOIN organizations o ON o.no = "
    "k.org_no";

ApiKey ReadApiKey(const Statement& s) {
  ApiKey k;
  k.id = s.String(0);
  k.organization_id = s.String(1);
  k.role = static_cast<ApiKeyRole>(s.Int64(2));
  k.name = s.String(3);
  k.secret_hash = std::string(s.Blob(4));
  k.created_at = FromMicros(s.Int64(5));
  k.revoked_at = OptionalMicros(s, 6);
  k.last_used_at = OptionalMicros(s, 7);
  return k;
}

constexpr char kSigningKeyColumns[] =
    "o.id, k.kid, k.algorithm, k.state, k.created_at, k.retired_at, "
    "k.sealed_key FROM signing_keys k CROSS JOIN organizations o ON o.no = "
    "k.org_no";

// Fills every field but private_key; returns the sealed bytes.
std::string ReadSigningKey(const Statement& s, SigningKey* k) {
  k->organization_id = s.String(0);
  k->kid = s.String(1);
  k->algorithm = s.String(2);
  k->state = static_cast<SigningKeyState>(s.Int64(3));
  k->created_at = FromMicros(s.Int64(4));
  k->retired_at = OptionalMicros(s, 5);
  return std::string(s.Blob(6));
}

// Read connections: a small pool, each connection used by one thread at a
// time with its own statement cache.
class ReadPool {
 public:
  ReadPool(std::string path, ConnectionOptions options, int keep, int cache_kib)
      : path_(std::move(path)),
        options_(std::move(options)),
        keep_(keep),
        cache_kib_(cache_kib) {}

  class Lease {
   public:
    Lease(ReadPool* pool, std::unique_ptr<Connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->Return(std::move(conn_));
    }
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }

   private:
    ReadPool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  absl::StatusOr<Lease> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Connection> c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(c));
      }
    }
    ConnectionOptions opts = options_;
    opts.create = false;
    TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                        Connection::Open(path_, opts));
    TA_RETURN_IF_ERROR(conn->Exec(absl::StrCat(
        "PRAGMA query_only = 1; PRAGMA cache_size = -", cache_kib_)));
    return Lease(this, std::move(conn));
  }

 private:
  void Return(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int>(idle_.size()) < keep_)
      idle_.push_back(std::move(conn));
  }

  const std::string path_;
  const ConnectionOptions options_;
  const int keep_;
  const int cache_kib_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

// Id -> row number lookups the writer repeats for nearly every operation.
// The mapped rows are never deleted and their keys never change, but a row
// seen inside a transaction that is later rolled back may vanish: the
// writer clears the cache on every rollback. Writer thread only.
struct WriterCache {
  std::unordered_map<std::string, int64_t> orgs;
  std::unordered_map<std::string, int64_t> api_keys;
  std::map<std::pair<int64_t, std::string>, std::pair<int64_t, std::string>>
      signing_keys;  // (org_no, kid) -> (no, algorithm)

  void Clear() {
    orgs.clear();
    api_keys.clear();
    signing_keys.clear();
  }
};

absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id) {
  if (id.empty()) return 0;
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("SELECT no FROM organizations WHERE id = ?1 AND no != 0"));
  s.BindText(1, id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("organization ", id, " not found"));
  }
  return s.Int64(0);
}

absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field) {
  if (id.empty()) return std::optional<int64_t>();
  TA_ASSIGN_OR_RETURN(Statement s,
                      c.Prepare("SELECT no FROM api_keys WHERE id = ?1"));
  s.BindText(1, id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": unknown API key ", id));
  }
  return std::optional<int64_t>(s.Int64(0));
}

// What an operation sees inside the writer's transaction.
class WriteCtx {
 public:
  WriteCtx(Connection* conn, absl::Time now, int64_t* last_audit_time,
           WriterCache* cache)
      : conn(*conn),
        now(now),
        last_audit_time_(last_audit_time),
        cache_(cache) {}

  Connection& conn;
  const absl::Time now;

  // Cached LookupOrgNo / LookupApiKeyNo.
  absl::StatusOr<int64_t> OrgNo(absl::string_view id) {
    if (id.empty()) return 0;
    auto it = cache_->orgs.find(std::string(id));
    if (it != cache_->orgs.end()) return it->second;
    TA_ASSIGN_OR_RETURN(int64_t no, LookupOrgNo(conn, id));
    cache_->orgs.emplace(std::string(id), no);
    return no;
  }
  absl::StatusOr<std::optional<int64_t>> ApiKeyNo(absl::string_view id,
                                                  absl::string_view field) {
    if (id.empty()) return std::optional<int64_t>();
    auto it = cache_->api_keys.find(std::string(id));
    if (it != cache_->api_keys.end()) {
      return std::optional<int64_t>(it->second);
    }
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> no,
                        LookupApiKeyNo(conn, id, field));
    cache_->api_keys.emplace(std::string(id), *no);
    return no;
  }
  WriterCache& cache() { return *cache_; }

  int64_t NowMicros() const { return absl::ToUnixMicros(now); }
  // Audit times never decrease.
  int64_t AuditTime() {
    *last_audit_time_ = std::max(*last_audit_time_, NowMicros());
    return *last_audit_time_;
  }

 private:
  int64_t* last_audit_time_;
  WriterCache* cache_;
};

using WriteFn = std::function<absl::Status(WriteCtx&)>;

struct WriteOp {
  WriteFn fn;
  absl::Status status;
  // Set for WriteAsync: called with `status` after the batch, on the
  // completion thread, which then deletes the operation; nobody waits on
  // `posted`.
  std::function<void(const absl::Status&)> done;
  // Callers of the same batch this caller wakes once woken itself, so that
  // the writer wakes only the first one and goes on with the next batch:
  // a wake-up is a system call, and the writer is the bottleneck. Set by the
  // writer before it wakes anyone; they wait until this caller wakes them.
  WriteOp* wake_next[2] = {nullptr, nullptr};
  // Posted by the writer (Notify) after `status`; the caller waits for it.
  // A semaphore, not a mutex and condition variable: the woken caller does
  // not have to take a mutex the waker may still hold (and be preempted
  // with), and POSIX lets the caller destroy it as soon as sem_wait
  // returned, while sem_post may still be returning. ThreadSanitizer sees
  // sem_post/sem_wait as release/acquire.
  WriteOp() { sem_init(&posted, /*pshared=*/0, /*value=*/0); }
  ~WriteOp() { sem_destroy(&posted); }
  WriteOp(const WriteOp&) = delete;
  WriteOp& operator=(const WriteOp&) = delete;
  void Notify() { sem_post(&posted); }
  void Wait() {
    while (sem_wait(&posted) != 0) {
      // EINTR: a signal handler ran; wait on.
    }
  }
  sem_t posted;
};

struct AuditRow {
  AuditRow(AuditAction a, int64_t org) : action(a), org_no(org) {}
  AuditAction action;
  int64_t org_no = 0;
  std::optional<int64_t> actor_no;
  std::string token_id_bytes;
  std::string tag;
  std::string user_id;
  std::string request_id;
  std::string detail;
};

class SqliteTokenStoreImpl final : public SqliteTokenStore {
 public:
  SqliteTokenStoreImpl(SqliteTokenStoreOptions options,
                       std::unique_ptr<sqlite::WalBufferVfs> wal_vfs,
                       std::unique_ptr<Connection> writer,
                       std::unique_ptr<Connection> checkpointer,
                       KeyEncryptionKey kek, int64_t last_audit_time)
      : options_(std::move(options)),
        clock_(*options_.clock),
        random_(*options_.random),
        kek_(std::move(kek)),
        wal_vfs_(std::move(wal_vfs)),
        writer_conn_(std::move(writer)),
        last_audit_time_(last_audit_time),
        ckpt_conn_(std::move(checkpointer)),
        readers_(options_.path,
                 ConnectionOptions{options_.vfs, options_.busy_timeout, false},
                 options_.read_pool_size, options_.reader_cache_kib) {}

  ~SqliteTokenStoreImpl() override { (void)Shutdown(); }

  void Start() {
    // Our WAL hook replaces SQLite's automatic checkpoint: checkpoints run
    // on their own connection and thread, off the writer's critical path.
    sqlite3_wal_hook(writer_conn_->db(), &WalHook, this);
    writer_thread_ = StartNamedThread("ta-writer", [this] { WriterLoop(); });
    completion_thread_ =
        StartNamedThread("ta-completion", [this] { CompletionLoop(); });
    checkpoint_thread_ =
        StartNamedThread("ta-checkpoint", [this] { CheckpointLoop(); });
    maintenance_thread_ =
        StartNamedThread("ta-store-maint", [this] { MaintenanceLoop(); });
  }

  // --- TokenStore ---------------------------------------------------------
  absl::StatusOr<Organization> CreateOrganization(
      const Organization& org, const AuditContext& audit) override;
  absl::StatusOr<Organization> UpdateOrganization(
      absl::string_view organization_id, const OrganizationUpdate& update,
      const AuditContext& audit) override;
  absl::StatusOr<Organization> GetOrganization(
      absl::string_view organization_id) override;
  absl::StatusOr<Page<Organization>> ListOrganizations(
      const PageRequest& page) override;
  absl::StatusOr<std::vector<Organization>> ListAllOrganizations() override;

  absl::StatusOr<ApiKey> CreateApiKey(const ApiKey& key,
                                      const AuditContext& audit) override;
  absl::StatusOr<ApiKey> RevokeApiKey(absl::string_view api_key_id,
                                      const AuditContext& audit) override;
  absl::Status TouchApiKey(absl::string_view api_key_id,
                           absl::Time at) override;
  absl::StatusOr<ApiKey> GetApiKey(absl::string_view api_key_id) override;
  absl::StatusOr<ApiKey> FindApiKeyBySecretHash(
      absl::string_view secret_hash) override;
  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(
      absl::string_view organization_id, bool include_revoked) override;

  absl::StatusOr<InsertTokenResult> InsertToken(
      const Token& token, const AuditContext& audit) override;
  void InsertTokenAsync(const Token& token, const AuditContext& audit,
                        InsertTokenDone done) override;
  absl::StatusOr<Token> GetToken(absl::string_view organization_id,
                                 absl::string_view token_id) override;
  absl::StatusOr<Token> FindTokenById(absl::string_view token_id) override;
  absl::StatusOr<Page<Token>> ListTokens(absl::string_view organization_id,
                                         const TokenFilter& filter,
                                         const PageRequest& page) override;
  absl::StatusOr<int64_t> CountTokens(absl::string_view organization_id,
                                      const TokenFilter& filter) override;
  absl::StatusOr<Token> RevokeToken(absl::string_view organization_id,
                                    absl::string_view token_id,
                                    absl::string_view reason,
                                    const AuditContext& audit) override;
  absl::StatusOr<RevokeTokensResult> RevokeTokens(
      absl::string_view organization_id, const RevokeFilter& filter,
      absl::string_view reason, bool dry_run,
      const AuditContext& audit) override;

  absl::StatusOr<std::vector<RevocationEvent>> ListRevocationsSince(
      int64_t after_sequence, int limit) override;
  absl::StatusOr<std::vector<RevocationEvent>> ListActiveRevocations(
      absl::Time now) override;
  absl::StatusOr<int64_t> MaxRevocationSequence() override;

  absl::StatusOr<SigningKey> InsertSigningKey(
      const SigningKey& key, const AuditContext& audit) override;
  absl::StatusOr<SigningKey> RotateSigningKey(
      const SigningKey& new_key, const AuditContext& audit) override;
  absl::StatusOr<SigningKey> RetireSigningKey(
      absl::string_view organization_id, absl::string_view kid,
      const AuditContext& audit) override;
  absl::StatusOr<std::vector<SigningKey>> ListSigningKeys(
      absl::string_view organization_id) override;
  absl::StatusOr<std::vector<SigningKey>> ListAllSigningKeys() override;

  absl::StatusOr<Page<AuditEvent>> ListAuditEvents(
      absl::string_view organization_id, const AuditFilter& filter,
      const PageRequest& page) override;

  absl::Status Shutdown() override;

  // --- SqliteTokenStore ---------------------------------------------------
  absl::StatusOr<int64_t> RunRetentionSweep() override;
  absl::Status FlushTouches() override;
  absl::Status CheckIntegrity() override;
  absl::StatusOr<int64_t> DiskUsage() override;
  WriterStats GetWriterStats() override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

 private:
  // Queues `fn` for the writer and waits until its batch committed (or
  // failed). Unavailable once the store is shut down.
  absl::Status Write(WriteFn fn);
  // Queues `fn` for the writer and returns; `done` (non-empty) gets what
  // Write would have returned once the batch committed (or failed), on the
  // completion thread; Unavailable on this thread once the store is shut
  // down.
  void WriteAsync(WriteFn fn, std::function<void(const absl::Status&)> done);
  void WriterLoop();
  void CompletionLoop();
  void RunBatch(std::vector<WriteOp*>& batch);
  void MaintenanceLoop();
  void CheckpointLoop();
  // Called by SQLite on the writer thread after each commit with the number
  // of frames in the WAL.
  static int WalHook(void* arg, sqlite3* db, const char* name, int frames);

  // Lookups usable on any connection.
  static absl::StatusOr<int64_t> OrgNo(Connection& c, absl::string_view id) {
    return LookupOrgNo(c, id);
  }
  static absl::Status InsertAudit(WriteCtx& ctx, const AuditRow& row);
  struct TokenInsert;
  static absl::StatusOr<std::unique_ptr<TokenInsert>> PrepareTokenInsert(
      const Token& token, const AuditContext& audit);
  static absl::Status RunTokenInsert(WriteCtx& ctx, TokenInsert& ins);
  static absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no);
  absl::StatusOr<SigningKey> ReadSigningKeyRow(Connection& c, int64_t org_no,
                                               absl::string_view kid);
  // Revokes token `no` in the writer's transaction; returns the sequence.
  static absl::StatusOr<int64_t> RevokeRow(WriteCtx& ctx, int64_t no,
                                           int64_t org_no,
                                           absl::string_view id_bytes,
                                           int64_t expires_at,
                                           absl::string_view reason);
  absl::StatusOr<SigningKey> InsertKeyRow(WriteCtx& ctx, const SigningKey& key,
                                          int64_t org_no,
                                          SigningKeyState state);
  absl::StatusOr<int64_t> SweepBatch();
  absl::Status AuditFromContext(const AuditContext& audit, AuditRow* row,
                                WriteCtx& ctx);

  const SqliteTokenStoreOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  const KeyEncryptionKey kek_;

  // Writer thread state. The writer's VFS shim (null unless synchronous is
  // FULL or EXTRA) outlives its connection.
  std::unique_ptr<sqlite::WalBufferVfs> wal_vfs_;
  std::unique_ptr<Connection> writer_conn_;
  int64_t last_audit_time_;     // writer thread only
  WriterCache cache_;           // writer thread only
  int last_wal_frames_ = 0;     // writer thread only (WAL hook)
  int next_checkpoint_at_ = 0;  // writer thread only (WAL hook)

  // std::mutex rather than absl::Mutex throughout: the distribution's
  // abseil is not built for ThreadSanitizer, which then cannot see its
  // locks; libstdc++'s mutexes it intercepts.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<WriteOp*> queue_;  // guarded by queue_mu_
  // RunBatch's lists of callers to wake and of operations to complete
  // (writer thread only; kept to reuse their memory).
  std::vector<WriteOp*> wake_scratch_;
  std::vector<WriteOp*> completion_scratch_;
  bool writer_closed_ = false;  // guarded by queue_mu_
  std::thread writer_thread_;

  // Completes WriteAsync's operations, off the writer: their callbacks may
  // take locks that threads waiting on the writer hold, or run gRPC work
  // (a reply's Finish may run other calls' handlers inline), and must not
  // delay the next commit. The writer hands over a batch with one wake-up.
  std::mutex completion_mu_;
  std::condition_variable completion_cv_;
  std::vector<WriteOp*> completion_queue_;  // guarded by completion_mu_
  bool completion_stop_ = false;            // guarded by completion_mu_
  std::thread completion_thread_;

  // Checkpointer.
  std::unique_ptr<Connection> ckpt_conn_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;  // guarded by ckpt_mu_
  bool ckpt_stop_ = false;    // guarded by ckpt_mu_
  std::thread checkpoint_thread_;

  std::mutex maint_mu_;
  std::condition_variable maint_cv_;
  bool maint_stop_ = false;  // guarded by maint_mu_
  std::thread maintenance_thread_;

  std::mutex touch_mu_;
  std::map<std::string, int64_t> pending_touches_;  // guarded by touch_mu_

  std::mutex stats_mu_;
  WriterStats stats_;  // guarded by stats_mu_

  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_

  ReadPool readers_;
};

// --------------------------------------------------------------------------
// Writer.
// --------------------------------------------------------------------------

void SqliteTokenStoreImpl::WriteAsync(
    WriteFn fn, std::function<void(const absl::Status&)> done) {
  assert(done != nullptr);  // an empty one would be taken for a waiter
  auto op = std::make_unique<WriteOp>();
  op->fn = std::move(fn);
  op->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!writer_closed_) {
      queue_.push_back(op.release());  // the writer deletes it
    }
  }
  if (op == nullptr) {
    queue_cv_.notify_one();
    return;
  }
  op->done(absl::UnavailableError("token store is shut down"));
}

absl::Status SqliteTokenStoreImpl::Write(WriteFn fn) {
  WriteOp op;
  op.fn = std::move(fn);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (writer_closed_) {
      return absl::UnavailableError("token store is shut down");
    }
    queue_.push_back(&op);
  }
  queue_cv_.notify_one();
  op.Wait();
  // Pass the wake-up on (see WriteOp::wake_next); `op` is gone once we
  // return, theirs not before they are woken.
  for (WriteOp* next : op.wake_next) {
    if (next != nullptr) next->Notify();
  }
  return op.status;
}

void SqliteTokenStoreImpl::WriterLoop() {
  std::vector<WriteOp*> batch;
  while (true) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock,
                     [this] { return !queue_.empty() || writer_closed_; });
      if (queue_.empty()) return;  // closed and drained
      while (!queue_.empty() &&
             static_cast<int>(batch.size()) < options_.max_batch_size) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    RunBatch(batch);
  }
}

void SqliteTokenStoreImpl::CompletionLoop() {
  std::vector<WriteOp*> ops;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(completion_mu_);
      completion_cv_.wait(lock, [this] {
        return !completion_queue_.empty() || completion_stop_;
      });
      if (completion_queue_.empty()) return;  // stopped and drained
      ops.swap(completion_queue_);
    }
    for (WriteOp* raw : ops) {
      std::unique_ptr<WriteOp> op(raw);
      op->done(op->status);
    }
    ops.clear();
  }
}

void SqliteTokenStoreImpl::RunBatch(std::vector<WriteOp*>& batch) {
  Connection& conn = *writer_conn_;
  auto finish = [&](size_t from, size_t to, const absl::Status* override) {
    int64_t failed = 0;
    for (size_t i = from; i < to; ++i) {
      if (override != nullptr) batch[i]->status = *override;
      if (!batch[i]->status.ok()) ++failed;
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.operations += static_cast<int64_t>(to - from);
      stats_.failed_operations += failed;
    }
    // Notify last: a caller may destroy its operation as soon as it wakes.
    // The waiting callers wake each other as a binary tree rooted at the
    // first (log2(batch) wake-ups deep), keeping the writer's share at one.
    // Asynchronous operations are completed here, after that wake-up.
    std::vector<WriteOp*>& waiters = wake_scratch_;
    std::vector<WriteOp*>& completions = completion_scratch_;
    waiters.clear();
    completions.clear();
    for (size_t i = from; i < to; ++i) {
      (batch[i]->done ? completions : waiters).push_back(batch[i]);
    }
    for (size_t k = 0; k < waiters.size(); ++k) {
      for (size_t c = 0; c < 2; ++c) {
        const size_t child = 2 * k + 1 + c;
        waiters[k]->wake_next[c] =
            child < waiters.size() ? waiters[child] : nullptr;
      }
    }
    if (!waiters.empty()) waiters.front()->Notify();
    if (!completions.empty()) {
      bool wake;
      {
        std::lock_guard<std::mutex> lock(completion_mu_);
        wake = completion_queue_.empty();
        completion_queue_.insert(completion_queue_.end(), completions.begin(),
                                 completions.end());
      }
      if (wake) completion_cv_.notify_one();
    }
  };
  auto run = [&](absl::string_view sql) -> absl::Status {
    TA_ASSIGN_OR_RETURN(Statement s, conn.Prepare(sql));
    return s.Run();
  };

  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.transactions;
  }
  absl::Status begin = run("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    const absl::Status st = Annotate(begin, "begin write transaction");
    finish(0, batch.size(), &st);
    return;
  }
  size_t i = 0;
  for (; i < batch.size(); ++i) {
    WriteOp* op = batch[i];
    absl::Status sp = run("SAVEPOINT op");
    if (!sp.ok()) break;
    WriteCtx ctx(&conn, clock_.Now(), &last_audit_time_, &cache_);
    absl::Status st = op->fn(ctx);
    if (!conn.InTransaction()) {
      // SQLite rolled the whole transaction back (e.g. disk full, I/O
      // error): every operation of the batch so far is lost. Fail them
      // with the cause; the rest go back to the front of the queue.
      const absl::Status cause =
          st.ok() ? absl::UnavailableError("write transaction rolled back")
                  : st;
      cache_.Clear();
      finish(0, i + 1, &cause);
      std::lock_guard<std::mutex> lock(queue_mu_);
      for (size_t j = batch.size(); j > i + 1; --j) {
        queue_.push_front(batch[j - 1]);
      }
      return;
    }
    if (st.ok()) {
      st = run("RELEASE op");
    }
    if (!st.ok()) {
      cache_.Clear();
      absl::Status rb = run("ROLLBACK TO op");
      if (rb.ok()) rb = run("RELEASE op");
      if (!rb.ok()) {
        // Cannot isolate this operation: give up on the whole batch.
        (void)conn.Exec("ROLLBACK");
        const absl::Status cause = Annotate(rb, "rollback of one operation");
        finish(0, batch.size(), &cause);
        return;
      }
    }
    op->status = st;
  }
  if (i < batch.size()) {
    // A SAVEPOINT failed: abort the batch.
    (void)conn.Exec("ROLLBACK");
    cache_.Clear();
    const absl::Status cause =
        absl::UnavailableError("write transaction failed to open a savepoint");
    finish(0, batch.size(), &cause);
    return;
  }
  absl::Status commit = run("COMMIT");
  if (!commit.ok()) {
    if (conn.InTransaction()) (void)conn.Exec("ROLLBACK");
    cache_.Clear();
    const absl::Status cause = Annotate(commit, "commit");
    for (WriteOp* op : batch) {
      if (op->status.ok()) op->status = cause;
    }
  }
  finish(0, batch.size(), nullptr);
}

int SqliteTokenStoreImpl::WalHook(void* arg, sqlite3* db, const char* name,
                                  int frames) {
  auto* self = static_cast<SqliteTokenStoreImpl*>(arg);
  {
    std::lock_guard<std::mutex> lock(self->stats_mu_);
    self->stats_.wal_frames = frames;
  }
  // Wake the checkpointer each time the WAL grew by checkpoint_frames since
  // the last wake-up (or since it was restarted from the beginning).
  {
    std::lock_guard<std::mutex> lock(self->stats_mu_);
    self->stats_.wal_frames_written += frames >= self->last_wal_frames_
                                           ? frames - self->last_wal_frames_
                                           : frames;
  }
  if (frames < self->last_wal_frames_) self->next_checkpoint_at_ = 0;
  self->last_wal_frames_ = frames;
  if (frames >= self->next_checkpoint_at_ + self->options_.checkpoint_frames) {
    self->next_checkpoint_at_ = frames;
    {
      std::lock_guard<std::mutex> lock(self->ckpt_mu_);
      self->ckpt_wanted_ = true;
    }
    self->ckpt_cv_.notify_one();
  }
  if (frames >= 4 * self->options_.checkpoint_frames) {
    // The background checkpoint cannot keep up: bound the WAL by
    // checkpointing here, on the writer (what SQLite's autocheckpoint does).
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
    std::lock_guard<std::mutex> lock(self->stats_mu_);
    ++self->stats_.writer_checkpoints;
  }
  return SQLITE_OK;
}

void SqliteTokenStoreImpl::CheckpointLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(ckpt_mu_);
      ckpt_cv_.wait(lock, [this] { return ckpt_wanted_ || ckpt_stop_; });
      if (ckpt_stop_) return;
      ckpt_wanted_ = false;
    }
    // PASSIVE never blocks the writer or readers; frames written meanwhile
    // are left for the next round.
    const int rc = sqlite3_wal_checkpoint_v2(
        ckpt_conn_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    std::lock_guard<std::mutex> lock(stats_mu_);
    if (rc == SQLITE_OK) ++stats_.checkpoints;
  }
}

void SqliteTokenStoreImpl::MaintenanceLoop() {
  // Paced by timed waits only: no clock is read here. Record times come from
  // the injected clock inside the operations.
  const bool sweep = options_.sweep_interval > absl::ZeroDuration();
  const absl::Duration tick =
      sweep ? std::min(options_.touch_flush_interval, options_.sweep_interval)
            : options_.touch_flush_interval;
  absl::Duration since_touch;
  absl::Duration since_sweep;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(maint_mu_);
      maint_cv_.wait_for(
          lock, std::chrono::microseconds(absl::ToInt64Microseconds(tick)),
          [this] { return maint_stop_; });
      if (maint_stop_) return;
    }
    since_touch += tick;
    since_sweep += tick;
    if (since_touch >= options_.touch_flush_interval) {
      (void)FlushTouches();
      since_touch = absl::ZeroDuration();
    }
    if (sweep && since_sweep >= options_.sweep_interval) {
      (void)RunRetentionSweep();
      since_sweep = absl::ZeroDuration();
    }
  }
}

absl::Status SqliteTokenStoreImpl::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shut_down_) return absl::OkStatus();
    shut_down_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(maint_mu_);
    maint_stop_ = true;
  }
  maint_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  absl::Status touches = FlushTouches();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    writer_closed_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  // The writer is done: every asynchronous operation is queued for
  // completion. Run them all, then stop.
  {
    std::lock_guard<std::mutex> lock(completion_mu_);
    completion_stop_ = true;
  }
  completion_cv_.notify_all();
  if (completion_thread_.joinable()) completion_thread_.join();
  {
    std::lock_guard<std::mutex> lock(ckpt_mu_);
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  return touches;
}

// --------------------------------------------------------------------------
// Shared helpers.
// --------------------------------------------------------------------------

absl::Status SqliteTokenStoreImpl::InsertAudit(WriteCtx& ctx,
                                               const AuditRow& row) {
  TA_ASSIGN_OR_RETURN(
      Statement s,
      ctx.conn.Prepare("INSERT INTO audit_events(time, action, org_no, "
                       "actor_no, token_id, tag, user_id, request_id, detail) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  s.BindInt64(1, ctx.AuditTime());
  s.BindInt64(2, static_cast<int64_t>(row.action));
  s.BindInt64(3, row.org_no);
  s.BindOptionalInt64(4, row.actor_no);
  s.BindBlobOrNull(5, row.token_id_bytes);
  s.BindTextOrNull(6, row.tag);
  s.BindTextOrNull(7, row.user_id);
  s.BindTextOrNull(8, row.request_id);
  s.BindTextOrNull(9, row.detail);
  return s.Run();
}

absl::Status SqliteTokenStoreImpl::AuditFromContext(const AuditContext& audit,
                                                    AuditRow* row,
                                                    WriteCtx& ctx) {
  TA_ASSIGN_OR_RETURN(row->actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  row->request_id = audit.request_id;
  if (!audit.detail.empty()) row->detail = audit.detail;
  return absl::OkStatus();
}

absl::StatusOr<Token> SqliteTokenStoreImpl::ReadTokenByNo(Connection& c,
                                                          int64_t no) {
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare(absl::StrCat("SELECT ", sqlite::kTokenColumns, " FROM tokens t",
                             sqlite::kTokenJoins, " WHERE t.no = ?1")));
  s.BindInt64(1, no);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("token row vanished");
  return ReadToken(s);
}

// --------------------------------------------------------------------------
// Organisations.
// --------------------------------------------------------------------------

absl::StatusOr<Organization> SqliteTokenStoreImpl::CreateOrganization(
    const Organization& org, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganization(org));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  Organization out = org;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("INSERT INTO organizations(id, name, "
                           "secure_enabled, created_at, updated_at) VALUES "
                           "(?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO NOTHING"));
      s.BindText(1, org.id);
      s.BindText(2, org.name);
      s.BindInt64(3, org.secure_enabled ? 1 : 0);
      s.BindInt64(4, ctx.NowMicros());
      TA_RETURN_IF_ERROR(s.Run());
    }
    if (ctx.conn.Changes() == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("organization ", org.id, " already exists"));
    }
    const int64_t no = ctx.conn.LastInsertRowId();
    AuditRow row{AuditAction::kOrganizationCreated, no};
    row.detail =
        absl::StrCat("name=", org.name,
                     " secure_enabled=", org.secure_enabled ? "true" : "false");
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.created_at = out.updated_at = FromMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Organization> SqliteTokenStoreImpl::UpdateOrganization(
    absl::string_view organization_id, const OrganizationUpdate& update,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckOrganizationUpdate(update));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  Organization out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t no, ctx.OrgNo(organization_id));
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("UPDATE organizations SET name = coalesce(?2, "
                           "name), secure_enabled = coalesce(?3, "
                           "secure_enabled), updated_at = ?4 WHERE no = ?1"));
      s.BindInt64(1, no);
      if (update.name.has_value()) {
        s.BindText(2, *update.name);
      } else {
        s.BindNull(2);
      }
      if (update.secure_enabled.has_value()) {
        s.BindInt64(3, *update.secure_enabled ? 1 : 0);
      } else {
        s.BindNull(3);
      }
      s.BindInt64(4, ctx.NowMicros());
      TA_RETURN_IF_ERROR(s.Run());
    }
    AuditRow row{AuditAction::kOrganizationUpdated, no};
    std::vector<std::string> changes;
    if (update.name.has_value()) changes.push_back("name=" + *update.name);
    if (update.secure_enabled.has_value()) {
      changes.push_back(absl::StrCat(
          "secure_enabled=", *update.secure_enabled ? "true" : "false"));
    }
    row.detail = absl::StrJoin(changes, " ");
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    TA_ASSIGN_OR_RETURN(Statement s, ctx.conn.Prepare(absl::StrCat(
                                         "SELECT ", kOrgColumns,
                                         " FROM organizations WHERE no = ?1")));
    s.BindInt64(1, no);
    TA_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return absl::InternalError("organization row vanished");
    out = ReadOrganization(s);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Organization> SqliteTokenStoreImpl::GetOrganization(
    absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat(
                          "SELECT ", kOrgColumns,
                          " FROM organizations WHERE id = ?1 AND no != 0")));
  s.BindText(1, organization_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("organization ", organization_id, " not found"));
  }
  return ReadOrganization(s);
}

absl::StatusOr<Page<Organization>> SqliteTokenStoreImpl::ListOrganizations(
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  const std::string binding = PageBinding({"organizations"});
  std::string after;
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        after,
        DecodePageToken(page.page_token, PageKind::kOrganizations, binding));
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kOrgColumns,
                              " FROM organizations WHERE no != 0 AND id > ?1 "
                              "ORDER BY id LIMIT ?2")));
  s.BindText(1, after);
  s.BindInt64(2, size + 1);
  Page<Organization> out;
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = EncodePageToken(PageKind::kOrganizations, binding,
                                            out.items.back().id);
      break;
    }
    out.items.push_back(ReadOrganization(s));
  }
  return out;
}

absl::StatusOr<std::vector<Organization>>
SqliteTokenStoreImpl::ListAllOrganizations() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat(
                          "SELECT ", kOrgColumns,
                          " FROM organizations WHERE no != 0 ORDER BY id")));
  return s.ReadAll(ReadOrganization);
}

// --------------------------------------------------------------------------
// API keys.
// --------------------------------------------------------------------------

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::CreateApiKey(
    const ApiKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckApiKey(key));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  ApiKey out = key;
  out.revoked_at.reset();
  out.last_used_at.reset();
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("SELECT id = ?1 FROM api_keys WHERE id = ?1 OR "
                           "secret_hash = ?2 LIMIT 1"));
      s.BindText(1, key.id);
      s.BindBlob(2, key.secret_hash);
      TA_ASSIGN_OR_RETURN(bool dup, s.Step());
      if (dup) {
        return absl::AlreadyExistsError(
            s.Int64(0) != 0
                ? absl::StrCat("API key ", key.id, " already exists")
                : std::string("secret_hash: another API key has this secret"));
      }
    }
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("INSERT INTO api_keys(id, org_no, role, name, "
                           "secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, "
                           "?5, ?6)"));
      s.BindText(1, key.id);
      s.BindInt64(2, org_no);
      s.BindInt64(3, static_cast<int64_t>(key.role));
      s.BindTextOrNull(4, key.name);
      s.BindBlob(5, key.secret_hash);
      s.BindInt64(6, ctx.NowMicros());
      TA_RETURN_IF_ERROR(s.Run());
    }
    AuditRow row{AuditAction::kApiKeyCreated, org_no};
    row.detail =
        absl::StrCat("api_key=", key.id, " role=", ApiKeyRoleName(key.role));
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.created_at = FromMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::RevokeApiKey(
    absl::string_view api_key_id, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    const std::string select =
        absl::StrCat("SELECT ", kApiKeyColumns, " WHERE k.id = ?1");
    int64_t org_no = 0;
    {
      TA_ASSIGN_OR_RETURN(Statement s, ctx.conn.Prepare(select));
      s.BindText(1, api_key_id);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) {
        return absl::NotFoundError(
            absl::StrCat("API key ", api_key_id, " not found"));
      }
      out = ReadApiKey(s);
    }
    if (out.revoked_at.has_value()) return absl::OkStatus();
    TA_ASSIGN_OR_RETURN(org_no, ctx.OrgNo(out.organization_id));
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare(
              "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1"));
      s.BindText(1, api_key_id);
      s.BindInt64(2, ctx.NowMicros());
      TA_RETURN_IF_ERROR(s.Run());
    }
    AuditRow row{AuditAction::kApiKeyRevoked, org_no};
    row.detail = absl::StrCat("api_key=", api_key_id);
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.revoked_at = FromMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status SqliteTokenStoreImpl::TouchApiKey(absl::string_view api_key_id,
                                               absl::Time at) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_ASSIGN_OR_RETURN(int64_t us, Micros(at, "at"));
  std::lock_guard<std::mutex> lock(touch_mu_);
  auto [it, inserted] = pending_touches_.emplace(std::string(api_key_id), us);
  if (!inserted) it->second = std::max(it->second, us);
  return absl::OkStatus();
}

absl::Status SqliteTokenStoreImpl::FlushTouches() {
  std::map<std::string, int64_t> touches;
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    touches.swap(pending_touches_);
  }
  if (touches.empty()) return absl::OkStatus();
  absl::Status st = Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        ctx.conn.Prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 "
                         "AND (last_used_at IS NULL OR last_used_at < ?2)"));
    for (const auto& [id, us] : touches) {
      s.BindText(1, id);
      s.BindInt64(2, us);
      TA_RETURN_IF_ERROR(s.Run());
      sqlite3_reset(s.raw());
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    // Put them back so a later flush retries.
    std::lock_guard<std::mutex> lock(touch_mu_);
    for (const auto& [id, us] : touches) {
      auto [it, inserted] = pending_touches_.emplace(id, us);
      if (!inserted) it->second = std::max(it->second, us);
    }
  }
  return st;
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::GetApiKey(
    absl::string_view api_key_id) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kApiKeyColumns, " WHERE k.id = ?1")));
  s.BindText(1, api_key_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("API key ", api_key_id, " not found"));
  }
  return ReadApiKey(s);
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::FindApiKeyBySecretHash(
    absl::string_view secret_hash) {
  if (secret_hash.size() != kSha256Length) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret_hash: must be exactly ", kSha256Length, " bytes"));
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat("SELECT ", kApiKeyColumns,
                                              " WHERE k.secret_hash = ?1")));
  s.BindBlob(1, secret_hash);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError("no API key has this secret");
  return ReadApiKey(s);
}

absl::StatusOr<std::vector<ApiKey>> SqliteTokenStoreImpl::ListApiKeys(
    absl::string_view organization_id, bool include_revoked) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(int64_t org_no, OrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kApiKeyColumns,
                              " WHERE k.org_no = ?1 AND (?2 OR k.revoked_at "
                              "IS NULL) ORDER BY k.no")));
  s.BindInt64(1, org_no);
  s.BindInt64(2, include_revoked ? 1 : 0);
  return s.ReadAll(ReadApiKey);
}

// --------------------------------------------------------------------------
// Tokens.
// --------------------------------------------------------------------------

// An InsertToken checked and prepared on the caller's thread, for the
// writer to run.
struct SqliteTokenStoreImpl::TokenInsert {
  Token token;
  AuditContext audit;
  std::string id_bytes;
  std::string target;  // tokens.target: the group id or the joined streams
  int64_t iat = 0;
  int64_t nbf = 0;
  int64_t exp = 0;
  std::optional<int64_t> request_hash;
  InsertTokenResult out;
};

absl::StatusOr<std::unique_ptr<SqliteTokenStoreImpl::TokenInsert>>
SqliteTokenStoreImpl::PrepareTokenInsert(const Token& token,
                                         const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckToken(token));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  auto ins = std::make_unique<TokenInsert>();
  TA_ASSIGN_OR_RETURN(ins->id_bytes, DecodeTokenId(token.id, "id"));
  if (token.target_kind == TargetKind::kStreamGroup) {
    ins->target = token.stream_group_id;
  } else if (token.target_kind == TargetKind::kStreams) {
    ins->target = absl::StrJoin(token.streams, ",");
  }
  ins->iat = absl::ToUnixSeconds(token.issued_at);
  ins->nbf = absl::ToUnixSeconds(token.not_before);
  ins->exp = absl::ToUnixSeconds(token.expires_at);
  // Hashed here, by the caller's thread, not by the writer.
  if (!token.request_id.empty()) {
    ins->request_hash = sqlite::RequestHash(token.request_id);
  }
  ins->token = token;
  ins->audit = audit;
  ins->out = InsertTokenResult{token, true};
  ins->out.token.revoked_at.reset();
  ins->out.token.revocation_reason.clear();
  ins->out.token.revocation_sequence = 0;
  return ins;
}

absl::StatusOr<InsertTokenResult> SqliteTokenStoreImpl::InsertToken(
    const Token& token, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(std::unique_ptr<TokenInsert> ins,
                      PrepareTokenInsert(token, audit));
  TA_RETURN_IF_ERROR(
      Write([&](WriteCtx& ctx) { return RunTokenInsert(ctx, *ins); }));
  return std::move(ins->out);
}

void SqliteTokenStoreImpl::InsertTokenAsync(const Token& token,
                                            const AuditContext& audit,
                                            InsertTokenDone done) {
  absl::StatusOr<std::unique_ptr<TokenInsert>> prepared =
      PrepareTokenInsert(token, audit);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<TokenInsert> ins = *std::move(prepared);
  WriteAsync([ins](WriteCtx& ctx) { return RunTokenInsert(ctx, *ins); },
             [ins, done = std::move(done)](const absl::Status& status) {
               if (status.ok()) {
                 done(std::move(ins->out));
               } else {
                 done(status);
               }
             });
}

absl::Status SqliteTokenStoreImpl::RunTokenInsert(WriteCtx& ctx,
                                                  TokenInsert& ins) {
  Connection& c = ctx.conn;
  const Token& token = ins.token;
  const AuditContext& audit = ins.audit;
  InsertTokenResult& out = ins.out;
  TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(token.organization_id));
  if (!token.request_id.empty()) {
    // (org_no, request_hash) is indexed; the writer is the only writer,
    // so checking here inside its transaction keeps request ids unique.
    TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(sqlite::kTokenByRequestSql));
    s.BindInt64(1, org_no);
    s.BindInt64(2, *ins.request_hash);
    s.BindText(3, token.request_id);
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) {
      const int64_t no = s.Int64(0);
      TA_ASSIGN_OR_RETURN(out.token, ReadTokenByNo(c, no));
      out.created = false;
      return absl::OkStatus();
    }
  }
  const auto cache_key = std::make_pair(org_no, token.key_id);
  auto cached = ctx.cache().signing_keys.find(cache_key);
  if (cached == ctx.cache().signing_keys.end()) {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        c.Prepare("SELECT no, algorithm FROM signing_keys WHERE org_no IN "
                  "(?1, 0) AND kid = ?2 ORDER BY org_no DESC LIMIT 1"));
    s.BindInt64(1, org_no);
    s.BindText(2, token.key_id);
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) {
      return absl::InvalidArgumentError(
          absl::StrCat("key_id: no signing key ", token.key_id,
                       " for organization ", token.organization_id));
    }
    cached = ctx.cache()
                 .signing_keys
                 .emplace(cache_key, std::make_pair(s.Int64(0), s.String(1)))
                 .first;
  }
  const int64_t key_no = cached->second.first;
  if (cached->second.second != token.algorithm) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm: ", token.algorithm, " does not match key ",
                     token.key_id, " (", cached->second.second, ")"));
  }
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> issued_by,
                      ctx.ApiKeyNo(token.issued_by, "issued_by"));
  {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        c.Prepare("INSERT INTO tokens(id, org_no, kind, target, issued_at, "
                  "not_before, expires_at, key_no, jwt_sha256, issued_by, "
                  "user_id, tag, client_ip, domain, request_id, "
                  "request_hash, spec_fingerprint) VALUES (?1, ?2, ?3, ?4, "
                  "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                  "?17)"));
    s.BindBlob(1, ins.id_bytes);
    s.BindInt64(2, org_no);
    s.BindInt64(3, static_cast<int64_t>(token.target_kind));
    s.BindTextOrNull(4, ins.target);
    s.BindInt64(5, ins.iat);
    // not_before is NULL when it equals issued_at (the common case).
    if (ins.nbf == ins.iat) {
      s.BindNull(6);
    } else {
      s.BindInt64(6, ins.nbf);
    }
    s.BindInt64(7, ins.exp);
    s.BindInt64(8, key_no);
    s.BindBlob(9, token.jwt_sha256);
    s.BindOptionalInt64(10, issued_by);
    s.BindTextOrNull(11, token.user_id);
    s.BindTextOrNull(12, token.tag);
    s.BindTextOrNull(13, token.client_ip);
    s.BindTextOrNull(14, token.domain);
    s.BindTextOrNull(15, token.request_id);
    s.BindOptionalInt64(16, ins.request_hash);
    s.BindBlobOrNull(17, token.spec_fingerprint);
    absl::Status st = s.Run();
    if (absl::IsAlreadyExists(st)) {
      return absl::AlreadyExistsError(
          absl::StrCat("id: token ", token.id, " already exists"));
    }
    TA_RETURN_IF_ERROR(st);
  }
  const int64_t no = c.LastInsertRowId();
  if (token.target_kind == TargetKind::kStreams) {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        c.Prepare("INSERT INTO token_streams(org_no, stream, issued_at, "
                  "token_no) VALUES (?1, ?2, ?3, ?4)"));
    for (const std::string& stream : token.streams) {
      s.BindInt64(1, org_no);
      s.BindText(2, stream);
      s.BindInt64(3, ins.iat);
      s.BindInt64(4, no);
      TA_RETURN_IF_ERROR(s.Run());
      sqlite3_reset(s.raw());
    }
  }
  AuditRow row{AuditAction::kTokenIssued, org_no};
  row.actor_no = issued_by;
  row.token_id_bytes = ins.id_bytes;
  row.tag = token.tag;
  row.user_id = token.user_id;
  row.request_id = token.request_id;
  if (!audit.actor.empty()) {
    TA_ASSIGN_OR_RETURN(row.actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  }
  if (!audit.request_id.empty()) row.request_id = audit.request_id;
  row.detail = audit.detail;
  TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
  return absl::OkStatus();
}

absl::StatusOr<Token> SqliteTokenStoreImpl::GetToken(
    absl::string_view organization_id, absl::string_view token_id) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s, c->Prepare(absl::StrCat(
                       "SELECT ", sqlite::kTokenColumns, " FROM tokens t",
                       sqlite::kTokenJoins, " WHERE t.id = ?1 AND o.id = ?2")));
  s.BindBlob(1, id_bytes);
  s.BindText(2, organization_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
  }
  return ReadToken(s);
}

absl::StatusOr<Token> SqliteTokenStoreImpl::FindTokenById(
    absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat(
                          "SELECT ", sqlite::kTokenColumns, " FROM tokens t",
                          sqlite::kTokenJoins, " WHERE t.id = ?1")));
  s.BindBlob(1, id_bytes);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
  }
  return ReadToken(s);
}

namespace {

std::string TokenBinding(absl::string_view org_id, const TokenFilter& f) {
  const std::string state =
      f.state.has_value() ? std::string(TokenStateName(*f.state)) : "";
  const std::string after =
      f.issued_after ? absl::StrCat(absl::ToUnixMicros(*f.issued_after)) : "";
  const std::string before =
      f.issued_before ? absl::StrCat(absl::ToUnixMicros(*f.issued_before)) : "";
  return PageBinding({"tokens", org_id, f.tag, f.user_id, f.stream_name,
                      f.stream_group_id, state, after, before});
}

}  // namespace

absl::StatusOr<Page<Token>> SqliteTokenStoreImpl::ListTokens(
    absl::string_view organization_id, const TokenFilter& filter,
    const PageRequest& page) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckTokenFilter(filter));
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  const std::string binding = TokenBinding(organization_id, filter);
  sqlite::TokenQuery q;
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kTokens, binding));
    TA_ASSIGN_OR_RETURN(q.after, DecodeInt64Pair(payload));
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, OrgNo(*c, organization_id));
  q.filter = filter;
  q.now_seconds = FloorSeconds(filter.now.value_or(clock_.Now()));
  q.limit = size + 1;
  const BoundQuery bq = sqlite::BuildTokenListQuery(q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  Page<Token> out;
  int64_t last_iat = 0;
  int64_t last_no = 0;
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = EncodePageToken(PageKind::kTokens, binding,
                                            EncodeInt64Pair(last_iat, last_no));
      break;
    }
    last_no = s.Int64(0);
    last_iat = s.Int64(5);
    out.items.push_back(ReadToken(s));
  }
  return out;
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::CountTokens(
    absl::string_view organization_id, const TokenFilter& filter) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckTokenFilter(filter));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  sqlite::TokenQuery q;
  TA_ASSIGN_OR_RETURN(q.org_no, OrgNo(*c, organization_id));
  q.filter = filter;
  q.now_seconds = FloorSeconds(filter.now.value_or(clock_.Now()));
  const BoundQuery bq = sqlite::BuildTokenCountQuery(q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("count returned no row");
  return s.Int64(0);
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::RevokeRow(
    WriteCtx& ctx, int64_t no, int64_t org_no, absl::string_view id_bytes,
    int64_t expires_at, absl::string_view reason) {
  Connection& c = ctx.conn;
  {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        c.Prepare("INSERT INTO revocations(token_id, org_no, revoked_at, "
                  "expires_at) VALUES (?1, ?2, ?3, ?4)"));
    s.BindBlob(1, id_bytes);
    s.BindInt64(2, org_no);
    s.BindInt64(3, ctx.NowMicros());
    s.BindInt64(4, expires_at);
    TA_RETURN_IF_ERROR(s.Run());
  }
  const int64_t seq = c.LastInsertRowId();
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("UPDATE tokens SET revoked_at = ?2, revocation_seq = ?3, "
                "revocation_reason = ?4 WHERE no = ?1"));
  s.BindInt64(1, no);
  s.BindInt64(2, ctx.NowMicros());
  s.BindInt64(3, seq);
  s.BindTextOrNull(4, reason);
  TA_RETURN_IF_ERROR(s.Run());
  return seq;
}

absl::StatusOr<Token> SqliteTokenStoreImpl::RevokeToken(
    absl::string_view organization_id, absl::string_view token_id,
    absl::string_view reason, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  Token out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    Connection& c = ctx.conn;
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    int64_t no = 0;
    int64_t exp = 0;
    bool revoked = false;
    std::string tag, user_id;
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          c.Prepare("SELECT no, expires_at, revoked_at IS NOT NULL, tag, "
                    "user_id FROM tokens WHERE id = ?1 AND org_no = ?2"));
      s.BindBlob(1, id_bytes);
      s.BindInt64(2, org_no);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) {
        return absl::NotFoundError(
            absl::StrCat("token ", token_id, " not found"));
      }
      no = s.Int64(0);
      exp = s.Int64(1);
      revoked = s.Int64(2) != 0;
      tag = s.String(3);
      user_id = s.String(4);
    }
    if (!revoked) {
      TA_RETURN_IF_ERROR(
          RevokeRow(ctx, no, org_no, id_bytes, exp, reason).status());
      AuditRow row{AuditAction::kTokenRevoked, org_no};
      row.token_id_bytes = id_bytes;
      row.tag = tag;
      row.user_id = user_id;
      row.detail = std::string(reason);
      TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
      TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    }
    TA_ASSIGN_OR_RETURN(out, ReadTokenByNo(c, no));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RevokeTokensResult> SqliteTokenStoreImpl::RevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, bool dry_run, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckRevokeFilter(filter));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  sqlite::RevokeQuery q;
  q.filter = filter;
  q.limit = options_.revoke_batch_size;
  {
    TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
    TA_ASSIGN_OR_RETURN(q.org_no, OrgNo(*c, organization_id));
    // Every token acknowledged before this call is visible to this fresh
    // read; tokens issued later have larger numbers and are left alone.
    TA_ASSIGN_OR_RETURN(
        q.max_no, c->QueryInt64("SELECT coalesce(max(no), 0) FROM tokens"));
    q.now_seconds = FloorSeconds(clock_.Now());
    if (dry_run) {
      const BoundQuery bq = sqlite::BuildRevokeSelectQuery(q, true);
      TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
      bq.Bind(s);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return absl::InternalError("count returned no row");
      return RevokeTokensResult{s.Int64(0), 0};
    }
  }
  RevokeTokensResult result;
  bool done = false;
  std::string filter_text;
  {
    std::vector<std::string> parts;
    if (!filter.tag.empty()) parts.push_back("tag=" + filter.tag);
    if (!filter.user_id.empty()) parts.push_back("user_id=" + filter.user_id);
    if (!filter.stream_name.empty()) {
      parts.push_back("stream_name=" + filter.stream_name);
    }
    if (!filter.stream_group_id.empty()) {
      parts.push_back("stream_group_id=" + filter.stream_group_id);
    }
    if (filter.state.has_value()) {
      parts.push_back(absl::StrCat("state=", TokenStateName(*filter.state)));
    }
    filter_text = absl::StrJoin(parts, " ");
  }
  while (!done) {
    TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
      Connection& c = ctx.conn;
      struct Row {
        int64_t no;
        std::string id;
        int64_t exp;
        int64_t iat;
        std::string tag;
        std::string user_id;
      };
      std::vector<Row> rows;
      {
        sqlite::RevokeQuery bq_in = q;
        bq_in.now_seconds = FloorSeconds(ctx.now);
        const BoundQuery bq = sqlite::BuildRevokeSelectQuery(bq_in, false);
        TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(bq.sql));
        bq.Bind(s);
        while (true) {
          TA_ASSIGN_OR_RETURN(bool row, s.Step());
          if (!row) break;
          rows.push_back(Row{s.Int64(0), std::string(s.Blob(1)), s.Int64(2),
                             s.Int64(3), s.String(4), s.String(5)});
        }
      }
      std::optional<int64_t> actor_no;
      TA_ASSIGN_OR_RETURN(actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
      int64_t count = 0;
      for (const Row& r : rows) {
        TA_RETURN_IF_ERROR(
            RevokeRow(ctx, r.no, q.org_no, r.id, r.exp, reason).status());
        AuditRow a{AuditAction::kTokenRevoked, q.org_no};
        a.actor_no = actor_no;
        a.token_id_bytes = r.id;
        a.tag = r.tag;
        a.user_id = r.user_id;
        a.request_id = audit.request_id;
        a.detail = std::string(reason);
        TA_RETURN_IF_ERROR(InsertAudit(ctx, a));
        ++count;
      }
      const bool last = static_cast<int>(rows.size()) < q.limit;
      if (last) {
        AuditRow a{AuditAction::kTokensRevoked, q.org_no};
        a.actor_no = actor_no;
        a.tag = filter.tag;
        a.user_id = filter.user_id;
        a.request_id = audit.request_id;
        a.detail =
            audit.detail.empty()
                ? absl::StrCat("count=", result.count + count, " ", filter_text,
                               reason.empty() ? "" : " reason=", reason)
                : audit.detail;
        TA_RETURN_IF_ERROR(InsertAudit(ctx, a));
      }
      // Only now (the batch's writes succeeded) advance the caller's state.
      result.count += count;
      if (!rows.empty())
        q.after = std::make_pair(rows.back().iat, rows.back().no);
      done = last;
      return absl::OkStatus();
    }));
  }
  TA_ASSIGN_OR_RETURN(result.last_sequence, MaxRevocationSequence());
  return result;
}

// --------------------------------------------------------------------------
// Revocation log.
// --------------------------------------------------------------------------

namespace {

RevocationEvent ReadRevocation(const Statement& s) {
  RevocationEvent e;
  e.sequence = s.Int64(0);
  e.token_id = EncodeTokenId(s.Blob(1));
  e.organization_id = s.String(2);
  e.revoked_at = FromMicros(s.Int64(3));
  e.expires_at = absl::FromUnixSeconds(s.Int64(4));
  return e;
}

}  // namespace

absl::StatusOr<std::vector<RevocationEvent>>
SqliteTokenStoreImpl::ListRevocationsSince(int64_t after_sequence, int limit) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError("limit: must be between 1 and 10000");
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(sqlite::kRevocationsSinceSql));
  s.BindInt64(1, after_sequence);
  s.BindInt64(2, limit);
  return s.ReadAll(ReadRevocation);
}

absl::StatusOr<std::vector<RevocationEvent>>
SqliteTokenStoreImpl::ListActiveRevocations(absl::Time now) {
  TA_ASSIGN_OR_RETURN(int64_t us, Micros(now, "now"));
  (void)us;
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(sqlite::kActiveRevocationsSql));
  s.BindInt64(1, FloorSeconds(now));
  return s.ReadAll(ReadRevocation);
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::MaxRevocationSequence() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  // AUTOINCREMENT keeps the highest sequence ever used in sqlite_sequence,
  // even after the sweep deleted the rows.
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name "
                 "= 'revocations'), 0)"));
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("no row");
  return s.Int64(0);
}

// --------------------------------------------------------------------------
// Signing keys.
// --------------------------------------------------------------------------

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::InsertKeyRow(
    WriteCtx& ctx, const SigningKey& key, int64_t org_no,
    SigningKeyState state) {
  TA_ASSIGN_OR_RETURN(
      std::string sealed,
      kek_.Seal(key.private_key, SigningKeyAad(key.organization_id, key.kid),
                random_));
  TA_ASSIGN_OR_RETURN(
      Statement s,
      ctx.conn.Prepare("INSERT INTO signing_keys(org_no, kid, algorithm, "
                       "state, created_at, retired_at, sealed_key) VALUES (?1, "
                       "?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING"));
  s.BindInt64(1, org_no);
  s.BindText(2, key.kid);
  s.BindText(3, key.algorithm);
  s.BindInt64(4, static_cast<int64_t>(state));
  s.BindInt64(5, ctx.NowMicros());
  if (state == SigningKeyState::kRetired) {
    s.BindInt64(6, ctx.NowMicros());
  } else {
    s.BindNull(6);
  }
  s.BindBlob(7, sealed);
  TA_RETURN_IF_ERROR(s.Run());
  if (ctx.conn.Changes() == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("kid: signing key ", key.kid, " already exists"));
  }
  SigningKey out = key;
  out.state = state;
  out.created_at = FromMicros(ctx.NowMicros());
  out.retired_at.reset();
  if (state == SigningKeyState::kRetired) out.retired_at = out.created_at;
  return out;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::InsertSigningKey(
    const SigningKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckSigningKey(key));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    if (key.state == SigningKeyState::kPrimary) {
      TA_ASSIGN_OR_RETURN(Statement s,
                          ctx.conn.Prepare("SELECT kid FROM signing_keys WHERE "
                                           "org_no = ?1 AND state = 1"));
      s.BindInt64(1, org_no);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) {
        return absl::FailedPreconditionError(
            absl::StrCat("state: the organization already has primary key ",
                         s.Text(0), "; use RotateSigningKey"));
      }
    }
    TA_ASSIGN_OR_RETURN(out, InsertKeyRow(ctx, key, org_no, key.state));
    AuditRow row{AuditAction::kKeyCreated, org_no};
    row.detail = absl::StrCat("kid=", key.kid, " algorithm=", key.algorithm,
                              " state=", SigningKeyStateName(key.state));
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    return InsertAudit(ctx, row);
  }));
  return out;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::RotateSigningKey(
    const SigningKey& new_key, const AuditContext& audit) {
  SigningKey key = new_key;
  key.state = SigningKeyState::kPrimary;
  TA_RETURN_IF_ERROR(CheckSigningKey(key));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    std::string previous;
    {
      TA_ASSIGN_OR_RETURN(Statement s,
                          ctx.conn.Prepare("SELECT kid FROM signing_keys WHERE "
                                           "org_no = ?1 AND state = 1"));
      s.BindInt64(1, org_no);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) previous = s.String(0);
    }
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("UPDATE signing_keys SET state = 2 WHERE org_no = "
                           "?1 AND state = 1"));
      s.BindInt64(1, org_no);
      TA_RETURN_IF_ERROR(s.Run());
    }
    TA_ASSIGN_OR_RETURN(
        out, InsertKeyRow(ctx, key, org_no, SigningKeyState::kPrimary));
    AuditRow row{AuditAction::kKeyRotated, org_no};
    row.detail = absl::StrCat("kid=", key.kid, " algorithm=", key.algorithm);
    if (!previous.empty()) absl::StrAppend(&row.detail, " previous=", previous);
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    return InsertAudit(ctx, row);
  }));
  return out;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::ReadSigningKeyRow(
    Connection& c, int64_t org_no, absl::string_view kid) {
  TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(absl::StrCat(
                                       "SELECT ", kSigningKeyColumns,
                                       " WHERE k.org_no = ?1 AND k.kid = ?2")));
  s.BindInt64(1, org_no);
  s.BindText(2, kid);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return absl::NotFoundError(absl::StrCat("signing key ", kid, " not found"));
  }
  SigningKey k;
  const std::string sealed = ReadSigningKey(s, &k);
  TA_ASSIGN_OR_RETURN(
      k.private_key,
      kek_.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
  return k;
}

absl::StatusOr<SigningKey> SqliteTokenStoreImpl::RetireSigningKey(
    absl::string_view organization_id, absl::string_view kid,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckToken68(kid, "kid", kMaxKidLength));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  SigningKey out;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(organization_id));
    TA_ASSIGN_OR_RETURN(out, ReadSigningKeyRow(ctx.conn, org_no, kid));
    if (out.state == SigningKeyState::kRetired) return absl::OkStatus();
    if (out.state == SigningKeyState::kPrimary) {
      return absl::FailedPreconditionError(absl::StrCat(
          "kid: ", kid, " is the primary key; rotate before retiring it"));
    }
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("UPDATE signing_keys SET state = 3, retired_at = ?3 "
                           "WHERE org_no = ?1 AND kid = ?2"));
      s.BindInt64(1, org_no);
      s.BindText(2, kid);
      s.BindInt64(3, ctx.NowMicros());
      TA_RETURN_IF_ERROR(s.Run());
    }
    out.state = SigningKeyState::kRetired;
    out.retired_at = FromMicros(ctx.NowMicros());
    AuditRow row{AuditAction::kKeyRetired, org_no};
    row.detail = absl::StrCat("kid=", kid);
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    return InsertAudit(ctx, row);
  }));
  return out;
}

absl::StatusOr<std::vector<SigningKey>> SqliteTokenStoreImpl::ListSigningKeys(
    absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(int64_t org_no, OrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(absl::StrCat(
                                       "SELECT ", kSigningKeyColumns,
                                       " WHERE k.org_no = ?1 ORDER BY k.no")));
  s.BindInt64(1, org_no);
  std::vector<SigningKey> out;
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    SigningKey k;
    const std::string sealed = ReadSigningKey(s, &k);
    TA_ASSIGN_OR_RETURN(
        k.private_key,
        kek_.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
    out.push_back(std::move(k));
  }
  return out;
}

absl::StatusOr<std::vector<SigningKey>>
SqliteTokenStoreImpl::ListAllSigningKeys() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Statement s,
                      c->Prepare(absl::StrCat("SELECT ", kSigningKeyColumns,
                                              " ORDER BY k.no")));
  std::vector<SigningKey> out;
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    SigningKey k;
    const std::string sealed = ReadSigningKey(s, &k);
    TA_ASSIGN_OR_RETURN(
        k.private_key,
        kek_.Open(sealed, SigningKeyAad(k.organization_id, k.kid)));
    out.push_back(std::move(k));
  }
  return out;
}

// --------------------------------------------------------------------------
// Audit log.
// --------------------------------------------------------------------------

absl::StatusOr<Page<AuditEvent>> SqliteTokenStoreImpl::ListAuditEvents(
    absl::string_view organization_id, const AuditFilter& filter,
    const PageRequest& page) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckAuditFilter(filter));
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  sqlite::AuditQuery q;
  q.tag = filter.tag;
  q.user_id = filter.user_id;
  if (!filter.token_id.empty()) {
    TA_ASSIGN_OR_RETURN(q.token_id_bytes,
                        DecodeTokenId(filter.token_id, "token_id"));
  }
  if (filter.action.has_value()) q.action = static_cast<int>(*filter.action);
  if (filter.since.has_value())
    q.since_micros = absl::ToUnixMicros(*filter.since);
  if (filter.until.has_value())
    q.until_micros = absl::ToUnixMicros(*filter.until);
  const std::string binding = PageBinding(
      {"audit", organization_id, filter.tag, filter.user_id, filter.token_id,
       filter.action ? AuditActionName(*filter.action) : "",
       q.since_micros ? absl::StrCat(*q.since_micros) : "",
       q.until_micros ? absl::StrCat(*q.until_micros) : ""});
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kAuditEvents, binding));
    TA_ASSIGN_OR_RETURN(auto pair, DecodeInt64Pair(payload));
    q.before_id = pair.first;
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, OrgNo(*c, organization_id));
  // Translate the time range into an id range (audit time never decreases
  // with id), so every filter index (which ends in the id) serves it.
  Page<AuditEvent> out;
  auto first_id_at = [&](int64_t us) {
    return sqlite::FirstAuditIdAtOrAfter(*c, us);
  };
  if (q.since_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> lo,
                        first_id_at(*q.since_micros));
    if (!lo.has_value()) return out;  // nothing that recent
    q.min_id = *lo;
  }
  if (q.until_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(q.max_id_excl, first_id_at(*q.until_micros));
  }
  q.limit = size + 1;
  const BoundQuery bq = sqlite::BuildAuditListQuery(q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token =
          EncodePageToken(PageKind::kAuditEvents, binding,
                          EncodeInt64Pair(out.items.back().id, 0));
      break;
    }
    out.items.push_back(ReadAudit(s));
  }
  return out;
}

// --------------------------------------------------------------------------
// Maintenance.
// --------------------------------------------------------------------------

absl::StatusOr<int64_t> SqliteTokenStoreImpl::SweepBatch() {
  int64_t deleted = 0;
  TA_RETURN_IF_ERROR(Write([&](WriteCtx& ctx) -> absl::Status {
    Connection& c = ctx.conn;
    const int64_t cutoff = FloorSeconds(ctx.now - options_.retention);
    struct Row {
      int64_t no, org_no, kind, iat;
      std::string target;
    };
    std::vector<Row> rows;
    {
      TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(sqlite::kSweepSelectSql));
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
      if (r.kind == static_cast<int64_t>(TargetKind::kStreams)) {
        for (absl::string_view stream :
             absl::StrSplit(r.target, ',', absl::SkipEmpty())) {
          del_stream.BindInt64(1, r.org_no);
          del_stream.BindText(2, stream);
          del_stream.BindInt64(3, r.iat);
          del_stream.BindInt64(4, r.no);
          TA_RETURN_IF_ERROR(del_stream.Run());
          sqlite3_reset(del_stream.raw());
        }
      }
    }
    {
      TA_ASSIGN_OR_RETURN(Statement s,
                          c.Prepare("DELETE FROM tokens WHERE no = ?1"));
      for (const Row& r : rows) {
        s.BindInt64(1, r.no);
        TA_RETURN_IF_ERROR(s.Run());
        sqlite3_reset(s.raw());
      }
    }
    {
      TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(sqlite::kSweepRevocationsSql));
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
  int64_t total = 0;
  while (true) {
    TA_ASSIGN_OR_RETURN(int64_t n, SweepBatch());
    total += n;
    if (n < options_.sweep_batch_size) break;
  }
  return total;
}

absl::Status SqliteTokenStoreImpl::CheckIntegrity() {
  ConnectionOptions opts{options_.vfs, options_.busy_timeout, false};
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c,
                      Connection::Open(options_.path, opts));
  TA_ASSIGN_OR_RETURN(sqlite::StmtPtr stmt,
                      c->PrepareUncached("PRAGMA integrity_check(10)"));
  Statement s(c->db(), stmt.get());
  TA_ASSIGN_OR_RETURN(
      std::vector<std::string> problems,
      s.ReadAll([](const Statement& row) { return row.String(0); }));
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("integrity_check: ", absl::StrJoin(problems, "; ")));
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::DiskUsage() {
  int64_t total = 0;
  for (const std::string& p : {options_.path, options_.path + "-wal"}) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) total += static_cast<int64_t>(st.st_size);
  }
  return total;
}

// --------------------------------------------------------------------------
// Open.
// --------------------------------------------------------------------------

absl::Status CheckOptions(const SqliteTokenStoreOptions& o) {
  auto bad = [](absl::string_view field, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
  };
  if (o.path.empty()) return bad("path", "required");
  if (o.busy_timeout < absl::ZeroDuration()) {
    return bad("busy_timeout", "must not be negative");
  }
  if (o.retention <= absl::ZeroDuration()) {
    return bad("retention", "must be positive");
  }
  if (o.sweep_interval < absl::ZeroDuration()) {
    return bad("sweep_interval", "must not be negative");
  }
  if (o.touch_flush_interval <= absl::ZeroDuration()) {
    return bad("touch_flush_interval", "must be positive");
  }
  if (o.sweep_batch_size < 1 || o.sweep_batch_size > 10000) {
    return bad("sweep_batch_size", "must be between 1 and 10000");
  }
  if (o.max_batch_size < 1 || o.max_batch_size > 100000) {
    return bad("max_batch_size", "must be between 1 and 100000");
  }
  if (o.revoke_batch_size < 1 || o.revoke_batch_size > 100000) {
    return bad("revoke_batch_size", "must be between 1 and 100000");
  }
  if (o.checkpoint_frames < 100 || o.checkpoint_frames > 1000000) {
    return bad("checkpoint_frames", "must be between 100 and 1000000");
  }
  if (o.writer_cache_kib < 1024 || o.reader_cache_kib < 256) {
    return bad(
        o.writer_cache_kib < 1024 ? "writer_cache_kib" : "reader_cache_kib",
        "too small");
  }
  if (o.page_size < 512 || o.page_size > 65536 ||
      (o.page_size & (o.page_size - 1)) != 0) {
    return bad("page_size", "must be a power of two from 512 to 65536");
  }
  if (o.max_database_bytes < 0) {
    return bad("max_database_bytes", "must not be negative");
  }
  if (o.read_pool_size < 1 || o.read_pool_size > 64) {
    return bad("read_pool_size", "must be between 1 and 64");
  }
  switch (o.synchronous) {
    case SyncMode::kOff:
    case SyncMode::kNormal:
    case SyncMode::kFull:
    case SyncMode::kExtra:
      break;
    default:
      return bad("synchronous", "unknown mode");
  }
  if (!o.key_encryption_key.has_value() && o.key_encryption_key_path.empty()) {
    return bad("key_encryption_key_path",
               "required (or give key_encryption_key)");
  }
  return absl::OkStatus();
}

// Reads meta value `key`, or nullopt.
absl::StatusOr<std::optional<std::string>> ReadMeta(Connection& c,
                                                    absl::string_view key) {
  TA_ASSIGN_OR_RETURN(Statement s,
                      c.Prepare("SELECT value FROM meta WHERE key = ?1"));
  s.BindText(1, key);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s.Blob(0)));
}

// Finds the key-encryption key and checks it against the database (which
// is at schema version >= 1). Creates the key file only for a database that
// holds no check value yet.
absl::StatusOr<KeyEncryptionKey> ResolveKek(Connection& c,
                                            const SqliteTokenStoreOptions& o,
                                            bool* needs_check_value) {
  TA_ASSIGN_OR_RETURN(std::optional<std::string> check,
                      ReadMeta(c, "kek_check"));
  TA_ASSIGN_OR_RETURN(std::optional<std::string> fp,
                      ReadMeta(c, "kek_fingerprint"));
  TA_ASSIGN_OR_RETURN(int64_t keys,
                      c.QueryInt64("SELECT count(*) FROM signing_keys"));
  const bool bound = check.has_value() || keys > 0;
  std::optional<KeyEncryptionKey> kek = o.key_encryption_key;
  if (!kek.has_value()) {
    if (bound) {
      absl::StatusOr<KeyEncryptionKey> loaded =
          KeyEncryptionKey::Load(o.key_encryption_key_path);
      if (absl::IsNotFound(loaded.status())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "key-encryption key file ", o.key_encryption_key_path,
            " is missing, but the database ", o.path,
            " holds signing keys encrypted with key ", fp.value_or("(unknown)"),
            ": restore that file; a new key would make them unreadable"));
      }
      TA_RETURN_IF_ERROR(loaded.status());
      kek = *std::move(loaded);
    } else {
      TA_ASSIGN_OR_RETURN(kek, KeyEncryptionKey::LoadOrCreate(
                                   o.key_encryption_key_path, *o.random));
    }
  }
  if (check.has_value()) {
    absl::StatusOr<std::string> plain = kek->Open(*check, kKekCheckAad);
    if (!plain.ok() || *plain != kKekCheckPlaintext) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key-encryption key ", kek->Fingerprint(),
          o.key_encryption_key_path.empty()
              ? std::string()
              : absl::StrCat(" (", o.key_encryption_key_path, ")"),
          " is not the key this database's signing keys are encrypted with (",
          fp.value_or("unknown"), ")"));
    }
    *needs_check_value = false;
  } else {
    *needs_check_value = true;
  }
  return *std::move(kek);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteTokenStore>> SqliteTokenStore::Open(
    SqliteTokenStoreOptions options) {
  if (options.clock == nullptr) options.clock = &Clock::Real();
  if (options.random == nullptr) options.random = &RandomSource::Secure();
  TA_RETURN_IF_ERROR(CheckOptions(options));

  // The writer's connection (this one) gathers each commit's WAL writes
  // into one (storage/wal_buffer_vfs.h) when every commit syncs the WAL.
  // Declared before the connection, which must close first.
  std::unique_ptr<sqlite::WalBufferVfs> wal_vfs;
  ConnectionOptions conn_opts{options.vfs, options.busy_timeout, true};
  if (options.synchronous >= SyncMode::kFull) {
    absl::StatusOr<std::unique_ptr<sqlite::WalBufferVfs>> registered =
        sqlite::WalBufferVfs::Register(options.vfs);
    if (!registered.ok()) {
      return absl::UnavailableError(
          absl::StrCat(options.path, ": ", registered.status().message()));
    }
    wal_vfs = *std::move(registered);
    conn_opts.vfs = wal_vfs->name();
  }
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                      Connection::Open(options.path, conn_opts));
  // Read-only checks first, so a foreign, newer or wrongly keyed database is
  // refused without being changed.
  absl::StatusOr<int> version = sqlite::SchemaVersion(*conn);
  if (!version.ok()) return Annotate(version.status(), options.path);
  if (*version > sqlite::kLatestSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.path, ": database schema version ", *version,
        " is newer than this build supports (", sqlite::kLatestSchemaVersion,
        "): upgrade token-authority"));
  }
  if (*version == 0) {
    // A new database has no schema objects yet. One with objects but no
    // schema version was written by something else: never adopt it.
    TA_ASSIGN_OR_RETURN(int64_t objects,
                        conn->QueryInt64("SELECT count(*) FROM sqlite_master"));
    if (objects > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          options.path,
          ": not a token-authority database (it holds other tables and no "
          "schema version); refusing to change it"));
    }
  }
  std::optional<KeyEncryptionKey> kek;
  bool needs_check_value = true;
  if (*version >= 1) {
    TA_ASSIGN_OR_RETURN(kek, ResolveKek(*conn, options, &needs_check_value));
  }

  if (*version == 0) {
    // Only a new database takes the page size (WAL fixes it afterwards).
    TA_RETURN_IF_ERROR(
        conn->Exec(absl::StrCat("PRAGMA page_size = ", options.page_size)));
  }
  TA_ASSIGN_OR_RETURN(std::string mode,
                      conn->QueryString("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat(
        options.path, ": cannot use WAL journal mode (got ", mode, ")"));
  }
  TA_RETURN_IF_ERROR(conn->Exec(absl::StrCat(
      "PRAGMA synchronous = ", static_cast<int>(options.synchronous))));
  TA_ASSIGN_OR_RETURN(int64_t sync, conn->QueryInt64("PRAGMA synchronous"));
  if (sync != static_cast<int>(options.synchronous)) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.path, ": PRAGMA synchronous is ", sync,
                     ", expected ", static_cast<int>(options.synchronous)));
  }
  TA_RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys = ON"));
  TA_ASSIGN_OR_RETURN(int64_t fk, conn->QueryInt64("PRAGMA foreign_keys"));
  if (fk != 1) {
    return absl::FailedPreconditionError("foreign keys cannot be enabled");
  }
  // Keep the WAL file from growing without bound after large bursts.
  TA_RETURN_IF_ERROR(conn->Exec("PRAGMA journal_size_limit = 67108864"));
  TA_RETURN_IF_ERROR(conn->Exec(
      absl::StrCat("PRAGMA cache_size = -", options.writer_cache_kib)));
  if (options.max_database_bytes > 0) {
    TA_ASSIGN_OR_RETURN(int64_t page_size,
                        conn->QueryInt64("PRAGMA page_size"));
    TA_RETURN_IF_ERROR(conn->Exec(absl::StrCat(
        "PRAGMA max_page_count = ",
        std::max<int64_t>(1, options.max_database_bytes / page_size))));
  }
  absl::Status migrated = sqlite::Migrate(*conn);
  if (!migrated.ok()) return Annotate(migrated, options.path);

  if (!kek.has_value()) {
    TA_ASSIGN_OR_RETURN(kek, ResolveKek(*conn, options, &needs_check_value));
  }
  if (needs_check_value) {
    TA_ASSIGN_OR_RETURN(
        std::string check,
        kek->Seal(kKekCheckPlaintext, kKekCheckAad, *options.random));
    sqlite::Transaction txn(conn.get());
    TA_RETURN_IF_ERROR(txn.Begin());
    TA_ASSIGN_OR_RETURN(
        Statement s,
        conn->Prepare(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)"));
    s.BindText(1, "kek_check");
    s.BindBlob(2, check);
    TA_RETURN_IF_ERROR(s.Run());
    sqlite3_reset(s.raw());
    s.BindText(1, "kek_fingerprint");
    s.BindBlob(2, kek->Fingerprint());
    TA_RETURN_IF_ERROR(s.Run());
    TA_RETURN_IF_ERROR(txn.Commit());
  }
  TA_ASSIGN_OR_RETURN(
      int64_t last_audit_time,
      conn->QueryInt64("SELECT coalesce(max(time), 0) FROM audit_events"));

  ConnectionOptions ckpt_opts{options.vfs, options.busy_timeout, false};
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> checkpointer,
                      Connection::Open(options.path, ckpt_opts));
  // Checkpoints sync as the configured level says (a per-connection
  // setting).
  TA_RETURN_IF_ERROR(checkpointer->Exec(absl::StrCat(
      "PRAGMA synchronous = ", static_cast<int>(options.synchronous))));

  auto store = std::make_unique<SqliteTokenStoreImpl>(
      std::move(options), std::move(wal_vfs), std::move(conn),
      std::move(checkpointer), *std::move(kek), last_audit_time);
  store->Start();
  return std::unique_ptr<SqliteTokenStore>(std::move(store));
}

}  // namespace token_authority::storage

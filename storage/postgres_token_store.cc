// PostgresTokenStore::Open and PostgresTokenStoreImpl's lifecycle.
#include "storage/postgres_token_store.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/kek_binding.h"
#include "storage/pg_connection.h"
#include "storage/pg_schema.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/store_options.h"

namespace token_authority::storage {
namespace {

using pg::Connection;
using pg::Params;

absl::Status CheckOptions(const PostgresTokenStoreOptions& o) {
  if (o.conninfo.empty()) return BadOption("conninfo", "required");
  return CheckSharedOptions(o);
}

absl::StatusOr<std::optional<std::string>> ReadMeta(Connection& c,
                                                    absl::string_view key) {
  TA_ASSIGN_OR_RETURN(
      pg::Result r,
      c.Query("SELECT value FROM meta WHERE key = $1", Params().Text(key)));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.row(0).Blob(0));
}

// Under the set-up lock: the KEK, checked against (or, on a new database,
// bound to) the database.
absl::StatusOr<KeyEncryptionKey> BindKek(Connection& c,
                                         const PostgresTokenStoreOptions& o) {
  KekRecord record;
  TA_ASSIGN_OR_RETURN(record.check, ReadMeta(c, "kek_check"));
  TA_ASSIGN_OR_RETURN(record.fingerprint, ReadMeta(c, "kek_fingerprint"));
  TA_ASSIGN_OR_RETURN(int64_t keys,
                      c.QueryInt64("SELECT count(*) FROM signing_keys"));
  record.holds_signing_keys = keys > 0;
  TA_ASSIGN_OR_RETURN(
      KeyEncryptionKey kek,
      ResolveKek(record, o.key_encryption_key, o.key_encryption_key_path,
                 "(PostgreSQL)", *o.random));
  if (!record.check.has_value()) {
    TA_ASSIGN_OR_RETURN(std::string check, SealKekCheck(kek, *o.random));
    TA_RETURN_IF_ERROR(
        c.Run("INSERT INTO meta(key, value) VALUES ('kek_check', $1), "
              "('kek_fingerprint', $2) ON CONFLICT (key) DO NOTHING",
              Params().Bytes(check).Bytes(kek.Fingerprint())));
  }
  return kek;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresTokenStore>> PostgresTokenStore::Open(
    PostgresTokenStoreOptions options) {
  SetDefaultSources(&options);
  TA_RETURN_IF_ERROR(CheckOptions(options));
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                      Connection::Open(options.conninfo, options.password));
  // Never answer before COMMIT is durable.
  TA_RETURN_IF_ERROR(conn->ExecScript("SET synchronous_commit = on"));
  std::optional<KeyEncryptionKey> kek;
  {
    TA_ASSIGN_OR_RETURN(pg::SetupLock lock, pg::SetupLock::Acquire(conn.get()));
    TA_RETURN_IF_ERROR(pg::Migrate(*conn));
    TA_ASSIGN_OR_RETURN(kek, BindKek(*conn, options));
  }
  TA_ASSIGN_OR_RETURN(
      int64_t last_audit_time,
      conn->QueryInt64("SELECT coalesce(max(time), 0) FROM audit_events"));
  auto store = std::make_unique<pg::PostgresTokenStoreImpl>(
      std::move(options), std::move(conn), *std::move(kek), last_audit_time);
  store->Start();
  return std::unique_ptr<PostgresTokenStore>(std::move(store));
}

namespace pg {

PostgresTokenStoreImpl::PostgresTokenStoreImpl(
    PostgresTokenStoreOptions options, std::unique_ptr<Connection> writer,
    KeyEncryptionKey kek, int64_t last_audit_time)
    : options_(std::move(options)),
      clock_(*options_.clock),
      random_(*options_.random),
      kek_(std::move(kek)),
      writer_(std::move(writer), clock_, options_.max_batch_size,
              last_audit_time, &stats_),
      readers_(options_.conninfo, options_.password, options_.read_pool_size) {}

PostgresTokenStoreImpl::~PostgresTokenStoreImpl() { (void)Shutdown(); }

void PostgresTokenStoreImpl::Start() {
  writer_.Start();
  // Every replica sweeps; their batches skip rows another replica locked.
  housekeeping_.Start("ta-pg-maint", options_.touch_flush_interval,
                      options_.sweep_interval,
                      {[this] { return FlushTouches(); },
                       [this] { return RunRetentionSweep(); }});
}

absl::Status PostgresTokenStoreImpl::Shutdown() {
  return housekeeping_.Shutdown([this] { writer_.Stop(); });
}

absl::Status PostgresTokenStoreImpl::RunExclusively(
    const std::function<absl::Status()>& fn) {
  // Its own connection: the lock is the session's, held until released.
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c,
                      Connection::Open(options_.conninfo, options_.password));
  TA_ASSIGN_OR_RETURN(SetupLock lock, SetupLock::Acquire(c.get()));
  return fn();
}

}  // namespace pg
}  // namespace token_authority::storage

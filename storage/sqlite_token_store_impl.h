// SqliteTokenStoreImpl, the class behind SqliteTokenStore::Open. Internal to
// storage/: code outside uses sqlite_token_store.h.
//
// The store validates its input on the caller's thread and then delegates:
// mutations to the GroupCommitWriter (group_commit_writer.h), reads to the
// ReadPool (read_pool.h); the WalCheckpointer (wal_checkpointer.h) keeps the
// WAL short, and the maintenance thread ("ta-store-maint") writes coalesced
// TouchApiKey updates and runs the retention sweep. Its methods are defined
// by entity, one file each: sqlite_token_store_organizations.cc
// (organisations and API keys), _tokens.cc, _revocations.cc,
// _signing_keys.cc, _audit.cc; the lifecycle in sqlite_token_store.cc, the
// maintenance in _maintenance.cc, opening and the key-encryption key in
// _open.cc.
#ifndef STORAGE_SQLITE_TOKEN_STORE_IMPL_H_
#define STORAGE_SQLITE_TOKEN_STORE_IMPL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/background_loop.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/random.h"
#include "storage/group_commit_writer.h"
#include "storage/key_encryption_key.h"
#include "storage/read_pool.h"
#include "storage/sqlite_db.h"
#include "storage/sqlite_token_store.h"
#include "storage/store_housekeeping.h"
#include "storage/store_rules.h"
#include "storage/token_store.h"
#include "storage/wal_buffer_vfs.h"
#include "storage/wal_checkpointer.h"
#include "storage/write_context.h"
#include "storage/write_rules.h"
#include "storage/writer_stats.h"
#include "token/algorithm.h"

namespace token_authority::storage::sqlite {

// Inserts `row` at ctx.AuditTime(), in the operation's savepoint: a
// mutation and its audit event are written both or neither.
// (sqlite_token_store_audit.cc)
absl::Status InsertAudit(WriteCtx& ctx, const AuditRow& row);
// The (row number, algorithm) of signing key `kid` of organisation row
// `org_no`, else the service-wide one; nullopt if neither exists (the
// writer's SigningKeyNo, write_rules.h). (sqlite_token_store_tokens.cc)
absl::StatusOr<std::optional<std::pair<int64_t, token::Algorithm>>>
LookupSigningKey(Connection& c, int64_t org_no, const std::string& kid);
// Active service-wide admin keys other than `id` (write_rules.h's
// CheckNotLastAdminKey; the writer is the only one).
// (sqlite_token_store_organizations.cc)
absl::StatusOr<int64_t> CountOtherActiveAdminKeys(Connection& c,
                                                  const std::string& id);
// The token in row `no`; Internal if there is none.
// (sqlite_token_store_tokens.cc)
absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no);

// Thread-safe, as TokenStore says.
class SqliteTokenStoreImpl final : public SqliteTokenStore {
 public:
  // Takes the connections Open made and checked: `writer` (through
  // `wal_vfs`, which is null unless synchronous is FULL or EXTRA, and must
  // outlive it) and `checkpointer`. `options` are checked, with clock and
  // random set. `last_audit_time`: the newest audit time in the database.
  SqliteTokenStoreImpl(SqliteTokenStoreOptions options,
                       std::unique_ptr<WalBufferVfs> wal_vfs,
                       std::unique_ptr<Connection> writer,
                       std::unique_ptr<Connection> checkpointer,
                       KeyEncryptionKey kek, int64_t last_audit_time);
  // Shutdown().
  ~SqliteTokenStoreImpl() override;

  // Starts the writer, completion, checkpoint and maintenance threads.
  // Once, before any other call.
  void Start();

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
  WriterStats GetWriterStats() override { return stats_.Get(); }
  absl::Status ProbeWrite() override;

 private:
  // Writes `touches` (TouchBuffer::Flush's write).
  absl::Status WriteTouches(const TouchBuffer::Touches& touches);
  // One transaction of the retention sweep; returns the tokens deleted.
  absl::StatusOr<int64_t> SweepBatch();

  const SqliteTokenStoreOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  const KeyEncryptionKey kek_;

  // Destroyed in reverse order, which closes the connections as they must
  // close: the readers', the checkpointer's, then the writer's (the last
  // connection checkpoints the WAL on close, through the writer's VFS shim),
  // then the shim (null unless synchronous is FULL or EXTRA).
  const std::unique_ptr<WalBufferVfs> wal_vfs_;
  WriterStatsCounter stats_;
  GroupCommitWriter writer_;
  WalCheckpointer checkpointer_;
  ReadPool readers_;

  TouchBuffer touches_;
  // Last: its thread (which flushes touches and sweeps) ends first.
  StoreHousekeeping housekeeping_;
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_SQLITE_TOKEN_STORE_IMPL_H_

// PostgresTokenStoreImpl, the class behind PostgresTokenStore::Open.
// Internal to storage/. It checks input on the caller's thread (the same
// record_validation.h checks as the SQLite store) and delegates mutations to
// the Writer (pg_writer.h) and reads to the ReadPool (pg_connection.h). Its
// methods are defined by entity, one file each:
// postgres_token_store_organizations.cc (organisations and API keys),
// _tokens.cc, _revocations.cc, _signing_keys.cc, _audit.cc; opening and the
// lifecycle in postgres_token_store.cc, the maintenance in _maintenance.cc.
#ifndef STORAGE_POSTGRES_TOKEN_STORE_IMPL_H_
#define STORAGE_POSTGRES_TOKEN_STORE_IMPL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/background_loop.h"
#include "base/mutex.h"
#include "storage/key_encryption_key.h"
#include "storage/pg_connection.h"
#include "storage/pg_writer.h"
#include "storage/postgres_token_store.h"
#include "storage/store_housekeeping.h"
#include "storage/store_rules.h"
#include "storage/write_rules.h"
#include "storage/writer_stats.h"
#include "token/algorithm.h"

namespace token_authority::storage::pg {

// Inserts `row` at ctx.AuditTime(), in the operation's savepoint.
// (postgres_token_store_audit.cc)
absl::Status InsertAudit(WriteCtx& ctx, const AuditRow& row);
// The (row number, algorithm) of signing key `kid` of organisation row
// `org_no`, else the service-wide one; nullopt if neither exists (the
// writer's SigningKeyNo, write_rules.h). (postgres_token_store_tokens.cc)
absl::StatusOr<std::optional<std::pair<int64_t, token::Algorithm>>>
LookupSigningKey(Connection& c, int64_t org_no, const std::string& kid);
// Active service-wide admin keys other than `id` as committed once every other
// transaction counting them has ended (a transaction-level advisory lock:
// replicas revoking admin keys at once take turns; write_rules.h's
// CheckNotLastAdminKey). (postgres_token_store_organizations.cc)
absl::StatusOr<int64_t> CountOtherActiveAdminKeys(Connection& c,
                                                  const std::string& id);
// The token in row `no`; Internal if none. (postgres_token_store_tokens.cc)
absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no);

class PostgresTokenStoreImpl final : public PostgresTokenStore {
 public:
  PostgresTokenStoreImpl(PostgresTokenStoreOptions options,
                         std::unique_ptr<Connection> writer,
                         KeyEncryptionKey kek, int64_t last_audit_time);
  ~PostgresTokenStoreImpl() override;
  void Start();

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

  absl::StatusOr<int64_t> RunRetentionSweep() override;
  absl::Status FlushTouches() override;
  WriterStats GetWriterStats() override { return stats_.Get(); }
  absl::StatusOr<int64_t> DiskUsage() override;
  absl::Status ProbeWrite() override;
  absl::Status RunExclusively(const std::function<absl::Status()>& fn) override;

  // postgres_token_store_changes.cc
  absl::StatusOr<std::vector<ChangeEvent>> ListChangesSince(int64_t after_seq,
                                                            int limit) override;
  absl::StatusOr<int64_t> MaxChangeSequence() override;
  std::unique_ptr<ChangeListener> ListenForChanges(
      std::function<void()> on_change) override;

 private:
  // Writes `touches` (TouchBuffer::Flush's write).
  absl::Status WriteTouches(const TouchBuffer::Touches& touches);
  // One transaction of the retention sweep; returns the tokens deleted.
  absl::StatusOr<int64_t> SweepBatch();

  const PostgresTokenStoreOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  const KeyEncryptionKey kek_;

  WriterStatsCounter stats_;
  Writer writer_;
  ReadPool readers_;

  TouchBuffer touches_;
  // Last: its thread (which flushes touches and sweeps) ends first.
  StoreHousekeeping housekeeping_;
};

}  // namespace token_authority::storage::pg

#endif  // STORAGE_POSTGRES_TOKEN_STORE_IMPL_H_

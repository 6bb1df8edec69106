// PostgresTokenStoreImpl: organisations and API keys (with the coalesced
// TouchApiKey updates the maintenance thread writes).
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/page_token.h"
#include "storage/pg_schema.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"

namespace token_authority::storage::pg {
namespace {

const std::string& OrgSelect() {
  static const std::string* const kSql = new std::string(
      absl::StrCat("SELECT ", sqlite::kOrgColumns, " FROM organizations "));
  return *kSql;
}
const std::string& ApiKeySelect() {
  static const std::string* const kSql = new std::string(
      PostgresDialect(absl::StrCat("SELECT ", sqlite::kApiKeyColumns, " ")));
  return *kSql;
}

// read(row) of every row (a reader that can fail); its first error.
template <typename T, typename F>
absl::StatusOr<std::vector<T>> ReadAll(const Result& r, F read) {
  std::vector<T> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    TA_ASSIGN_OR_RETURN(T value, read(r.row(i)));
    out.push_back(std::move(value));
  }
  return out;
}

}  // namespace

absl::StatusOr<int64_t> CountOtherActiveAdminKeys(Connection& c,
                                                  const std::string& id) {
  // Taken in turns: a second replica's count waits for the first one's
  // commit and, read committed, sees its revocation.
  TA_RETURN_IF_ERROR(c.Run("SELECT pg_advisory_xact_lock($1)",
                           Params().Int(kAdminKeysLockKey)));
  return c.QueryInt64(
      "SELECT count(*) FROM api_keys WHERE org_no = 0 AND role = $1 AND "
      "revoked_at IS NULL AND id <> $2",
      Params().Int(static_cast<int64_t>(ApiKeyRole::kAdmin)).Text(id));
}

absl::StatusOr<Organization> PostgresTokenStoreImpl::CreateOrganization(
    const Organization& org, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckCreateOrganization(org, audit));
  Organization out = org;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Result r,
        ctx.conn.Query("INSERT INTO organizations(id, name, secure_enabled, "
                       "created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
                       "ON CONFLICT (id) DO NOTHING RETURNING no",
                       Params()
                           .Text(org.id)
                           .Text(org.name)
                           .Int(org.secure_enabled ? 1 : 0)
                           .Int(ctx.NowMicros())));
    if (r.rows() == 0) return OrganizationExistsError(org.id);
    TA_RETURN_IF_ERROR(WriteAudit(
        ctx, audit, OrganizationCreatedEvent(r.row(0).Int64(0), org)));
    out.created_at = out.updated_at = absl::FromUnixMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Organization> PostgresTokenStoreImpl::UpdateOrganization(
    absl::string_view organization_id, const OrganizationUpdate& update,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckUpdateOrganization(organization_id, update, audit));
  Organization out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t no, ctx.OrgNo(organization_id));
    Params p;
    p.Int(no);
    if (update.name.has_value()) {
      p.Text(*update.name);
    } else {
      p.Null();
    }
    if (update.secure_enabled.has_value()) {
      p.Int(*update.secure_enabled ? 1 : 0);
    } else {
      p.Null();
    }
    p.Int(ctx.NowMicros());
    TA_ASSIGN_OR_RETURN(
        Result r,
        ctx.conn.Query(
            absl::StrCat("UPDATE organizations SET name = coalesce($2::text, "
                         "name), secure_enabled = coalesce($3::smallint, "
                         "secure_enabled), updated_at = $4 WHERE no = $1 "
                         "RETURNING ",
                         sqlite::kOrgColumns),
            p));
    if (r.rows() == 0) return absl::InternalError("organization row vanished");
    out = readers::ReadOrganization(r.row(0));
    return WriteAudit(ctx, audit, OrganizationUpdatedEvent(no, update));
  }));
  return out;
}

absl::StatusOr<Organization> PostgresTokenStoreImpl::GetOrganization(
    absl::string_view organization_id) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(OrgSelect() + "WHERE id = $1 AND no != 0",
                               Params().Text(organization_id)));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        absl::StrCat("organization ", organization_id, " not found"));
  }
  return readers::ReadOrganization(r.row(0));
}

absl::StatusOr<Page<Organization>> PostgresTokenStoreImpl::ListOrganizations(
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(OrgListStart start, StartOrgList(page));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  // COLLATE "C": ordered by bytes, as SQLite orders text.
  TA_ASSIGN_OR_RETURN(
      Result r,
      c->Query(OrgSelect() + "WHERE no != 0 AND id COLLATE \"C\" > $1 ORDER BY "
                             "id COLLATE \"C\" LIMIT $2",
               Params().Text(start.q).Int(start.size + 1)));
  PageFiller<Organization> out(start.size, PageKind::kOrganizations,
                               start.binding);
  for (int i = 0; i < r.rows() && out.Room(); ++i) {
    Organization org = readers::ReadOrganization(r.row(i));
    std::string cursor = org.id;
    out.Add(std::move(org), std::move(cursor));
  }
  return out.Take();
}

absl::StatusOr<std::vector<Organization>>
PostgresTokenStoreImpl::ListAllOrganizations() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Result r,
      c->Query(OrgSelect() + "WHERE no != 0 ORDER BY id COLLATE \"C\""));
  return ReadAll<Organization>(
      r, [](const Row& row) -> absl::StatusOr<Organization> {
        return readers::ReadOrganization(row);
      });
}

// --------------------------------------------------------------------------
// API keys.
// --------------------------------------------------------------------------

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::CreateApiKey(
    const ApiKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckCreateApiKey(key, audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    absl::Status inserted = ctx.conn.Run(
        "INSERT INTO api_keys(id, org_no, role, name, secret_hash, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        Params()
            .Text(key.id)
            .Int(org_no)
            .Int(static_cast<int64_t>(key.role))
            .TextOrNull(key.name)
            .Bytes(key.secret_hash)
            .Int(ctx.NowMicros()));
    if (absl::IsAlreadyExists(inserted)) {
      return ApiKeyExistsError(
          key.id, !absl::StrContains(inserted.message(), "secret_hash"));
    }
    TA_RETURN_IF_ERROR(inserted);
    out = CreatedApiKey(key, ctx.NowMicros());
    return WriteAudit(ctx, audit, ApiKeyCreatedEvent(org_no, key));
  }));
  return out;
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::RevokeApiKey(
    absl::string_view api_key_id, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckRevokeApiKey(api_key_id, audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Result r,
        ctx.conn.Query(ApiKeySelect() + "WHERE k.id = $1 FOR UPDATE OF k",
                       Params().Text(api_key_id)));
    if (r.rows() == 0) return ApiKeyNotFoundError(api_key_id);
    TA_ASSIGN_OR_RETURN(out, readers::ReadApiKey(r.row(0)));
    if (out.revoked_at.has_value()) return absl::OkStatus();
    TA_RETURN_IF_ERROR(CheckNotLastAdminKey(ctx, out));
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(out.organization_id));
    TA_RETURN_IF_ERROR(
        ctx.conn.Run("UPDATE api_keys SET revoked_at = $2 WHERE id = $1",
                     Params().Text(api_key_id).Int(ctx.NowMicros())));
    out.revoked_at = absl::FromUnixMicros(ctx.NowMicros());
    return WriteAudit(ctx, audit, ApiKeyRevokedEvent(org_no, api_key_id));
  }));
  return out;
}

absl::Status PostgresTokenStoreImpl::TouchApiKey(absl::string_view api_key_id,
                                                 absl::Time at) {
  return touches_.Add(api_key_id, at);
}

absl::Status PostgresTokenStoreImpl::FlushTouches() {
  return touches_.Flush([this](const TouchBuffer::Touches& touches) {
    return WriteTouches(touches);
  });
}

absl::Status PostgresTokenStoreImpl::WriteTouches(
    const TouchBuffer::Touches& touches) {
  return writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    for (const auto& [id, us] : touches) {
      TA_RETURN_IF_ERROR(ctx.conn.Run(
          "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND "
          "(last_used_at IS NULL OR last_used_at < $2)",
          Params().Text(id).Int(us)));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::GetApiKey(
    absl::string_view api_key_id) {
  TA_RETURN_IF_ERROR(CheckApiKeyId(api_key_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r, c->Query(ApiKeySelect() + "WHERE k.id = $1",
                                         Params().Text(api_key_id)));
  if (r.rows() == 0) return ApiKeyNotFoundError(api_key_id);
  return readers::ReadApiKey(r.row(0));
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::FindApiKeyBySecretHash(
    absl::string_view secret_hash) {
  TA_RETURN_IF_ERROR(CheckSecretHash(secret_hash));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(ApiKeySelect() + "WHERE k.secret_hash = $1",
                               Params().Bytes(secret_hash)));
  if (r.rows() == 0) return absl::NotFoundError("no API key has this secret");
  return readers::ReadApiKey(r.row(0));
}

absl::StatusOr<std::vector<ApiKey>> PostgresTokenStoreImpl::ListApiKeys(
    absl::string_view organization_id, bool include_revoked) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(int64_t org_no, LookupOrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(
      Result r, c->Query(ApiKeySelect() +
                             "WHERE k.org_no = $1 AND ($2 = 1 OR k.revoked_at "
                             "IS NULL) ORDER BY k.no",
                         Params().Int(org_no).Int(include_revoked ? 1 : 0)));
  return ReadAll<ApiKey>(r, readers::ReadApiKey<Row>);
}

}  // namespace token_authority::storage::pg

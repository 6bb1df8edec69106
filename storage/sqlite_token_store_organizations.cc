// SqliteTokenStoreImpl: organisations and API keys (with the coalesced
// TouchApiKey updates the maintenance thread writes).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/page_token.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"

namespace token_authority::storage::sqlite {

absl::StatusOr<Organization> SqliteTokenStoreImpl::CreateOrganization(
    const Organization& org, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckCreateOrganization(org, audit));
  Organization out = org;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
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
    if (ctx.conn.Changes() == 0) return OrganizationExistsError(org.id);
    TA_RETURN_IF_ERROR(WriteAudit(
        ctx, audit, OrganizationCreatedEvent(ctx.conn.LastInsertRowId(), org)));
    out.created_at = out.updated_at = FromMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Organization> SqliteTokenStoreImpl::UpdateOrganization(
    absl::string_view organization_id, const OrganizationUpdate& update,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckUpdateOrganization(organization_id, update, audit));
  Organization out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
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
    TA_RETURN_IF_ERROR(
        WriteAudit(ctx, audit, OrganizationUpdatedEvent(no, update)));
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
  TA_ASSIGN_OR_RETURN(OrgListStart start, StartOrgList(page));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kOrgColumns,
                              " FROM organizations WHERE no != 0 AND id > ?1 "
                              "ORDER BY id LIMIT ?2")));
  s.BindText(1, start.q);
  s.BindInt64(2, start.size + 1);
  PageFiller<Organization> out(start.size, PageKind::kOrganizations,
                               start.binding);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || !out.Room()) break;
    Organization org = ReadOrganization(s);
    std::string cursor = org.id;
    out.Add(std::move(org), std::move(cursor));
  }
  return out.Take();
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
  TA_RETURN_IF_ERROR(CheckCreateApiKey(key, audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(key.organization_id));
    {
      TA_ASSIGN_OR_RETURN(
          Statement s,
          ctx.conn.Prepare("SELECT id = ?1 FROM api_keys WHERE id = ?1 OR "
                           "secret_hash = ?2 LIMIT 1"));
      s.BindText(1, key.id);
      s.BindBlob(2, key.secret_hash);
      TA_ASSIGN_OR_RETURN(bool dup, s.Step());
      if (dup) return ApiKeyExistsError(key.id, s.Int64(0) != 0);
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
    out = CreatedApiKey(key, ctx.NowMicros());
    return WriteAudit(ctx, audit, ApiKeyCreatedEvent(org_no, key));
  }));
  return out;
}

absl::StatusOr<int64_t> CountOtherActiveAdminKeys(Connection& c,
                                                  const std::string& id) {
  TA_ASSIGN_OR_RETURN(
      Statement s, c.Prepare("SELECT count(*) FROM api_keys WHERE org_no = 0 "
                             "AND role = ?1 AND revoked_at IS NULL "
                             "AND id != ?2"));
  s.BindInt64(1, static_cast<int64_t>(ApiKeyRole::kAdmin));
  s.BindText(2, id);
  TA_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return absl::InternalError("count(*) returned no row");
  return s.Int64(0);
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::RevokeApiKey(
    absl::string_view api_key_id, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckRevokeApiKey(api_key_id, audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    const std::string select =
        absl::StrCat("SELECT ", kApiKeyColumns, " WHERE k.id = ?1");
    int64_t org_no = 0;
    {
      TA_ASSIGN_OR_RETURN(Statement s, ctx.conn.Prepare(select));
      s.BindText(1, api_key_id);
      TA_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return ApiKeyNotFoundError(api_key_id);
      TA_ASSIGN_OR_RETURN(out, ReadApiKey(s));
    }
    if (out.revoked_at.has_value()) return absl::OkStatus();
    TA_RETURN_IF_ERROR(CheckNotLastAdminKey(ctx, out));
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
    out.revoked_at = FromMicros(ctx.NowMicros());
    return WriteAudit(ctx, audit, ApiKeyRevokedEvent(org_no, api_key_id));
  }));
  return out;
}

absl::Status SqliteTokenStoreImpl::TouchApiKey(absl::string_view api_key_id,
                                               absl::Time at) {
  return touches_.Add(api_key_id, at);
}

absl::Status SqliteTokenStoreImpl::FlushTouches() {
  return touches_.Flush([this](const TouchBuffer::Touches& touches) {
    return WriteTouches(touches);
  });
}

absl::Status SqliteTokenStoreImpl::WriteTouches(
    const TouchBuffer::Touches& touches) {
  return writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Statement s,
        ctx.conn.Prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 "
                         "AND (last_used_at IS NULL OR last_used_at < ?2)"));
    for (const auto& [id, us] : touches) {
      s.BindText(1, id);
      s.BindInt64(2, us);
      TA_RETURN_IF_ERROR(s.Run());
      s.Reset();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::GetApiKey(
    absl::string_view api_key_id) {
  TA_RETURN_IF_ERROR(CheckApiKeyId(api_key_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kApiKeyColumns, " WHERE k.id = ?1")));
  s.BindText(1, api_key_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return ApiKeyNotFoundError(api_key_id);
  return ReadApiKey(s);
}

absl::StatusOr<ApiKey> SqliteTokenStoreImpl::FindApiKeyBySecretHash(
    absl::string_view secret_hash) {
  TA_RETURN_IF_ERROR(CheckSecretHash(secret_hash));
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
  TA_ASSIGN_OR_RETURN(int64_t org_no, LookupOrgNo(*c, organization_id));
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kApiKeyColumns,
                              " WHERE k.org_no = ?1 AND (?2 OR k.revoked_at "
                              "IS NULL) ORDER BY k.no")));
  s.BindInt64(1, org_no);
  s.BindInt64(2, include_revoked ? 1 : 0);
  return s.ReadAll(ReadApiKey);
}

}  // namespace token_authority::storage::sqlite

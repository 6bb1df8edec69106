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
  TA_RETURN_IF_ERROR(CheckOrganization(org));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
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
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
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
  MutexLock lock(&touch_mu_);
  MergeTouch(std::string(api_key_id), us);
  return absl::OkStatus();
}

void SqliteTokenStoreImpl::MergeTouch(const std::string& api_key_id,
                                      int64_t us) {
  auto [it, inserted] = pending_touches_.emplace(api_key_id, us);
  if (!inserted) it->second = std::max(it->second, us);
}

absl::Status SqliteTokenStoreImpl::FlushTouches() {
  std::map<std::string, int64_t> touches;
  {
    MutexLock lock(&touch_mu_);
    touches.swap(pending_touches_);
  }
  if (touches.empty()) return absl::OkStatus();
  absl::Status st = writer_.Write([&](WriteCtx& ctx) -> absl::Status {
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
  if (!st.ok()) {
    // Put them back so a later flush retries.
    MutexLock lock(&touch_mu_);
    for (const auto& [id, us] : touches) MergeTouch(id, us);
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

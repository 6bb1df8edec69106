// PostgresTokenStoreImpl: organisations and API keys (with the coalesced
// TouchApiKey updates the maintenance thread writes).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/page_token.h"
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

template <typename T, typename F>
std::vector<T> ReadAll(const Result& r, F read) {
  std::vector<T> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) out.push_back(read(r.row(i)));
  return out;
}

}  // namespace

absl::StatusOr<Organization> PostgresTokenStoreImpl::CreateOrganization(
    const Organization& org, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganization(org));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
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
    if (r.rows() == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("organization ", org.id, " already exists"));
    }
    AuditRow row{AuditAction::kOrganizationCreated, r.row(0).Int64(0)};
    row.detail =
        absl::StrCat("name=", org.name,
                     " secure_enabled=", org.secure_enabled ? "true" : "false");
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.created_at = out.updated_at = absl::FromUnixMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<Organization> PostgresTokenStoreImpl::UpdateOrganization(
    absl::string_view organization_id, const OrganizationUpdate& update,
    const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckOrganizationUpdate(update));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
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
    AuditRow row{AuditAction::kOrganizationUpdated, no};
    std::vector<std::string> changes;
    if (update.name.has_value()) changes.push_back("name=" + *update.name);
    if (update.secure_enabled.has_value()) {
      changes.push_back(absl::StrCat(
          "secure_enabled=", *update.secure_enabled ? "true" : "false"));
    }
    row.detail = absl::StrJoin(changes, " ");
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    return InsertAudit(ctx, row);
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
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  const std::string binding = PageBinding({"organizations"});
  std::string after;
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        after,
        DecodePageToken(page.page_token, PageKind::kOrganizations, binding));
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  // COLLATE "C": ordered by bytes, as SQLite orders text.
  TA_ASSIGN_OR_RETURN(
      Result r,
      c->Query(OrgSelect() + "WHERE no != 0 AND id COLLATE \"C\" > $1 ORDER BY "
                             "id COLLATE \"C\" LIMIT $2",
               Params().Text(after).Int(size + 1)));
  Page<Organization> out;
  for (int i = 0; i < r.rows(); ++i) {
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = EncodePageToken(PageKind::kOrganizations, binding,
                                            out.items.back().id);
      break;
    }
    out.items.push_back(readers::ReadOrganization(r.row(i)));
  }
  return out;
}

absl::StatusOr<std::vector<Organization>>
PostgresTokenStoreImpl::ListAllOrganizations() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Result r,
      c->Query(OrgSelect() + "WHERE no != 0 ORDER BY id COLLATE \"C\""));
  return ReadAll<Organization>(r, readers::ReadOrganization<Row>);
}

// --------------------------------------------------------------------------
// API keys.
// --------------------------------------------------------------------------

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::CreateApiKey(
    const ApiKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckApiKey(key));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  ApiKey out = key;
  out.revoked_at.reset();
  out.last_used_at.reset();
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
      return absl::AlreadyExistsError(
          absl::StrContains(inserted.message(), "secret_hash")
              ? std::string("secret_hash: another API key has this secret")
              : absl::StrCat("API key ", key.id, " already exists"));
    }
    TA_RETURN_IF_ERROR(inserted);
    AuditRow row{AuditAction::kApiKeyCreated, org_no};
    row.detail =
        absl::StrCat("api_key=", key.id, " role=", ApiKeyRoleName(key.role));
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.created_at = absl::FromUnixMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::RevokeApiKey(
    absl::string_view api_key_id, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  ApiKey out;
  TA_RETURN_IF_ERROR(writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    TA_ASSIGN_OR_RETURN(
        Result r, ctx.conn.Query(ApiKeySelect() + "WHERE k.id = $1 FOR UPDATE",
                                 Params().Text(api_key_id)));
    if (r.rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("API key ", api_key_id, " not found"));
    }
    out = readers::ReadApiKey(r.row(0));
    if (out.revoked_at.has_value()) return absl::OkStatus();
    TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(out.organization_id));
    TA_RETURN_IF_ERROR(
        ctx.conn.Run("UPDATE api_keys SET revoked_at = $2 WHERE id = $1",
                     Params().Text(api_key_id).Int(ctx.NowMicros())));
    AuditRow row{AuditAction::kApiKeyRevoked, org_no};
    row.detail = absl::StrCat("api_key=", api_key_id);
    TA_RETURN_IF_ERROR(AuditFromContext(audit, &row, ctx));
    TA_RETURN_IF_ERROR(InsertAudit(ctx, row));
    out.revoked_at = absl::FromUnixMicros(ctx.NowMicros());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status PostgresTokenStoreImpl::TouchApiKey(absl::string_view api_key_id,
                                                 absl::Time at) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_ASSIGN_OR_RETURN(int64_t us, Micros(at, "at"));
  MutexLock lock(&touch_mu_);
  MergeTouch(std::string(api_key_id), us);
  return absl::OkStatus();
}

void PostgresTokenStoreImpl::MergeTouch(const std::string& api_key_id,
                                        int64_t us) {
  auto [it, inserted] = pending_touches_.emplace(api_key_id, us);
  if (!inserted) it->second = std::max(it->second, us);
}

absl::Status PostgresTokenStoreImpl::FlushTouches() {
  std::map<std::string, int64_t> touches;
  {
    MutexLock lock(&touch_mu_);
    touches.swap(pending_touches_);
  }
  if (touches.empty()) return absl::OkStatus();
  absl::Status st = writer_.Write([&](WriteCtx& ctx) -> absl::Status {
    for (const auto& [id, us] : touches) {
      TA_RETURN_IF_ERROR(ctx.conn.Run(
          "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND "
          "(last_used_at IS NULL OR last_used_at < $2)",
          Params().Text(id).Int(us)));
    }
    return absl::OkStatus();
  });
  if (!st.ok()) {
    MutexLock lock(&touch_mu_);
    for (const auto& [id, us] : touches) MergeTouch(id, us);
  }
  return st;
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::GetApiKey(
    absl::string_view api_key_id) {
  TA_RETURN_IF_ERROR(CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r, c->Query(ApiKeySelect() + "WHERE k.id = $1",
                                         Params().Text(api_key_id)));
  if (r.rows() == 0) {
    return absl::NotFoundError(
        absl::StrCat("API key ", api_key_id, " not found"));
  }
  return readers::ReadApiKey(r.row(0));
}

absl::StatusOr<ApiKey> PostgresTokenStoreImpl::FindApiKeyBySecretHash(
    absl::string_view secret_hash) {
  if (secret_hash.size() != kSha256Length) {
    return absl::InvalidArgumentError(
        absl::StrCat("secret_hash: must be exactly ", kSha256Length, " bytes"));
  }
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

// PostgresTokenStoreImpl: the audit log. Every mutation writes its audit
// event(s) with InsertAudit in its own savepoint; ListAuditEvents reads them
// with the SQLite store's query (token_queries.h), by time range directly.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/page_token.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {

absl::Status InsertAudit(WriteCtx& ctx, const AuditRow& row) {
  return ctx.conn.Run(
      "INSERT INTO audit_events(time, action, org_no, actor_no, token_id, "
      "tag, user_id, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, "
      "$8, $9)",
      Params()
          .Int(ctx.AuditTime())
          .Int(static_cast<int64_t>(row.action))
          .Int(row.org_no)
          .OptionalInt(row.actor_no)
          .BytesOrNull(row.token_id_bytes)
          .TextOrNull(row.tag)
          .TextOrNull(row.user_id)
          .TextOrNull(row.request_id)
          .TextOrNull(row.detail));
}

absl::Status AuditFromContext(const AuditContext& audit, AuditRow* row,
                              WriteCtx& ctx) {
  TA_ASSIGN_OR_RETURN(row->actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  row->request_id = audit.request_id;
  if (!audit.detail.empty()) row->detail = audit.detail;
  return absl::OkStatus();
}

absl::StatusOr<Page<AuditEvent>> PostgresTokenStoreImpl::ListAuditEvents(
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
  if (filter.since.has_value()) {
    q.since_micros = absl::ToUnixMicros(*filter.since);
  }
  if (filter.until.has_value()) {
    q.until_micros = absl::ToUnixMicros(*filter.until);
  }
  const std::string binding = sqlite::AuditBinding(organization_id, filter);
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kAuditEvents, binding));
    TA_ASSIGN_OR_RETURN(auto pair, DecodeInt64Pair(payload));
    q.before_id = pair.first;
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
  q.limit = size + 1;
  const sqlite::BoundQuery bq = sqlite::BuildAuditListQuery(q);
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(bq.sql), ParamsOf(bq)));
  Page<AuditEvent> out;
  for (int i = 0; i < r.rows(); ++i) {
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token =
          EncodePageToken(PageKind::kAuditEvents, binding,
                          EncodeInt64Pair(out.items.back().id, 0));
      break;
    }
    out.items.push_back(readers::ReadAudit(r.row(i)));
  }
  return out;
}

}  // namespace token_authority::storage::pg

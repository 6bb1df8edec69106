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

absl::StatusOr<Page<AuditEvent>> PostgresTokenStoreImpl::ListAuditEvents(
    absl::string_view organization_id, const AuditFilter& filter,
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(AuditListStart start,
                      StartAuditList(organization_id, filter, page));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(start.q.org_no, LookupOrgNo(*c, organization_id));
  const sqlite::BoundQuery bq = sqlite::BuildAuditListQuery(start.q);
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(bq.sql), ParamsOf(bq)));
  PageFiller<AuditEvent> out(start.size, PageKind::kAuditEvents, start.binding);
  for (int i = 0; i < r.rows(); ++i) {
    if (!out.Room()) break;
    TA_ASSIGN_OR_RETURN(AuditEvent event, readers::ReadAudit(r.row(i)));
    std::string cursor = AuditCursor(event.id);
    out.Add(std::move(event), std::move(cursor));
  }
  return out.Take();
}

}  // namespace token_authority::storage::pg

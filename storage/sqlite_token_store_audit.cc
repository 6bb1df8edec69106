// SqliteTokenStoreImpl: the audit log. Every mutation writes its audit
// event(s) with InsertAudit in its own savepoint; ListAuditEvents reads them.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/page_token.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"
#include "storage/token_queries.h"

namespace token_authority::storage::sqlite {

absl::Status InsertAudit(WriteCtx& ctx, const AuditRow& row) {
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

absl::StatusOr<Page<AuditEvent>> SqliteTokenStoreImpl::ListAuditEvents(
    absl::string_view organization_id, const AuditFilter& filter,
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(AuditListStart start,
                      StartAuditList(organization_id, filter, page));
  AuditQuery& q = start.q;
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
  // Translate the time range into an id range (audit time never decreases
  // with id), so every filter index (which ends in the id) serves it.
  PageFiller<AuditEvent> out(start.size, PageKind::kAuditEvents, start.binding);
  auto first_id_at = [&](int64_t us) { return FirstAuditIdAtOrAfter(*c, us); };
  if (q.since_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> lo,
                        first_id_at(*q.since_micros));
    if (!lo.has_value()) return out.Take();  // nothing that recent
    q.min_id = *lo;
  }
  if (q.until_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(q.max_id_excl, first_id_at(*q.until_micros));
  }
  const BoundQuery bq = BuildAuditListQuery(q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || !out.Room()) break;
    TA_ASSIGN_OR_RETURN(AuditEvent event, ReadAudit(s));
    std::string cursor = AuditCursor(event.id);
    out.Add(std::move(event), std::move(cursor));
  }
  return out.Take();
}

}  // namespace token_authority::storage::sqlite

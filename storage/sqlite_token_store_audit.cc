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

absl::Status AuditFromContext(const AuditContext& audit, AuditRow* row,
                              WriteCtx& ctx) {
  TA_ASSIGN_OR_RETURN(row->actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  row->request_id = audit.request_id;
  if (!audit.detail.empty()) row->detail = audit.detail;
  return absl::OkStatus();
}

absl::StatusOr<Page<AuditEvent>> SqliteTokenStoreImpl::ListAuditEvents(
    absl::string_view organization_id, const AuditFilter& filter,
    const PageRequest& page) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckAuditFilter(filter));
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  AuditQuery q;
  q.tag = filter.tag;
  q.user_id = filter.user_id;
  if (!filter.token_id.empty()) {
    TA_ASSIGN_OR_RETURN(q.token_id_bytes,
                        DecodeTokenId(filter.token_id, "token_id"));
  }
  if (filter.action.has_value()) q.action = static_cast<int>(*filter.action);
  if (filter.since.has_value())
    q.since_micros = absl::ToUnixMicros(*filter.since);
  if (filter.until.has_value())
    q.until_micros = absl::ToUnixMicros(*filter.until);
  const std::string binding = AuditBinding(organization_id, filter);
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kAuditEvents, binding));
    TA_ASSIGN_OR_RETURN(auto pair, DecodeInt64Pair(payload));
    q.before_id = pair.first;
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
  // Translate the time range into an id range (audit time never decreases
  // with id), so every filter index (which ends in the id) serves it.
  Page<AuditEvent> out;
  auto first_id_at = [&](int64_t us) { return FirstAuditIdAtOrAfter(*c, us); };
  if (q.since_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> lo,
                        first_id_at(*q.since_micros));
    if (!lo.has_value()) return out;  // nothing that recent
    q.min_id = *lo;
  }
  if (q.until_micros.has_value()) {
    TA_ASSIGN_OR_RETURN(q.max_id_excl, first_id_at(*q.until_micros));
  }
  q.limit = size + 1;
  const BoundQuery bq = BuildAuditListQuery(q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token =
          EncodePageToken(PageKind::kAuditEvents, binding,
                          EncodeInt64Pair(out.items.back().id, 0));
      break;
    }
    out.items.push_back(ReadAudit(s));
  }
  return out;
}

}  // namespace token_authority::storage::sqlite

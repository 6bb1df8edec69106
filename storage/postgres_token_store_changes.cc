// PostgresTokenStoreImpl: the change log (written by the schema's triggers,
// pg_schema.cc v2) and its listener (pg_change_listener.h).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/pg_change_listener.h"
#include "storage/postgres_token_store_impl.h"

namespace token_authority::storage::pg {
namespace {

absl::StatusOr<ChangeKind> ChangeKindOf(absl::string_view text) {
  if (text == "organization") return ChangeKind::kOrganization;
  if (text == "signing_key") return ChangeKind::kSigningKey;
  if (text == "api_key") return ChangeKind::kApiKey;
  return absl::DataLossError(
      absl::StrCat("change_log: unknown kind \"", text, "\""));
}

}  // namespace

absl::StatusOr<std::vector<ChangeEvent>>
PostgresTokenStoreImpl::ListChangesSince(int64_t after_seq, int limit) {
  if (limit < 1 || limit > 10000) {
    return absl::InvalidArgumentError("limit: must be 1..10000");
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Result r,
      c->Query("SELECT seq, kind, organization_id, entity_id FROM change_log "
               "WHERE seq > $1 ORDER BY seq LIMIT $2",
               Params().Int(after_seq).Int(limit)));
  std::vector<ChangeEvent> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    const Row row = r.row(i);
    ChangeEvent e;
    e.seq = row.Int64(0);
    TA_ASSIGN_OR_RETURN(e.kind, ChangeKindOf(row.Text(1)));
    e.organization_id = row.String(2);
    e.entity_id = row.String(3);
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::MaxChangeSequence() {
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  return c->QueryInt64("SELECT coalesce(max(seq), 0) FROM change_log");
}

std::unique_ptr<ChangeListener> PostgresTokenStoreImpl::ListenForChanges(
    std::function<void()> on_change) {
  ChangeListenerOptions o;
  o.conninfo = options_.conninfo;
  o.password = options_.password;
  auto listener =
      std::make_unique<PgChangeListener>(std::move(o), std::move(on_change));
  listener->Start();
  return listener;
}

}  // namespace token_authority::storage::pg

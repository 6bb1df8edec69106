// What a write operation sees inside the group-commit writer's transaction
// (WriteCtx) and the writer's cache of id -> row number lookups.
#ifndef STORAGE_WRITE_CONTEXT_H_
#define STORAGE_WRITE_CONTEXT_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "storage/sqlite_db.h"
#include "storage/token_store.h"
#include "token/algorithm.h"

namespace token_authority::storage::sqlite {

// The row number of organisation `id` (0 for the empty id: the global
// scope). NotFound naming it. Any connection.
absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id);
// The row number of API key `id`, nullopt for the empty id. InvalidArgument
// naming `field` when there is no such key. Any connection.
absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field);

// Id -> row number lookups the writer repeats for nearly every operation.
// The mapped rows are never deleted and their keys never change, but a row
// seen inside a transaction that is later rolled back may vanish: the
// writer clears the cache on every rollback. Writer thread only.
struct WriterCache {
  std::unordered_map<std::string, int64_t> orgs;
  std::unordered_map<std::string, int64_t> api_keys;
  std::map<std::pair<int64_t, std::string>,
           std::pair<int64_t, token::Algorithm>>
      signing_keys;  // (org_no, kid) -> (no, algorithm)

  void Clear() {
    orgs.clear();
    api_keys.clear();
    signing_keys.clear();
  }
};

// What an operation sees inside the writer's transaction: the writer's
// connection, the time of the operation (the injected clock's, read once)
// and the writer's caches. Writer thread only, for one operation.
class WriteCtx {
 public:
  // Pointers not owned; they outlive the operation.
  WriteCtx(Connection* conn, absl::Time now, int64_t* last_audit_time,
           WriterCache* cache)
      : conn(*conn),
        now(now),
        last_audit_time_(last_audit_time),
        cache_(cache) {}

  Connection& conn;
  const absl::Time now;

  // Cached LookupOrgNo / LookupApiKeyNo.
  absl::StatusOr<int64_t> OrgNo(absl::string_view id) {
    if (id.empty()) return 0;
    auto it = cache_->orgs.find(std::string(id));
    if (it != cache_->orgs.end()) return it->second;
    TA_ASSIGN_OR_RETURN(int64_t no, LookupOrgNo(conn, id));
    cache_->orgs.emplace(std::string(id), no);
    return no;
  }
  absl::StatusOr<std::optional<int64_t>> ApiKeyNo(absl::string_view id,
                                                  absl::string_view field) {
    if (id.empty()) return std::optional<int64_t>();
    auto it = cache_->api_keys.find(std::string(id));
    if (it != cache_->api_keys.end()) {
      return std::optional<int64_t>(it->second);
    }
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> no,
                        LookupApiKeyNo(conn, id, field));
    cache_->api_keys.emplace(std::string(id), *no);
    return no;
  }
  WriterCache& cache() { return *cache_; }

  int64_t NowMicros() const { return absl::ToUnixMicros(now); }
  // Audit times never decrease.
  int64_t AuditTime() {
    *last_audit_time_ = std::max(*last_audit_time_, NowMicros());
    return *last_audit_time_;
  }

 private:
  int64_t* last_audit_time_;
  WriterCache* cache_;
};

// A write operation: runs inside the writer's transaction, in a savepoint of
// its own; a non-OK status rolls back its writes alone.
using WriteFn = std::function<absl::Status(WriteCtx&)>;

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_WRITE_CONTEXT_H_

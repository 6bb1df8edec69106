// What a write operation sees inside a store's writer transaction, for both
// stores: BasicWriteCtx over the store's connection type (sqlite::WriteCtx,
// pg::WriteCtx), with the writer's cache of id -> row number lookups.
#ifndef STORAGE_BASIC_WRITE_CTX_H_
#define STORAGE_BASIC_WRITE_CTX_H_

#include <algorithm>
#include <cstdint>
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
#include "token/algorithm.h"

namespace token_authority::storage {

// Id -> row number lookups the writer repeats for nearly every operation.
// The mapped rows are never deleted and their keys never change, but a row
// seen inside a transaction that is later rolled back may vanish: the
// writer clears the cache on every rollback (of a savepoint too). Writer
// thread only.
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

// The writer's connection (`Conn`, whose namespace declares
// LookupOrgNo(Conn&, id) and LookupApiKeyNo(Conn&, id, field)), the time of
// the operation (the injected clock's, read once) and the writer's caches.
// Writer thread only, for one operation.
template <typename Conn>
class BasicWriteCtx {
 public:
  // Pointers not owned; they outlive the operation.
  BasicWriteCtx(Conn* conn, absl::Time now, int64_t* last_audit_time,
                WriterCache* cache)
      : conn(*conn),
        now(now),
        last_audit_time_(last_audit_time),
        cache_(cache) {}

  Conn& conn;
  const absl::Time now;
  // Set by a writer whose connection may send an operation's statements
  // without waiting for their replies (PostgreSQL's pipeline mode, in an
  // optimistic batch): their failures fail the batch, not the operation.
  bool pipeline = false;

  // The row number of organisation `id` (0 for ""); NotFound naming it.
  absl::StatusOr<int64_t> OrgNo(absl::string_view id) {
    if (id.empty()) return 0;
    auto it = cache_->orgs.find(std::string(id));
    if (it != cache_->orgs.end()) return it->second;
    TA_ASSIGN_OR_RETURN(int64_t no, LookupOrgNo(conn, id));
    cache_->orgs.emplace(std::string(id), no);
    return no;
  }
  // The row number of API key `id` (nullopt for ""); InvalidArgument naming
  // `field` when there is no such key.
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
  // This writer's audit times never decrease.
  int64_t AuditTime() {
    *last_audit_time_ = std::max(*last_audit_time_, NowMicros());
    return *last_audit_time_;
  }

 private:
  int64_t* last_audit_time_;
  WriterCache* cache_;
};

}  // namespace token_authority::storage

#endif  // STORAGE_BASIC_WRITE_CTX_H_

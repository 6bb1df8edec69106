#include "storage/read_pool.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace token_authority::storage::sqlite {

absl::StatusOr<ReadPool::Lease> ReadPool::Acquire() {
  {
    MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  ConnectionOptions opts = options_;
  opts.create = false;
  TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                      Connection::Open(path_, opts));
  TA_RETURN_IF_ERROR(conn->Exec(absl::StrCat(
      "PRAGMA query_only = 1; PRAGMA cache_size = -", cache_kib_)));
  return Lease(this, std::move(conn));
}

void ReadPool::Return(std::unique_ptr<Connection> conn) {
  MutexLock lock(&mu_);
  if (static_cast<int>(idle_.size()) < keep_) idle_.push_back(std::move(conn));
}

}  // namespace token_authority::storage::sqlite

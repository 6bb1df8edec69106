#include "storage/read_pool.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace token_authority::storage::sqlite {

ReadPool::ReadPool(std::string path, ConnectionOptions options, int keep,
                   int cache_kib)
    : ConnectionPool(
          [path = std::move(path), options = std::move(options),
           cache_kib]() -> absl::StatusOr<std::unique_ptr<Connection>> {
            ConnectionOptions opts = options;
            opts.create = false;
            TA_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                                Connection::Open(path, opts));
            TA_RETURN_IF_ERROR(conn->Exec(absl::StrCat(
                "PRAGMA query_only = 1; PRAGMA cache_size = -", cache_kib)));
            return conn;
          },
          // A read connection holds no transaction between leases.
          [](Connection&) { return Returned::kKeep; }, keep) {}

}  // namespace token_authority::storage::sqlite

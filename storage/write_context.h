// The SQLite store's write context: what an operation sees inside the
// group-commit writer's transaction (BasicWriteCtx over the SQLite
// connection, basic_write_ctx.h), and the id -> row number lookups it
// caches.
#ifndef STORAGE_WRITE_CONTEXT_H_
#define STORAGE_WRITE_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/basic_write_ctx.h"
#include "storage/sqlite_db.h"
#include "storage/token_store.h"

namespace token_authority::storage::sqlite {

// The row number of organisation `id` (0 for the empty id: the global
// scope). NotFound naming it. Any connection.
absl::StatusOr<int64_t> LookupOrgNo(Connection& c, absl::string_view id);
// The row number of API key `id`, nullopt for the empty id. InvalidArgument
// naming `field` when there is no such key. Any connection.
absl::StatusOr<std::optional<int64_t>> LookupApiKeyNo(Connection& c,
                                                      absl::string_view id,
                                                      absl::string_view field);

using storage::WriterCache;
// Writer thread only, for one operation.
using WriteCtx = BasicWriteCtx<Connection>;

// A write operation: runs inside the writer's transaction, in a savepoint of
// its own; a non-OK status rolls back its writes alone.
using WriteFn = std::function<absl::Status(WriteCtx&)>;

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_WRITE_CONTEXT_H_

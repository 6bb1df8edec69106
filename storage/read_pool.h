// The SQLite store's read connections: a small pool of query_only
// connections, each used by one thread at a time with its own statement
// cache. In WAL mode they never wait for the writer.
#ifndef STORAGE_READ_POOL_H_
#define STORAGE_READ_POOL_H_

#include <string>

#include "storage/connection_pool.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage::sqlite {

// Thread-safe. Must outlive every Lease it handed out.
class ReadPool : public ConnectionPool<Connection> {
 public:
  // Connections open `path` with `options` (never creating the file),
  // query_only, with a page cache of `cache_kib` KiB; up to `keep` idle ones
  // are kept open.
  ReadPool(std::string path, ConnectionOptions options, int keep,
           int cache_kib);
};

}  // namespace token_authority::storage::sqlite

#endif  // STORAGE_READ_POOL_H_

// libpq with RAII owners: a connection (PGconn) with a cache of prepared
// statements, results (PGresult) read by row with the accessors the record
// readers expect (record_readers.h), parameters, the mapping of SQLSTATEs to
// absl::Status, and a pool of read connections. Used by PostgresTokenStore.
//
// Values travel as text except bytea, which goes out in binary and comes
// back as PostgreSQL's hex text ("\x0102..."), decoded by Row::Blob.
#ifndef STORAGE_PG_CONNECTION_H_
#define STORAGE_PG_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"
#include "storage/connection_pool.h"

namespace token_authority::storage::pg {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// Parameters $1, $2, ... in order.
class Params {
 public:
  Params& Int(int64_t v);
  Params& Text(absl::string_view v);
  Params& Bytes(absl::string_view v);
  Params& Null();
  // NULL when empty.
  Params& TextOrNull(absl::string_view v);
  Params& BytesOrNull(absl::string_view v);
  Params& OptionalInt(std::optional<int64_t> v);

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return pointers_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void Add(std::optional<std::string> v, int format);

  std::deque<std::string> storage_;  // stable addresses
  std::vector<std::optional<size_t>> values_;
  std::vector<const char*> pointers_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// One row of a Result; valid while the Result lives.
class Row {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}
  bool IsNull(int col) const { return PQgetisnull(r_, row_, col) != 0; }
  // 0 for NULL or a value that is not an integer ("t"/"f" read as 1/0).
  int64_t Int64(int col) const;
  absl::string_view Text(int col) const {
    return absl::string_view(PQgetvalue(r_, row_, col),
                             PQgetlength(r_, row_, col));
  }
  std::string String(int col) const { return std::string(Text(col)); }
  // A bytea column's bytes ("" for NULL).
  std::string Blob(int col) const;

 private:
  const PGresult* r_;
  int row_;
};

class Result {
 public:
  explicit Result(ResultPtr r) : r_(std::move(r)) {}
  int rows() const { return PQntuples(r_.get()); }
  Row row(int i) const { return Row(r_.get(), i); }
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  ResultPtr r_;
};

// The status of a failed command: AlreadyExists (unique violation),
// ResourceExhausted (disk full, too many connections), Aborted
// (serialization failure, deadlock: retry the transaction), Unavailable
// (connection lost, server shutting down), InvalidArgument (bad data),
// else Internal; the message carries `what` and the server's message.
absl::Status StatusFromResult(const PGresult* r, PGconn* conn,
                              absl::string_view what);

// One connection; one thread at a time.
class Connection {
 public:
  static constexpr int kConnectTimeoutSeconds = 10;

  // Connects with `conninfo` (key=value or a postgresql:// URL) and, if not
  // empty, `password` (which overrides one in `conninfo`). Unavailable with
  // libpq's message if the server cannot be reached. Unless `conninfo` says
  // otherwise, a connection attempt gives up after kConnectTimeoutSeconds
  // (libpq waits for ever by default: a host that drops packets would hang a
  // replica's start or its reconnect), and TCP keepalives and a user timeout
  // find a peer that vanished without closing within about a minute.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& conninfo, const std::string& password = "");

  // Runs `sql` (one statement, prepared once per session). OK results
  // only. A session found lost while idle outside a transaction (the server
  // restarted) is re-opened and the statement tried once more.
  absl::StatusOr<Result> Query(absl::string_view sql,
                               const Params& params = Params());
  // Query without rows to read.
  absl::Status Run(absl::string_view sql, const Params& params = Params());
  // Runs a script of several statements (no parameters, not prepared).
  absl::Status ExecScript(absl::string_view sql);
  // The first column of the first row as an integer; Internal if no row.
  absl::StatusOr<int64_t> QueryInt64(absl::string_view sql,
                                     const Params& params = Params());

  // --- Pipeline mode (libpq): statements sent without waiting for replies.
  using ResultFn = std::function<absl::Status(absl::StatusOr<Result>)>;
  // Sends `sql` in pipeline mode (entered on the first; the statement is
  // prepared outside it); `on_result` gets its result, in order, when the
  // pipeline is drained: by Flush, by any other call on this connection
  // (which drains it first), or every 64 statements. Unavailable if the
  // statement could not be sent.
  absl::Status Send(absl::string_view sql, const Params& params,
                    ResultFn on_result);
  // Drains the pipeline, leaves pipeline mode and returns the first failure
  // of a sent statement or of its ResultFn since the last Flush (a
  // statement after a failed one fails too, not run).
  absl::Status Flush();

  // Whether the connection is usable.
  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  // Reconnects (PQreset) and forgets the prepared statements.
  absl::Status Reset();
  // True when idle outside a transaction.
  bool Idle() const { return PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }
  PGconn* raw() { return conn_.get(); }

 private:
  explicit Connection(ConnPtr c) : conn_(std::move(c)) {}
  absl::StatusOr<Result> QueryOnce(absl::string_view sql, const Params& params);
  // The name of `sql` prepared in this session (prepared now if new; the
  // pipeline drained first).
  absl::StatusOr<std::string> PreparedName(absl::string_view sql);
  // Syncs, hands each sent statement's result to its ResultFn (failures to
  // pipeline_error_) and leaves pipeline mode. No-op outside it.
  void DrainPipeline();

  ConnPtr conn_;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> name
  std::vector<ResultFn> pending_;  // sent in pipeline mode, not yet read
  absl::Status pipeline_error_;    // the first since the last Flush
};

// The store's read connections (connection_pool.h): opened with `conninfo`
// and `password`; up to `max_idle` idle ones kept. A connection handed back
// in the middle of a transaction is closed; one whose server went away is
// closed with every idle one (libpq notices only when they are used), so
// that one read fails, not one each.
class ReadPool : public ConnectionPool<Connection> {
 public:
  ReadPool(std::string conninfo, std::string password, int max_idle);
};

}  // namespace token_authority::storage::pg

#endif  // STORAGE_PG_CONNECTION_H_

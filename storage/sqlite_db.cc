#include "storage/sqlite_db.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace token_authority::storage::sqlite {

absl::Status Annotate(const absl::Status& st, absl::string_view context) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(context, ": ", st.message()));
}

absl::Status Error(sqlite3* db, int rc, absl::string_view context) {
  std::string msg = absl::StrCat(context, ": ", sqlite3_errstr(rc));
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && absl::string_view(detail) != sqlite3_errstr(rc)) {
      absl::StrAppend(&msg, " (", detail, ")");
    }
  }
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
      return absl::UnavailableError(msg);
    case SQLITE_CORRUPT:
      return absl::DataLossError(msg);
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(msg);
    case SQLITE_CONSTRAINT:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    Reset();
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::BindText(int i, absl::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
}

void Statement::BindBlob(int i, absl::string_view v) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null
  // pointer.
  static const char kEmpty = 0;
  sqlite3_bind_blob(stmt_, i, v.empty() ? &kEmpty : v.data(),
                    static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void Statement::BindTextOrNull(int i, absl::string_view v) {
  if (v.empty()) {
    BindNull(i);
  } else {
    BindText(i, v);
  }
}

void Statement::BindBlobOrNull(int i, absl::string_view v) {
  if (v.empty()) {
    BindNull(i);
  } else {
    BindBlob(i, v);
  }
}

void Statement::BindOptionalInt64(int i, std::optional<int64_t> v) {
  if (v.has_value()) {
    BindInt64(i, *v);
  } else {
    BindNull(i);
  }
}

absl::StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db_, rc, "sqlite3_step");
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

std::optional<int64_t> Statement::OptionalInt64(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int64(col);
}

absl::string_view Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return absl::string_view(
      reinterpret_cast<const char*>(p),
      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

absl::string_view Statement::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  if (p == nullptr) return {};
  return absl::string_view(
      static_cast<const char*>(p),
      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

void ConfigureSqlite() {
  static const int kConfigured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kConfigured;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& path, const ConnectionOptions& options) {
  ConfigureSqlite();
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (options.create) flags |= SQLITE_OPEN_CREATE;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, flags,
                      options.vfs.empty() ? nullptr : options.vfs.c_str());
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return Error(db.get(), rc, absl::StrCat("cannot open database ", path));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(
      db.get(),
      static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  return std::unique_ptr<Connection>(new Connection(std::move(db)));
}

Connection::~Connection() {
  cache_.clear();  // finalize statements before closing
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    absl::StatusOr<StmtPtr> stmt = PrepareUncached(sql);
    if (!stmt.ok()) return stmt.status();
    it = cache_.emplace(std::string(sql), *std::move(stmt)).first;
  }
  return Statement(db(), it->second.get());
}

absl::StatusOr<StmtPtr> Connection::PrepareUncached(absl::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc =
      sqlite3_prepare_v3(db(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) {
    return Error(db(), rc, absl::StrCat("prepare \"", sql, "\""));
  }
  if (stmt == nullptr) {
    return absl::InternalError(absl::StrCat("prepare \"", sql, "\": empty"));
  }
  return stmt;
}

absl::Status Connection::Exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, &err);
  std::unique_ptr<char, decltype(&sqlite3_free)> err_owner(err, &sqlite3_free);
  if (rc != SQLITE_OK) {
    return Error(db(), rc, absl::StrCat("exec \"", sql.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Connection::QueryString(absl::string_view sql) {
  absl::StatusOr<StmtPtr> stmt = PrepareUncached(sql);
  if (!stmt.ok()) return stmt.status();
  Statement s(db(), stmt->get());
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  std::string out = *row ? s.String(0) : std::string();
  return out;
}

absl::StatusOr<int64_t> Connection::QueryInt64(absl::string_view sql) {
  absl::StatusOr<StmtPtr> stmt = PrepareUncached(sql);
  if (!stmt.ok()) return stmt.status();
  Statement s(db(), stmt->get());
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::InternalError(absl::StrCat("\"", sql, "\" returned no row"));
  }
  return s.Int64(0);
}

Transaction::~Transaction() { Rollback(); }

absl::Status Transaction::Begin() {
  absl::StatusOr<Statement> s = conn_->Prepare("BEGIN IMMEDIATE");
  if (!s.ok()) return s.status();
  absl::Status st = s->Run();
  if (st.ok()) active_ = true;
  return st;
}

absl::Status Transaction::Commit() {
  if (!active_) return absl::FailedPreconditionError("no transaction");
  absl::StatusOr<Statement> s = conn_->Prepare("COMMIT");
  if (!s.ok()) return s.status();
  absl::Status st = s->Run();
  if (st.ok() || !conn_->InTransaction()) active_ = false;
  return st;
}

void Transaction::Rollback() {
  if (!active_) return;
  active_ = false;
  if (conn_->InTransaction()) {
    // Best effort: if ROLLBACK fails the connection is in trouble anyway and
    // the next BEGIN reports it.
    (void)conn_->Exec("ROLLBACK");
  }
}

}  // namespace token_authority::storage::sqlite

#include "storage/pg_connection.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace token_authority::storage::pg {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

}  // namespace

// --- Params -----------------------------------------------------------------

void Params::Add(std::optional<std::string> v, int format) {
  if (v.has_value()) {
    storage_.push_back(*std::move(v));
    values_.push_back(storage_.size() - 1);
    pointers_.push_back(storage_.back().data());
    lengths_.push_back(static_cast<int>(storage_.back().size()));
  } else {
    values_.push_back(std::nullopt);
    pointers_.push_back(nullptr);
    lengths_.push_back(0);
  }
  formats_.push_back(format);
}

Params& Params::Int(int64_t v) {
  Add(absl::StrCat(v), 0);
  return *this;
}
Params& Params::Text(absl::string_view v) {
  Add(std::string(v), 0);
  return *this;
}
Params& Params::Bytes(absl::string_view v) {
  Add(std::string(v), 1);
  return *this;
}
Params& Params::Null() {
  Add(std::nullopt, 0);
  return *this;
}
Params& Params::TextOrNull(absl::string_view v) {
  return v.empty() ? Null() : Text(v);
}
Params& Params::BytesOrNull(absl::string_view v) {
  return v.empty() ? Null() : Bytes(v);
}
Params& Params::OptionalInt(std::optional<int64_t> v) {
  return v.has_value() ? Int(*v) : Null();
}

// --- Row / Result -----------------------------------------------------------

int64_t Row::Int64(int col) const {
  const absl::string_view text = Text(col);
  if (text == "t") return 1;
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) return 0;
  return v;
}

std::string Row::Blob(int col) const {
  absl::string_view text = Text(col);
  if (!absl::ConsumePrefix(&text, "\\x")) return std::string(text);
  std::string out(text.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(HexValue(text[2 * i]) << 4 |
                               HexValue(text[2 * i + 1]));
  }
  return out;
}

int64_t Result::affected() const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(r_.get()), &v);
  return v;
}

absl::Status StatusFromResult(const PGresult* r, PGconn* conn,
                              absl::string_view what) {
  const char* state =
      r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string message(r != nullptr ? PQresultErrorMessage(r) : "");
  if (message.empty()) message = PQerrorMessage(conn);
  message = std::string(absl::StripAsciiWhitespace(message));
  const std::string text = absl::StrCat(what, ": ", message);
  const std::string code = state != nullptr ? state : "";
  if (code.empty() || PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL connection lost (", what, "): ", message));
  }
  if (code == "23505") return absl::AlreadyExistsError(text);
  if (code == "40001" || code == "40P01") return absl::AbortedError(text);
  if (code == "53100") {
    return absl::ResourceExhaustedError(absl::StrCat("database full: ", text));
  }
  if (code.rfind("53", 0) == 0) return absl::ResourceExhaustedError(text);
  if (code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0 ||
      code == "25006") {
    return absl::UnavailableError(text);
  }
  if (code.rfind("22", 0) == 0) return absl::InvalidArgumentError(text);
  return absl::InternalError(absl::StrCat(text, " (SQLSTATE ", code, ")"));
}

// --- Connection -------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& conninfo, const std::string& password) {
  // expand_dbname: `conninfo` is parsed as a connection string or URL. The
  // defaults come before it, so that its own settings win; the password,
  // given after it, wins over one in it.
  static const std::string kTimeout = std::to_string(kConnectTimeoutSeconds);
  const char* keys[] = {"connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        password.empty() ? nullptr : "password",
                        nullptr};
  const char* values[] = {
      kTimeout.c_str(), "1",    "30", "10", "3", "60000", conninfo.c_str(),
      password.c_str(), nullptr};
  ConnPtr c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (c == nullptr)
    return absl::ResourceExhaustedError("PQconnectdb: no memory");
  if (PQstatus(c.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ",
                     absl::StripAsciiWhitespace(PQerrorMessage(c.get()))));
  }
  return std::unique_ptr<Connection>(new Connection(std::move(c)));
}

absl::StatusOr<Result> Connection::Query(absl::string_view sql,
                                         const Params& params) {
  const bool was_idle = Idle();
  absl::StatusOr<Result> r = QueryOnce(sql, params);
  if (!r.ok() && absl::IsUnavailable(r.status()) && was_idle && !ok()) {
    // The session went away while idle (the server restarted, a failover):
    // one new session, one more try. Never inside a transaction, whose work
    // is lost with the session.
    if (Reset().ok()) r = QueryOnce(sql, params);
  }
  return r;
}

absl::StatusOr<std::string> Connection::PreparedName(absl::string_view sql) {
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it != prepared_.end()) return it->second;
  DrainPipeline();
  std::string name = absl::StrCat("ta", prepared_.size());
  ResultPtr r(PQprepare(conn_.get(), name.c_str(), key.c_str(), 0, nullptr));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    return StatusFromResult(r.get(), conn_.get(), sql);
  }
  prepared_.emplace(std::move(key), name);
  return name;
}

absl::StatusOr<Result> Connection::QueryOnce(absl::string_view sql,
                                             const Params& params) {
  DrainPipeline();
  TA_ASSIGN_OR_RETURN(const std::string name, PreparedName(sql));
  ResultPtr r(PQexecPrepared(conn_.get(), name.c_str(), params.size(),
                             params.values(), params.lengths(),
                             params.formats(), 0));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return StatusFromResult(r.get(), conn_.get(), sql);
  }
  return Result(std::move(r));
}

absl::Status Connection::Send(absl::string_view sql, const Params& params,
                              ResultFn on_result) {
  TA_ASSIGN_OR_RETURN(const std::string name, PreparedName(sql));
  PGconn* c = conn_.get();
  if (PQpipelineStatus(c) == PQ_PIPELINE_OFF && PQenterPipelineMode(c) != 1) {
    return StatusFromResult(nullptr, c, "pipeline mode");
  }
  if (PQsendQueryPrepared(c, name.c_str(), params.size(), params.values(),
                          params.lengths(), params.formats(), 0) != 1) {
    return StatusFromResult(nullptr, c, sql);
  }
  pending_.push_back(std::move(on_result));
  // Bounded, so that neither side blocks on a full socket buffer.
  if (pending_.size() >= 64) DrainPipeline();
  return absl::OkStatus();
}

void Connection::DrainPipeline() {
  PGconn* c = conn_.get();
  if (PQpipelineStatus(c) == PQ_PIPELINE_OFF) return;
  auto fail = [this](absl::Status st) {
    if (pipeline_error_.ok()) pipeline_error_ = std::move(st);
  };
  const bool synced = PQpipelineSync(c) == 1;
  for (ResultFn& fn : pending_) {
    absl::StatusOr<Result> res =
        absl::UnavailableError("PostgreSQL connection lost (pipeline)");
    ResultPtr r(synced && ok() ? PQgetResult(c) : nullptr);
    if (r != nullptr) {
      const ExecStatusType st = PQresultStatus(r.get());
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        res = Result(std::move(r));
      } else if (st == PGRES_PIPELINE_ABORTED) {
        res = absl::InternalError("not run: an earlier statement failed");
      } else {
        res = StatusFromResult(r.get(), c, "pipelined statement");
      }
      ResultPtr end(PQgetResult(c));  // the null ending this statement
    }
    absl::Status st = fn(std::move(res));
    if (!st.ok()) fail(std::move(st));
  }
  pending_.clear();
  ResultPtr sync(synced && ok() ? PQgetResult(c) : nullptr);
  if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    fail(StatusFromResult(sync.get(), c, "pipeline sync"));
  }
  if (PQexitPipelineMode(c) != 1) {
    fail(absl::UnavailableError(
        absl::StrCat("PostgreSQL pipeline: ",
                     absl::StripAsciiWhitespace(PQerrorMessage(c)))));
  }
}

absl::Status Connection::Flush() {
  DrainPipeline();
  absl::Status st = std::move(pipeline_error_);
  pipeline_error_ = absl::OkStatus();
  return st;
}

absl::Status Connection::Run(absl::string_view sql, const Params& params) {
  return Query(sql, params).status();
}

absl::Status Connection::ExecScript(absl::string_view sql) {
  DrainPipeline();
  ResultPtr r(PQexec(conn_.get(), std::string(sql).c_str()));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    return StatusFromResult(r.get(), conn_.get(),
                            sql.size() > 60 ? sql.substr(0, 60) : sql);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Connection::QueryInt64(absl::string_view sql,
                                               const Params& params) {
  TA_ASSIGN_OR_RETURN(Result r, Query(sql, params));
  if (r.rows() == 0) {
    return absl::InternalError(absl::StrCat(sql, ": no row"));
  }
  return r.row(0).Int64(0);
}

absl::Status Connection::Reset() {
  prepared_.clear();
  pending_.clear();
  pipeline_error_ = absl::OkStatus();
  PQreset(conn_.get());
  if (!ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reconnect to PostgreSQL: ",
                     absl::StripAsciiWhitespace(PQerrorMessage(conn_.get()))));
  }
  return absl::OkStatus();
}

// --- ReadPool ---------------------------------------------------------------

ReadPool::ReadPool(std::string conninfo, std::string password, int max_idle)
    : ConnectionPool(
          [conninfo = std::move(conninfo), password = std::move(password)] {
            return Connection::Open(conninfo, password);
          },
          [](Connection& c) {
            if (!c.ok()) return Returned::kCloseAll;
            return c.Idle() ? Returned::kKeep : Returned::kClose;
          },
          max_idle) {}

}  // namespace token_authority::storage::pg

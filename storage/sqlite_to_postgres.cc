#include "storage/sqlite_to_postgres.h"

#include <sys/stat.h>

#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "base/random.h"
#include "base/status_macros.h"
#include "storage/kek_binding.h"
#include "storage/pg_connection.h"
#include "storage/pg_schema.h"
#include "storage/schema.h"
#include "storage/sqlite_db.h"

namespace token_authority::storage {
namespace {

// How a column's values travel to PostgreSQL (NULL stays NULL).
enum class Kind { kInt, kText, kBytes };

struct Column {
  const char* name;
  Kind kind;
};

constexpr Kind I = Kind::kInt;
constexpr Kind T = Kind::kText;
constexpr Kind B = Kind::kBytes;

// The columns of the SQLite schema (schema.cc), minus tokens.request_hash.
constexpr Column kOrganizations[] = {{"no", I},         {"id", T},
                                     {"name", T},       {"secure_enabled", I},
                                     {"created_at", I}, {"updated_at", I}};
constexpr Column kApiKeys[] = {
    {"no", I},         {"id", T},         {"org_no", I},
    {"role", I},       {"name", T},       {"secret_hash", B},
    {"created_at", I}, {"revoked_at", I}, {"last_used_at", I}};
constexpr Column kSigningKeys[] = {
    {"no", I},    {"org_no", I},     {"kid", T},        {"algorithm", T},
    {"state", I}, {"created_at", I}, {"retired_at", I}, {"sealed_key", B}};
constexpr Column kTokens[] = {{"no", I},
                              {"id", B},
                              {"org_no", I},
                              {"kind", I},
                              {"target", T},
                              {"issued_at", I},
                              {"not_before", I},
                              {"expires_at", I},
                              {"key_no", I},
                              {"jwt_sha256", B},
                              {"issued_by", I},
                              {"user_id", T},
                              {"tag", T},
                              {"client_ip", T},
                              {"domain", T},
                              {"request_id", T},
                              {"spec_fingerprint", B},
                              {"revoked_at", I},
                              {"revocation_seq", I},
                              {"revocation_reason", T}};
constexpr Column kTokenStreams[] = {
    {"org_no", I}, {"stream", T}, {"issued_at", I}, {"token_no", I}};
constexpr Column kRevocations[] = {{"seq", I},
                                   {"token_id", B},
                                   {"org_no", I},
                                   {"revoked_at", I},
                                   {"expires_at", I}};
constexpr Column kAuditEvents[] = {
    {"id", I},         {"time", I},     {"action", I}, {"org_no", I},
    {"actor_no", I},   {"token_id", B}, {"tag", T},    {"user_id", T},
    {"request_id", T}, {"detail", T}};
constexpr Column kMeta[] = {{"key", T}, {"value", B}};

// A table copied row by row, in `order`, the rows `where` selects (the
// same filter counts them on both sides, and finds a target not empty).
struct Table {
  const char* name;
  const char* where;  // "" or a condition
  const char* order;
  absl::Span<const Column> columns;
};

// Parents before children (foreign keys).
constexpr Table kTables[] = {
    {"organizations", "no <> 0", "no", kOrganizations},
    {"api_keys", "", "no", kApiKeys},
    {"signing_keys", "", "no", kSigningKeys},
    {"tokens", "", "no", kTokens},
    {"token_streams", "", "org_no, stream, issued_at, token_no", kTokenStreams},
    {"revocations", "", "seq", kRevocations},
    {"audit_events", "", "id", kAuditEvents},
    // The key-encryption key's check value and fingerprint (the other meta
    // rows are the SQLite store's own, e.g. its health probe).
    {"meta", "key IN ('kek_check', 'kek_fingerprint')", "key", kMeta},
};

// The identity columns, set past the copied numbers.
constexpr std::pair<const char*, const char*> kIdentities[] = {
    {"organizations", "no"},
    {"api_keys", "no"},
    {"signing_keys", "no"},
    {"tokens", "no"},
    {"audit_events", "id"}};

std::string CountSql(const Table& t, absl::string_view where) {
  return absl::StrCat("SELECT count(*) FROM ", t.name,
                      where.empty() ? "" : " WHERE ", where);
}

// "INSERT INTO t(cols) VALUES ($1, ...), ..." for `rows` rows.
std::string InsertSql(const Table& t, int rows) {
  std::vector<std::string> names;
  for (const Column& c : t.columns) names.push_back(c.name);
  std::string sql = absl::StrCat("INSERT INTO ", t.name, "(",
                                 absl::StrJoin(names, ", "), ") VALUES ");
  int n = 0;
  for (int r = 0; r < rows; ++r) {
    absl::StrAppend(&sql, r == 0 ? "(" : ", (");
    for (size_t c = 0; c < t.columns.size(); ++c) {
      absl::StrAppend(&sql, c == 0 ? "$" : ", $", ++n);
    }
    absl::StrAppend(&sql, ")");
  }
  return sql;
}

void AddValue(const sqlite::Statement& s, int col, Kind kind, pg::Params& p) {
  if (s.IsNull(col)) {
    p.Null();
    return;
  }
  switch (kind) {
    case Kind::kInt:
      p.Int(s.Int64(col));
      break;
    case Kind::kText:
      p.Text(s.Text(col));
      break;
    case Kind::kBytes:
      p.Bytes(s.Blob(col));
      break;
  }
}

// Copies table `t`; the number of rows copied.
absl::StatusOr<int64_t> CopyTable(sqlite::Connection& from, pg::Connection& to,
                                  const Table& t, int batch_rows) {
  std::vector<std::string> names;
  for (const Column& c : t.columns) names.push_back(c.name);
  TA_ASSIGN_OR_RETURN(
      sqlite::StmtPtr stmt,
      from.PrepareUncached(absl::StrCat(
          "SELECT ", absl::StrJoin(names, ", "), " FROM ", t.name,
          *t.where == '\0' ? "" : " WHERE ", t.where, " ORDER BY ", t.order)));
  sqlite::Statement s(from.db(), stmt.get());
  const std::string full_batch = InsertSql(t, batch_rows);
  int64_t copied = 0;
  pg::Params params;
  int pending = 0;
  auto flush = [&]() -> absl::Status {
    if (pending == 0) return absl::OkStatus();
    absl::Status st = to.Run(
        pending == batch_rows ? full_batch : InsertSql(t, pending), params);
    if (!st.ok()) {
      return absl::Status(st.code(),
                          absl::StrCat("copying ", t.name, ": ", st.message()));
    }
    copied += pending;
    pending = 0;
    params = pg::Params();
    return absl::OkStatus();
  };
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    for (size_t c = 0; c < t.columns.size(); ++c) {
      AddValue(s, static_cast<int>(c), t.columns[c].kind, params);
    }
    if (++pending == batch_rows) TA_RETURN_IF_ERROR(flush());
  }
  TA_RETURN_IF_ERROR(flush());
  return copied;
}

absl::StatusOr<std::optional<std::string>> ReadMeta(sqlite::Connection& c,
                                                    absl::string_view key) {
  TA_ASSIGN_OR_RETURN(sqlite::Statement s,
                      c.Prepare("SELECT value FROM meta WHERE key = ?1"));
  s.BindText(1, key);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(s.Blob(0)));
}

// Every sealed signing key opens with `kek`.
absl::Status CheckSealedKeys(sqlite::Connection& c, const KeyEncryptionKey& kek,
                             const std::string& path) {
  TA_ASSIGN_OR_RETURN(
      sqlite::StmtPtr stmt,
      c.PrepareUncached("SELECT o.id, k.kid, k.sealed_key FROM signing_keys "
                        "k JOIN organizations o ON o.no = k.org_no"));
  sqlite::Statement s(c.db(), stmt.get());
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return absl::OkStatus();
    if (!kek.Open(s.Blob(2), SigningKeyAad(s.Text(0), s.Text(1))).ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key ", kek.Fingerprint(),
                       " does not open signing key ", s.Text(1), " of ", path));
    }
  }
}

// The key-encryption key, checked against the SQLite database's check value
// and every sealed signing key. The key file is never created here.
absl::StatusOr<KeyEncryptionKey> CheckKek(sqlite::Connection& c,
                                          const SqliteToPostgresOptions& o) {
  KekRecord record;
  TA_ASSIGN_OR_RETURN(record.check, ReadMeta(c, "kek_check"));
  TA_ASSIGN_OR_RETURN(record.fingerprint, ReadMeta(c, "kek_fingerprint"));
  std::optional<KeyEncryptionKey> kek = o.key_encryption_key;
  if (!kek.has_value()) {
    absl::StatusOr<KeyEncryptionKey> loaded =
        KeyEncryptionKey::Load(o.key_encryption_key_path);
    if (absl::IsNotFound(loaded.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key file ", o.key_encryption_key_path,
                       " is missing; the signing keys of ", o.sqlite_path,
                       " are encrypted with key ",
                       record.fingerprint.value_or("(unknown)")));
    }
    TA_RETURN_IF_ERROR(loaded.status());
    kek = *std::move(loaded);
  }
  record.holds_signing_keys = true;  // never create a key file
  TA_ASSIGN_OR_RETURN(KeyEncryptionKey checked,
                      ResolveKek(record, kek, o.key_encryption_key_path,
                                 o.sqlite_path, RandomSource::Secure()));
  TA_RETURN_IF_ERROR(CheckSealedKeys(c, checked, o.sqlite_path));
  return checked;
}

// Opens the SQLite database (never creating it) and checks its schema.
absl::StatusOr<std::unique_ptr<sqlite::Connection>> OpenSource(
    const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no SQLite database at ", path));
  }
  TA_ASSIGN_OR_RETURN(
      std::unique_ptr<sqlite::Connection> c,
      sqlite::Connection::Open(
          path, sqlite::ConnectionOptions{"", absl::Seconds(5), false}));
  absl::StatusOr<int> version = sqlite::SchemaVersion(*c);
  if (!version.ok()) return sqlite::Annotate(version.status(), path);
  if (*version == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": not a token-authority database (no schema)"));
  }
  if (*version > sqlite::kLatestSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": database schema version ", *version,
        " is newer than this build supports (", sqlite::kLatestSchemaVersion,
        "): upgrade token-authority"));
  }
  return c;
}

// FailedPrecondition unless the (token-authority) PostgreSQL database holds
// no rows beyond what its schema creates.
absl::Status CheckEmpty(pg::Connection& c) {
  for (const Table& t : kTables) {
    TA_ASSIGN_OR_RETURN(int64_t n, c.QueryInt64(CountSql(t, t.where)));
    if (n > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the PostgreSQL database is not empty (", t.name,
                       " holds ", n, n == 1 ? " row" : " rows",
                       "); migrate copies into an empty database only"));
    }
  }
  TA_ASSIGN_OR_RETURN(int64_t last,
                      c.QueryInt64("SELECT last FROM revocation_counter"));
  if (last != 0) {
    return absl::FailedPreconditionError(
        "the PostgreSQL database is not empty (its revocation counter is at " +
        std::to_string(last) + "); migrate copies into an empty database only");
  }
  return absl::OkStatus();
}

// The highest revocation sequence the SQLite database ever used.
absl::StatusOr<int64_t> LastSequence(sqlite::Connection& c) {
  return c.QueryInt64(
      "SELECT max(v) FROM (SELECT coalesce((SELECT seq FROM sqlite_sequence "
      "WHERE name = 'revocations'), 0) AS v UNION ALL SELECT "
      "coalesce(max(seq), 0) FROM revocations UNION ALL SELECT "
      "coalesce(max(revocation_seq), 0) FROM tokens)");
}

// Identity sequences past the copied numbers; the revocation counter at
// `last_seq`.
absl::Status SetCounters(pg::Connection& c, int64_t last_seq) {
  for (const auto& [table, column] : kIdentities) {
    TA_RETURN_IF_ERROR(c.ExecScript(absl::StrCat(
        "SELECT setval(pg_get_serial_sequence('", table, "', '", column,
        "'), greatest(coalesce(max(", column, "), 0), 1), coalesce(max(",
        column, "), 0) >= 1) FROM ", table)));
  }
  return c.Run("UPDATE revocation_counter SET last = $1",
               pg::Params().Int(last_seq));
}

// Rolls back an open transaction when it goes out of scope.
class PgTransaction {
 public:
  explicit PgTransaction(pg::Connection* c) : c_(c) {}
  ~PgTransaction() {
    if (open_) (void)c_->ExecScript("ROLLBACK");
  }
  absl::Status Begin() {
    TA_RETURN_IF_ERROR(c_->ExecScript("BEGIN"));
    open_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    open_ = false;
    return c_->ExecScript("COMMIT");
  }

 private:
  pg::Connection* c_;
  bool open_ = false;
};

// The copy proper, inside the PostgreSQL transaction.
absl::StatusOr<SqliteToPostgresReport> CopyAll(sqlite::Connection& from,
                                               pg::Connection& to,
                                               const SqliteToPostgresOptions& o,
                                               const KeyEncryptionKey& kek) {
  SqliteToPostgresReport report;
  for (const Table& t : kTables) {
    TA_ASSIGN_OR_RETURN(int64_t n, CopyTable(from, to, t, o.batch_rows));
    report.tables.push_back({t.name, n});
  }
  TA_ASSIGN_OR_RETURN(std::optional<std::string> check,
                      ReadMeta(from, "kek_check"));
  if (!check.has_value()) {
    // A database from before check values: bind the target to the key.
    TA_ASSIGN_OR_RETURN(std::string sealed,
                        SealKekCheck(kek, RandomSource::Secure()));
    TA_RETURN_IF_ERROR(
        to.Run("INSERT INTO meta(key, value) VALUES ('kek_check', $1), "
               "('kek_fingerprint', $2) ON CONFLICT (key) DO UPDATE SET "
               "value = excluded.value",
               pg::Params().Bytes(sealed).Bytes(kek.Fingerprint())));
  }
  TA_ASSIGN_OR_RETURN(report.last_revocation_sequence, LastSequence(from));
  TA_RETURN_IF_ERROR(SetCounters(to, report.last_revocation_sequence));
  return report;
}

// The counts on both sides, table by table, and the revocation counter.
absl::Status VerifyCounts(sqlite::Connection& from, pg::Connection& to,
                          const SqliteToPostgresReport& report) {
  for (size_t i = 0; i < std::size(kTables); ++i) {
    const Table& t = kTables[i];
    TA_ASSIGN_OR_RETURN(int64_t source, from.QueryInt64(CountSql(t, t.where)));
    TA_ASSIGN_OR_RETURN(int64_t target, to.QueryInt64(CountSql(t, t.where)));
    if (source != target || target != report.tables[i].rows) {
      return absl::DataLossError(
          absl::StrCat("count check failed for ", t.name, ": SQLite holds ",
                       source, " rows, PostgreSQL ", target, " (copied ",
                       report.tables[i].rows, "); nothing was committed"));
    }
  }
  TA_ASSIGN_OR_RETURN(int64_t last,
                      to.QueryInt64("SELECT last FROM revocation_counter"));
  if (last != report.last_revocation_sequence) {
    return absl::DataLossError("count check failed for revocation_counter");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SqliteToPostgresReport> CopySqliteToPostgres(
    const SqliteToPostgresOptions& options) {
  if (options.sqlite_path.empty()) {
    return absl::InvalidArgumentError("sqlite_path: required");
  }
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("conninfo: required");
  }
  if (options.batch_rows < 1 || options.batch_rows > 1000) {
    return absl::InvalidArgumentError("batch_rows: must be between 1 and 1000");
  }
  if (!options.key_encryption_key.has_value() &&
      options.key_encryption_key_path.empty()) {
    return absl::InvalidArgumentError(
        "key_encryption_key_path: required (or give key_encryption_key)");
  }
  TA_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> from,
                      OpenSource(options.sqlite_path));
  // One snapshot of the source (and no writer meanwhile).
  sqlite::Transaction read(from.get());
  if (absl::Status st = read.Begin(); !st.ok()) {
    return sqlite::Annotate(st, options.sqlite_path);
  }
  TA_ASSIGN_OR_RETURN(KeyEncryptionKey kek, CheckKek(*from, options));
  TA_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> to,
                      pg::Connection::Open(options.conninfo, options.password));
  TA_RETURN_IF_ERROR(to->ExecScript("SET synchronous_commit = on"));
  // Replicas starting meanwhile wait for the copy (they take this lock).
  TA_ASSIGN_OR_RETURN(pg::SetupLock lock, pg::SetupLock::Acquire(to.get()));
  TA_ASSIGN_OR_RETURN(int version, pg::SchemaVersion(*to));
  if (version > 0 && version <= pg::kLatestSchemaVersion) {
    // Refused before its schema is touched.
    TA_RETURN_IF_ERROR(CheckEmpty(*to));
  }
  TA_RETURN_IF_ERROR(pg::Migrate(*to));
  PgTransaction write(to.get());
  TA_RETURN_IF_ERROR(write.Begin());
  TA_RETURN_IF_ERROR(CheckEmpty(*to));
  TA_ASSIGN_OR_RETURN(SqliteToPostgresReport report,
                      CopyAll(*from, *to, options, kek));
  TA_RETURN_IF_ERROR(VerifyCounts(*from, *to, report));
  TA_RETURN_IF_ERROR(write.Commit());
  read.Rollback();
  return report;
}

}  // namespace token_authority::storage

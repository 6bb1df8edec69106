// PostgresTokenStoreImpl: tokens (insert, synchronous and asynchronous;
// point reads, lists and counts). Revocation is in _revocations.cc.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/page_token.h"
#include "storage/pg_sql.h"
#include "storage/postgres_token_store_impl.h"
#include "storage/record_readers.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/token_queries.h"

namespace token_authority::storage::pg {
namespace {

const std::string& TokenSelect() {
  static const std::string* const kSql = new std::string(PostgresDialect(
      absl::StrCat("SELECT ", sqlite::kTokenColumns, " FROM tokens t",
                   sqlite::kTokenJoins, " ")));
  return *kSql;
}

// The stored token of organisation row `org_no` with ins.token's request
// id, if any.
absl::StatusOr<std::optional<int64_t>> TokenNoByRequestId(
    Connection& c, int64_t org_no, const TokenInsert& ins) {
  TA_ASSIGN_OR_RETURN(Result r,
                      c.Query("SELECT no FROM tokens WHERE org_no = $1 AND "
                              "request_id = $2",
                              Params().Int(org_no).Text(ins.token.request_id)));
  if (r.rows() == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(r.row(0).Int64(0));
}

// A text[] literal of `names` (each quoted, '"' and '\' escaped).
std::string TextArray(const std::vector<std::string>& names) {
  std::string out = "{";
  for (const std::string& name : names) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char ch : name) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

// The token's row, its token_streams rows (org_no $2, issued_at $5, one a
// name of $17) and its audit event ($18...$26), in one statement: one round
// trip. Nothing is written if the organisation has a token with this request
// id (the UNIQUE constraint decides, also against another replica's
// concurrent insert): no row comes back then.
constexpr char kInsertTokenSql[] =
    "WITH ins AS (INSERT INTO tokens(id, org_no, kind, target, issued_at, "
    "not_before, expires_at, key_no, jwt_sha256, issued_by, user_id, tag, "
    "client_ip, domain, request_id, spec_fingerprint) VALUES ($1, $2, $3, $4, "
    "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT ON "
    "CONSTRAINT tokens_request DO NOTHING RETURNING no), "
    "streams AS (INSERT INTO token_streams(org_no, stream, issued_at, "
    "token_no) SELECT $2, s, $5, ins.no FROM ins, unnest($17::text[]) AS s), "
    "audit AS (INSERT INTO audit_events(time, action, org_no, actor_no, "
    "token_id, tag, user_id, request_id, detail) SELECT $18::bigint, "
    "$19::smallint, $20::bigint, $21::bigint, $22::bytea, $23::text, "
    "$24::text, $25::text, $26::text FROM ins) "
    "SELECT no FROM ins";

// kInsertTokenSql's parameters.
Params InsertTokenParams(WriteCtx& ctx, int64_t org_no, int64_t key_no,
                         std::optional<int64_t> issued_by,
                         const TokenInsert& ins, const AuditRow& audit) {
  const Token& token = ins.token;
  const bool streams = token.target_kind == token::Target::Kind::kStreams;
  Params p;
  p.Bytes(ins.id_bytes)
      .Int(org_no)
      .Int(sqlite::TargetKindColumn(token.target_kind))
      .TextOrNull(ins.target)
      .Int(ins.iat)
      .OptionalInt(StoredNotBefore(ins))
      .Int(ins.exp)
      .Int(key_no)
      .Bytes(token.jwt_sha256)
      .OptionalInt(issued_by)
      .TextOrNull(token.user_id)
      .TextOrNull(token.tag)
      .TextOrNull(token.client_ip)
      .TextOrNull(token.domain)
      .TextOrNull(token.request_id)
      .BytesOrNull(token.spec_fingerprint)
      .Text(streams ? TextArray(token.streams) : "{}")
      .Int(ctx.AuditTime())
      .Int(static_cast<int64_t>(audit.action))
      .Int(audit.org_no)
      .OptionalInt(audit.actor_no)
      .BytesOrNull(audit.token_id_bytes)
      .TextOrNull(audit.tag)
      .TextOrNull(audit.user_id)
      .TextOrNull(audit.request_id)
      .TextOrNull(audit.detail);
  return p;
}

// kInsertTokenSql's row number, or nullopt if the organisation already has
// a token with this request id. AlreadyExists naming the id.
absl::StatusOr<std::optional<int64_t>> InsertedNo(const Token& token,
                                                  absl::StatusOr<Result> r) {
  if (absl::IsAlreadyExists(r.status())) return TokenExistsError(token);
  TA_RETURN_IF_ERROR(r.status());
  if (r->rows() == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(r->row(0).Int64(0));
}

// The existing token with ins.token's request id, as the result.
absl::Status ReturnExisting(Connection& c, int64_t no, TokenInsert& ins) {
  TA_ASSIGN_OR_RETURN(ins.out.token, ReadTokenByNo(c, no));
  ins.out.created = false;
  return absl::OkStatus();
}

// The writer's part of InsertToken (it may run again: sets ins.out afresh).
absl::Status RunTokenInsert(WriteCtx& ctx, TokenInsert& ins) {
  const Token& token = ins.token;
  ResetInsertResult(ins);
  TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(token.organization_id));
  if (!token.request_id.empty()) {
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> known,
                        TokenNoByRequestId(ctx.conn, org_no, ins));
    if (known.has_value()) return ReturnExisting(ctx.conn, *known, ins);
  }
  TA_ASSIGN_OR_RETURN(int64_t key_no, SigningKeyNo(ctx, org_no, token));
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> issued_by,
                      ctx.ApiKeyNo(token.issued_by, "issued_by"));
  TA_ASSIGN_OR_RETURN(AuditRow audit,
                      TokenIssuedAudit(ctx, org_no, ins, issued_by));
  const Params p =
      InsertTokenParams(ctx, org_no, key_no, issued_by, ins, audit);
  if (ctx.pipeline && token.request_id.empty()) {
    // Sent without waiting: a failure fails the batch, which runs again
    // with a savepoint per operation (and no pipeline).
    return ctx.conn.Send(kInsertTokenSql, p,
                         [&token](absl::StatusOr<Result> r) -> absl::Status {
                           TA_ASSIGN_OR_RETURN(std::optional<int64_t> no,
                                               InsertedNo(token, std::move(r)));
                           if (!no.has_value())
                             return absl::InternalError("token not inserted");
                           return absl::OkStatus();
                         });
  }
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> no,
                      InsertedNo(token, ctx.conn.Query(kInsertTokenSql, p)));
  if (!no.has_value()) {
    // Another replica inserted this request id meanwhile.
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> known,
                        TokenNoByRequestId(ctx.conn, org_no, ins));
    if (!known.has_value()) return absl::AbortedError("request id vanished");
    return ReturnExisting(ctx.conn, *known, ins);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<std::pair<int64_t, token::Algorithm>>>
LookupSigningKey(Connection& c, int64_t org_no, const std::string& kid) {
  TA_ASSIGN_OR_RETURN(
      Result r, c.Query("SELECT no, algorithm FROM signing_keys WHERE org_no "
                        "IN ($1, 0) AND kid = $2 ORDER BY org_no DESC LIMIT 1",
                        Params().Int(org_no).Text(kid)));
  if (r.rows() == 0) return std::nullopt;
  TA_ASSIGN_OR_RETURN(token::Algorithm alg,
                      sqlite::AlgorithmFromColumn(r.row(0).Text(1)));
  return std::make_pair(r.row(0).Int64(0), alg);
}

absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no) {
  TA_ASSIGN_OR_RETURN(
      Result r, c.Query(TokenSelect() + "WHERE t.no = $1", Params().Int(no)));
  if (r.rows() == 0) return absl::InternalError("token row vanished");
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<InsertTokenResult> PostgresTokenStoreImpl::InsertToken(
    const Token& token, const AuditContext& audit) {
  return InsertTokenThrough(writer_, token, audit, RunTokenInsert);
}

void PostgresTokenStoreImpl::InsertTokenAsync(const Token& token,
                                              const AuditContext& audit,
                                              InsertTokenDone done) {
  InsertTokenAsyncThrough(writer_, token, audit, std::move(done),
                          RunTokenInsert);
}

absl::StatusOr<Token> PostgresTokenStoreImpl::GetToken(
    absl::string_view organization_id, absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(const std::string id_bytes,
                      CheckGetToken(organization_id, token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(TokenSelect() + "WHERE t.id = $1 AND o.id = $2",
                               Params().Bytes(id_bytes).Text(organization_id)));
  if (r.rows() == 0) return TokenNotFoundError(token_id);
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<Token> PostgresTokenStoreImpl::FindTokenById(
    absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r, c->Query(TokenSelect() + "WHERE t.id = $1",
                                         Params().Bytes(id_bytes)));
  if (r.rows() == 0) return TokenNotFoundError(token_id);
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<Page<Token>> PostgresTokenStoreImpl::ListTokens(
    absl::string_view organization_id, const TokenFilter& filter,
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(
      TokenListStart start,
      StartTokenList(organization_id, filter, &page, clock_.Now()));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(start.q.org_no, LookupOrgNo(*c, organization_id));
  const sqlite::BoundQuery bq = sqlite::BuildTokenListQuery(start.q);
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(bq.sql), ParamsOf(bq)));
  PageFiller<Token> out(start.size, PageKind::kTokens, start.binding);
  for (int i = 0; i < r.rows() && out.Room(); ++i) {
    const Row row = r.row(i);
    TA_ASSIGN_OR_RETURN(Token token, readers::ReadToken(row));
    out.Add(std::move(token), TokenCursor(row.Int64(5), row.Int64(0)));
  }
  return out.Take();
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::CountTokens(
    absl::string_view organization_id, const TokenFilter& filter) {
  TA_ASSIGN_OR_RETURN(
      TokenListStart start,
      StartTokenList(organization_id, filter, nullptr, clock_.Now()));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(start.q.org_no, LookupOrgNo(*c, organization_id));
  const sqlite::BoundQuery bq = sqlite::BuildTokenCountQuery(start.q);
  return c->QueryInt64(PostgresDialect(bq.sql), ParamsOf(bq));
}

}  // namespace token_authority::storage::pg

// PostgresTokenStoreImpl: tokens (insert, synchronous and asynchronous;
// point reads, lists and counts). Revocation is in _revocations.cc.
#include <memory>
#include <optional>
#include <string>
#include <utility>

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

// An InsertToken checked on the caller's thread, for the writer to run.
struct TokenInsert {
  Token token;
  AuditContext audit;
  std::string id_bytes;
  std::string target;  // tokens.target: the group id or the joined streams
  int64_t iat = 0;
  int64_t nbf = 0;
  int64_t exp = 0;
  InsertTokenResult out;
};

const std::string& TokenSelect() {
  static const std::string* const kSql = new std::string(PostgresDialect(
      absl::StrCat("SELECT ", sqlite::kTokenColumns, " FROM tokens t",
                   sqlite::kTokenJoins, " ")));
  return *kSql;
}

absl::StatusOr<std::unique_ptr<TokenInsert>> PrepareTokenInsert(
    const Token& token, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckToken(token));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  auto ins = std::make_unique<TokenInsert>();
  TA_ASSIGN_OR_RETURN(ins->id_bytes, DecodeTokenId(token.id, "id"));
  if (token.target_kind == token::Target::Kind::kStreamGroup) {
    ins->target = token.stream_group_id;
  } else if (token.target_kind == token::Target::Kind::kStreams) {
    ins->target = absl::StrJoin(token.streams, ",");
  }
  ins->iat = absl::ToUnixSeconds(token.issued_at);
  ins->nbf = absl::ToUnixSeconds(token.not_before);
  ins->exp = absl::ToUnixSeconds(token.expires_at);
  ins->token = token;
  ins->audit = audit;
  return ins;
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

// The row number of the token's signing key (the organisation's own, else a
// service-wide one), checked against the token's algorithm.
absl::StatusOr<int64_t> SigningKeyNo(WriteCtx& ctx, int64_t org_no,
                                     const Token& token) {
  TA_ASSIGN_OR_RETURN(
      Result r,
      ctx.conn.Query("SELECT no, algorithm FROM signing_keys WHERE org_no IN "
                     "($1, 0) AND kid = $2 ORDER BY org_no DESC LIMIT 1",
                     Params().Int(org_no).Text(token.key_id)));
  if (r.rows() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("key_id: no signing key ", token.key_id,
                     " for organization ", token.organization_id));
  }
  TA_ASSIGN_OR_RETURN(token::Algorithm key_alg,
                      sqlite::AlgorithmFromColumn(r.row(0).Text(1)));
  if (key_alg != token.algorithm) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm: ", token::AlgorithmName(token.algorithm),
                     " does not match key ", token.key_id, " (",
                     token::AlgorithmName(key_alg), ")"));
  }
  return r.row(0).Int64(0);
}

// Inserts the tokens row; its row number, or nullopt if the organisation
// already has a token with this request id (the UNIQUE constraint decides,
// also against another replica's concurrent insert). AlreadyExists naming
// the id.
absl::StatusOr<std::optional<int64_t>> InsertTokenRow(
    Connection& c, int64_t org_no, int64_t key_no,
    std::optional<int64_t> issued_by, const TokenInsert& ins) {
  const Token& token = ins.token;
  Params p;
  p.Bytes(ins.id_bytes)
      .Int(org_no)
      .Int(sqlite::TargetKindColumn(token.target_kind))
      .TextOrNull(ins.target)
      .Int(ins.iat)
      .OptionalInt(ins.nbf == ins.iat ? std::nullopt
                                      : std::optional<int64_t>(ins.nbf))
      .Int(ins.exp)
      .Int(key_no)
      .Bytes(token.jwt_sha256)
      .OptionalInt(issued_by)
      .TextOrNull(token.user_id)
      .TextOrNull(token.tag)
      .TextOrNull(token.client_ip)
      .TextOrNull(token.domain)
      .TextOrNull(token.request_id)
      .BytesOrNull(token.spec_fingerprint);
  absl::StatusOr<Result> r = c.Query(
      "INSERT INTO tokens(id, org_no, kind, target, issued_at, not_before, "
      "expires_at, key_no, jwt_sha256, issued_by, user_id, tag, client_ip, "
      "domain, request_id, spec_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, "
      "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT ON "
      "CONSTRAINT tokens_request DO NOTHING RETURNING no",
      p);
  if (absl::IsAlreadyExists(r.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("id: token ", token.id, " already exists"));
  }
  TA_RETURN_IF_ERROR(r.status());
  if (r->rows() == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(r->row(0).Int64(0));
}

absl::Status InsertTokenStreams(Connection& c, int64_t org_no, int64_t no,
                                const TokenInsert& ins) {
  for (const std::string& stream : ins.token.streams) {
    TA_RETURN_IF_ERROR(
        c.Run("INSERT INTO token_streams(org_no, stream, issued_at, token_no) "
              "VALUES ($1, $2, $3, $4)",
              Params().Int(org_no).Text(stream).Int(ins.iat).Int(no)));
  }
  return absl::OkStatus();
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
  const AuditContext& audit = ins.audit;
  ins.out = InsertTokenResult{token, true};
  ins.out.token.revoked_at.reset();
  ins.out.token.revocation_reason.clear();
  ins.out.token.revocation_sequence = 0;
  TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(token.organization_id));
  if (!token.request_id.empty()) {
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> known,
                        TokenNoByRequestId(ctx.conn, org_no, ins));
    if (known.has_value()) return ReturnExisting(ctx.conn, *known, ins);
  }
  TA_ASSIGN_OR_RETURN(int64_t key_no, SigningKeyNo(ctx, org_no, token));
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> issued_by,
                      ctx.ApiKeyNo(token.issued_by, "issued_by"));
  AuditRow row{AuditAction::kTokenIssued, org_no};
  row.actor_no = issued_by;
  if (!audit.actor.empty()) {
    TA_ASSIGN_OR_RETURN(row.actor_no, ctx.ApiKeyNo(audit.actor, "actor"));
  }
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> no,
                      InsertTokenRow(ctx.conn, org_no, key_no, issued_by, ins));
  if (!no.has_value()) {
    // Another replica inserted this request id meanwhile.
    TA_ASSIGN_OR_RETURN(std::optional<int64_t> known,
                        TokenNoByRequestId(ctx.conn, org_no, ins));
    if (!known.has_value()) return absl::AbortedError("request id vanished");
    return ReturnExisting(ctx.conn, *known, ins);
  }
  if (token.target_kind == token::Target::Kind::kStreams) {
    TA_RETURN_IF_ERROR(InsertTokenStreams(ctx.conn, org_no, *no, ins));
  }
  row.token_id_bytes = ins.id_bytes;
  row.tag = token.tag;
  row.user_id = token.user_id;
  row.request_id =
      audit.request_id.empty() ? token.request_id : audit.request_id;
  row.detail = audit.detail;
  return InsertAudit(ctx, row);
}

}  // namespace

absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no) {
  TA_ASSIGN_OR_RETURN(
      Result r, c.Query(TokenSelect() + "WHERE t.no = $1", Params().Int(no)));
  if (r.rows() == 0) return absl::InternalError("token row vanished");
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<InsertTokenResult> PostgresTokenStoreImpl::InsertToken(
    const Token& token, const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(std::unique_ptr<TokenInsert> ins,
                      PrepareTokenInsert(token, audit));
  TA_RETURN_IF_ERROR(
      writer_.Write([&](WriteCtx& ctx) { return RunTokenInsert(ctx, *ins); }));
  return std::move(ins->out);
}

void PostgresTokenStoreImpl::InsertTokenAsync(const Token& token,
                                              const AuditContext& audit,
                                              InsertTokenDone done) {
  absl::StatusOr<std::unique_ptr<TokenInsert>> prepared =
      PrepareTokenInsert(token, audit);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<TokenInsert> ins = *std::move(prepared);
  writer_.WriteAsync([ins](WriteCtx& ctx) { return RunTokenInsert(ctx, *ins); },
                     [ins, done = std::move(done)](const absl::Status& status) {
                       if (status.ok()) {
                         done(std::move(ins->out));
                       } else {
                         done(status);
                       }
                     });
}

absl::StatusOr<Token> PostgresTokenStoreImpl::GetToken(
    absl::string_view organization_id, absl::string_view token_id) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(TokenSelect() + "WHERE t.id = $1 AND o.id = $2",
                               Params().Bytes(id_bytes).Text(organization_id)));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
  }
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<Token> PostgresTokenStoreImpl::FindTokenById(
    absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(Result r, c->Query(TokenSelect() + "WHERE t.id = $1",
                                         Params().Bytes(id_bytes)));
  if (r.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("token ", token_id, " not found"));
  }
  return readers::ReadToken(r.row(0));
}

absl::StatusOr<Page<Token>> PostgresTokenStoreImpl::ListTokens(
    absl::string_view organization_id, const TokenFilter& filter,
    const PageRequest& page) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckTokenFilter(filter));
  TA_ASSIGN_OR_RETURN(int size, EffectivePageSize(page.page_size));
  const std::string binding = sqlite::TokenListBinding(organization_id, filter);
  sqlite::TokenQuery q;
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kTokens, binding));
    TA_ASSIGN_OR_RETURN(q.after, DecodeInt64Pair(payload));
  }
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
  q.filter = filter;
  q.now_seconds = sqlite::FloorSeconds(filter.now.value_or(clock_.Now()));
  q.limit = size + 1;
  const sqlite::BoundQuery bq = sqlite::BuildTokenListQuery(q);
  TA_ASSIGN_OR_RETURN(Result r,
                      c->Query(PostgresDialect(bq.sql), ParamsOf(bq)));
  Page<Token> out;
  int64_t last_iat = 0;
  int64_t last_no = 0;
  for (int i = 0; i < r.rows(); ++i) {
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = EncodePageToken(PageKind::kTokens, binding,
                                            EncodeInt64Pair(last_iat, last_no));
      break;
    }
    const Row row = r.row(i);
    last_no = row.Int64(0);
    last_iat = row.Int64(5);
    TA_ASSIGN_OR_RETURN(Token token, readers::ReadToken(row));
    out.items.push_back(std::move(token));
  }
  return out;
}

absl::StatusOr<int64_t> PostgresTokenStoreImpl::CountTokens(
    absl::string_view organization_id, const TokenFilter& filter) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckTokenFilter(filter));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  sqlite::TokenQuery q;
  TA_ASSIGN_OR_RETURN(q.org_no, LookupOrgNo(*c, organization_id));
  q.filter = filter;
  q.now_seconds = sqlite::FloorSeconds(filter.now.value_or(clock_.Now()));
  const sqlite::BoundQuery bq = sqlite::BuildTokenCountQuery(q);
  return c->QueryInt64(PostgresDialect(bq.sql), ParamsOf(bq));
}

}  // namespace token_authority::storage::pg

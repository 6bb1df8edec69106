// SqliteTokenStoreImpl: tokens (insert, synchronous and asynchronous; point
// reads, lists and counts). Revocation is in sqlite_token_store_revocations.cc.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/column_codes.h"
#include "storage/page_token.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"
#include "storage/sqlite_token_store_impl.h"
#include "storage/token_queries.h"

namespace token_authority::storage::sqlite {
namespace {

// The token of organisation row `org_no` with the request id of ins.token:
// true (and ins.out set to it, not created) if there is one.
absl::StatusOr<bool> FindByRequestId(Connection& c, int64_t org_no,
                                     TokenInsert& ins) {
  // (org_no, request_hash) is indexed; the writer is the only writer,
  // so checking here inside its transaction keeps request ids unique.
  TA_ASSIGN_OR_RETURN(Statement s, c.Prepare(kTokenByRequestSql));
  s.BindInt64(1, org_no);
  s.BindInt64(2, *ins.request_hash);
  s.BindText(3, ins.token.request_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return false;
  const int64_t no = s.Int64(0);
  TA_ASSIGN_OR_RETURN(ins.out.token, ReadTokenByNo(c, no));
  ins.out.created = false;
  return true;
}

}  // namespace

absl::StatusOr<std::optional<std::pair<int64_t, token::Algorithm>>>
LookupSigningKey(Connection& c, int64_t org_no, const std::string& kid) {
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("SELECT no, algorithm FROM signing_keys WHERE org_no IN (?1, "
                "0) AND kid = ?2 ORDER BY org_no DESC LIMIT 1"));
  s.BindInt64(1, org_no);
  s.BindText(2, kid);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::nullopt;
  TA_ASSIGN_OR_RETURN(token::Algorithm alg, AlgorithmFromColumn(s.Text(1)));
  return std::make_pair(s.Int64(0), alg);
}

namespace {

// Inserts the tokens row; returns its row number. AlreadyExists naming the
// id.
absl::StatusOr<int64_t> InsertTokenRow(Connection& c, int64_t org_no,
                                       int64_t key_no,
                                       std::optional<int64_t> issued_by,
                                       const TokenInsert& ins) {
  const Token& token = ins.token;
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("INSERT INTO tokens(id, org_no, kind, target, issued_at, "
                "not_before, expires_at, key_no, jwt_sha256, issued_by, "
                "user_id, tag, client_ip, domain, request_id, "
                "request_hash, spec_fingerprint) VALUES (?1, ?2, ?3, ?4, "
                "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                "?17)"));
  s.BindBlob(1, ins.id_bytes);
  s.BindInt64(2, org_no);
  s.BindInt64(3, TargetKindColumn(token.target_kind));
  s.BindTextOrNull(4, ins.target);
  s.BindInt64(5, ins.iat);
  s.BindOptionalInt64(6, StoredNotBefore(ins));
  s.BindInt64(7, ins.exp);
  s.BindInt64(8, key_no);
  s.BindBlob(9, token.jwt_sha256);
  s.BindOptionalInt64(10, issued_by);
  s.BindTextOrNull(11, token.user_id);
  s.BindTextOrNull(12, token.tag);
  s.BindTextOrNull(13, token.client_ip);
  s.BindTextOrNull(14, token.domain);
  s.BindTextOrNull(15, token.request_id);
  s.BindOptionalInt64(16, ins.request_hash);
  s.BindBlobOrNull(17, token.spec_fingerprint);
  absl::Status st = s.Run();
  if (absl::IsAlreadyExists(st)) return TokenExistsError(token);
  TA_RETURN_IF_ERROR(st);
  return c.LastInsertRowId();
}

// One token_streams row per stream of a kStreams token (row `no`).
absl::Status InsertTokenStreams(Connection& c, int64_t org_no, int64_t no,
                                const TokenInsert& ins) {
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare("INSERT INTO token_streams(org_no, stream, issued_at, "
                "token_no) VALUES (?1, ?2, ?3, ?4)"));
  for (const std::string& stream : ins.token.streams) {
    s.BindInt64(1, org_no);
    s.BindText(2, stream);
    s.BindInt64(3, ins.iat);
    s.BindInt64(4, no);
    TA_RETURN_IF_ERROR(s.Run());
    s.Reset();
  }
  return absl::OkStatus();
}

// The writer's part of InsertToken: the token (unless its request id is
// known: then that token), its streams and its audit event.
absl::Status RunTokenInsert(WriteCtx& ctx, TokenInsert& ins) {
  const Token& token = ins.token;
  TA_ASSIGN_OR_RETURN(int64_t org_no, ctx.OrgNo(token.organization_id));
  if (!token.request_id.empty()) {
    TA_ASSIGN_OR_RETURN(bool known, FindByRequestId(ctx.conn, org_no, ins));
    if (known) return absl::OkStatus();
  }
  TA_ASSIGN_OR_RETURN(int64_t key_no, SigningKeyNo(ctx, org_no, token));
  TA_ASSIGN_OR_RETURN(std::optional<int64_t> issued_by,
                      ctx.ApiKeyNo(token.issued_by, "issued_by"));
  TA_ASSIGN_OR_RETURN(int64_t no,
                      InsertTokenRow(ctx.conn, org_no, key_no, issued_by, ins));
  if (token.target_kind == token::Target::Kind::kStreams) {
    TA_RETURN_IF_ERROR(InsertTokenStreams(ctx.conn, org_no, no, ins));
  }
  return WriteTokenIssuedAudit(ctx, org_no, ins, issued_by);
}

}  // namespace

absl::StatusOr<Token> ReadTokenByNo(Connection& c, int64_t no) {
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c.Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM tokens t",
                             kTokenJoins, " WHERE t.no = ?1")));
  s.BindInt64(1, no);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("token row vanished");
  return ReadToken(s);
}

absl::StatusOr<InsertTokenResult> SqliteTokenStoreImpl::InsertToken(
    const Token& token, const AuditContext& audit) {
  return InsertTokenThrough(writer_, token, audit, RunTokenInsert);
}

void SqliteTokenStoreImpl::InsertTokenAsync(const Token& token,
                                            const AuditContext& audit,
                                            InsertTokenDone done) {
  InsertTokenAsyncThrough(writer_, token, audit, std::move(done),
                          RunTokenInsert);
}

absl::StatusOr<Token> SqliteTokenStoreImpl::GetToken(
    absl::string_view organization_id, absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(const std::string id_bytes,
                      CheckGetToken(organization_id, token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM tokens t",
                              kTokenJoins, " WHERE t.id = ?1 AND o.id = ?2")));
  s.BindBlob(1, id_bytes);
  s.BindText(2, organization_id);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return TokenNotFoundError(token_id);
  return ReadToken(s);
}

absl::StatusOr<Token> SqliteTokenStoreImpl::FindTokenById(
    absl::string_view token_id) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes, DecodeTokenId(token_id));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(
      Statement s,
      c->Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM tokens t",
                              kTokenJoins, " WHERE t.id = ?1")));
  s.BindBlob(1, id_bytes);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return TokenNotFoundError(token_id);
  return ReadToken(s);
}

absl::StatusOr<Page<Token>> SqliteTokenStoreImpl::ListTokens(
    absl::string_view organization_id, const TokenFilter& filter,
    const PageRequest& page) {
  TA_ASSIGN_OR_RETURN(
      TokenListStart start,
      StartTokenList(organization_id, filter, &page, clock_.Now()));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(start.q.org_no, LookupOrgNo(*c, organization_id));
  const BoundQuery bq = BuildTokenListQuery(start.q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  PageFiller<Token> out(start.size, PageKind::kTokens, start.binding);
  while (true) {
    TA_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || !out.Room()) break;
    TA_ASSIGN_OR_RETURN(Token token, ReadToken(s));
    out.Add(std::move(token), TokenCursor(s.Int64(5), s.Int64(0)));
  }
  return out.Take();
}

absl::StatusOr<int64_t> SqliteTokenStoreImpl::CountTokens(
    absl::string_view organization_id, const TokenFilter& filter) {
  TA_ASSIGN_OR_RETURN(
      TokenListStart start,
      StartTokenList(organization_id, filter, nullptr, clock_.Now()));
  TA_ASSIGN_OR_RETURN(ReadPool::Lease c, readers_.Acquire());
  TA_ASSIGN_OR_RETURN(start.q.org_no, LookupOrgNo(*c, organization_id));
  const BoundQuery bq = BuildTokenCountQuery(start.q);
  TA_ASSIGN_OR_RETURN(Statement s, c->Prepare(bq.sql));
  bq.Bind(s);
  TA_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("count returned no row");
  return s.Int64(0);
}

}  // namespace token_authority::storage::sqlite

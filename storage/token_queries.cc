#include "storage/token_queries.h"

#include <openssl/evp.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/column_codes.h"
#include "storage/page_token.h"

namespace token_authority::storage::sqlite {

const char kTokenColumns[] =
    "t.no, t.id, o.id, t.kind, t.target, t.issued_at, t.not_before, "
    "t.expires_at, k.kid, k.algorithm, t.jwt_sha256, a.id, t.user_id, t.tag, "
    "t.client_ip, t.domain, t.request_id, t.spec_fingerprint, t.revoked_at, "
    "t.revocation_seq, t.revocation_reason";

// CROSS JOIN keeps tokens as the outer loop (SQLite never reorders it).
const char kTokenJoins[] =
    " CROSS JOIN organizations o ON o.no = t.org_no"
    " CROSS JOIN signing_keys k ON k.no = t.key_no"
    " LEFT JOIN api_keys a ON a.no = t.issued_by";

const char kAuditColumns[] =
    "e.id, e.time, e.action, a.id, o.id, e.token_id, e.tag, e.user_id, "
    "e.request_id, e.detail";

const char kAuditProbeSql[] =
    "SELECT id, time FROM audit_events WHERE id >= ?1 ORDER BY id LIMIT 1";

const char kTokenByRequestSql[] =
    "SELECT no FROM tokens WHERE org_no = ?1 AND request_hash = ?2 AND "
    "request_id = ?3";

int64_t RequestHash(absl::string_view request_id) {
  // Fetched once: EVP_sha256() makes EVP_Digest look the implementation up
  // on every call (OpenSSL 3), which costs more than hashing a request id.
  // Never freed (process lifetime); a failed fetch falls back to that.
  static const EVP_MD* const kSha256 = [] {
    const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md != nullptr ? md : EVP_sha256();
  }();
  unsigned char digest[EVP_MAX_MD_SIZE] = {};
  unsigned int len = 0;
  EVP_Digest(request_id.data(), request_id.size(), digest, &len, kSha256,
             nullptr);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return static_cast<int64_t>(v);
}

absl::StatusOr<std::optional<int64_t>> FirstAuditIdAtOrAfter(Connection& c,
                                                             int64_t micros) {
  // f(x) = time of the first event with id >= x; non-decreasing in x.
  struct Probe {
    bool found;
    int64_t id;
    int64_t time;
  };
  auto probe = [&](int64_t x) -> absl::StatusOr<Probe> {
    absl::StatusOr<Statement> s = c.Prepare(kAuditProbeSql);
    if (!s.ok()) return s.status();
    s->BindInt64(1, x);
    absl::StatusOr<bool> row = s->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Probe{false, 0, 0};
    return Probe{true, s->Int64(0), s->Int64(1)};
  };
  absl::StatusOr<Probe> first = probe(INT64_MIN);
  if (!first.ok()) return first.status();
  if (!first->found) return std::optional<int64_t>();
  if (first->time >= micros) return std::optional<int64_t>(first->id);
  absl::StatusOr<int64_t> last_id =
      c.QueryInt64("SELECT coalesce(max(id), 0) FROM audit_events");
  if (!last_id.ok()) return last_id.status();
  absl::StatusOr<Probe> last = probe(*last_id);
  if (!last.ok()) return last.status();
  if (!last->found || last->time < micros) return std::optional<int64_t>();
  // Invariant: f(lo) < micros <= f(hi).
  int64_t lo = first->id;
  int64_t hi = last->id;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<Probe> p = probe(mid);
    if (!p.ok()) return p.status();
    if (p->found && p->time >= micros) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  absl::StatusOr<Probe> answer = probe(hi);
  if (!answer.ok()) return answer.status();
  return std::optional<int64_t>(answer->id);
}

const char kRevocationsSinceSql[] =
    "SELECT r.seq, r.token_id, o.id, r.revoked_at, r.expires_at FROM "
    "revocations r CROSS JOIN organizations o ON o.no = r.org_no "
    "WHERE r.seq > ?1 ORDER BY r.seq LIMIT ?2";

// The planner would rather scan the whole log in sequence order than sort;
// the unexpired part is small, so force the expiry index.
const char kActiveRevocationsSql[] =
    "SELECT r.seq, r.token_id, o.id, r.revoked_at, r.expires_at FROM "
    "revocations r INDEXED BY revocations_expires CROSS JOIN organizations o "
    "ON o.no = r.org_no "
    "WHERE r.expires_at > ?1 ORDER BY r.seq";

const char kSweepSelectSql[] =
    "SELECT no, org_no, kind, issued_at, target FROM tokens "
    "WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2";

const char kSweepRevocationsSql[] =
    "DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations "
    "WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)";

void BoundQuery::Bind(Statement& stmt) const {
  int i = 1;
  for (const SqlValue& v : values) {
    switch (v.type) {
      case SqlValue::Type::kInt:
        stmt.BindInt64(i, v.i);
        break;
      case SqlValue::Type::kText:
        stmt.BindText(i, v.s);
        break;
      case SqlValue::Type::kBlob:
        stmt.BindBlob(i, v.s);
        break;
    }
    ++i;
  }
}

namespace {

// Collects WHERE terms with numbered parameters.
class Where {
 public:
  explicit Where(BoundQuery* q) : q_(q) {}
  // Adds `term`, where each '?' is replaced by the next parameter number.
  void Add(absl::string_view term, std::vector<SqlValue> values = {}) {
    std::string out;
    size_t v = 0;
    for (char c : term) {
      if (c == '?' && v < values.size()) {
        q_->values.push_back(std::move(values[v++]));
        absl::StrAppend(&out, "?", q_->values.size());
      } else {
        out.push_back(c);
      }
    }
    terms_.push_back(std::move(out));
  }
  std::string Sql() const {
    return terms_.empty()
               ? ""
               : absl::StrCat(" WHERE ", absl::StrJoin(terms_, " AND "));
  }

 private:
  BoundQuery* q_;
  std::vector<std::string> terms_;
};

// Ceil of micros to seconds (for `issued_at >= x` and `issued_at < x` on
// whole-second columns).
int64_t CeilSeconds(absl::Time t) {
  const int64_t us = absl::ToUnixMicros(t);
  int64_t s = us / 1000000;
  if (us % 1000000 > 0) ++s;
  return s;
}

struct TokenSource {
  std::string from;  // FROM clause (driving table + joins)
  std::string iat;   // order column: issued_at
  std::string no;    // order column: token no
};

// The driving table: token_streams for a stream filter, else tokens.
TokenSource Source(const std::string& stream_name, bool joins,
                   const char* index_hint) {
  TokenSource s;
  if (!stream_name.empty()) {
    s.from = " FROM token_streams s CROSS JOIN tokens t ON t.no = s.token_no";
    s.iat = "s.issued_at";
    s.no = "s.token_no";
  } else {
    s.from = absl::StrCat(" FROM tokens t", index_hint);
    s.iat = "t.issued_at";
    s.no = "t.no";
  }
  if (joins) s.from += kTokenJoins;
  return s;
}

void AddCommonTokenTerms(Where& w, int64_t org_no, const std::string& tag,
                         const std::string& user_id,
                         const std::string& stream_name,
                         const std::string& group) {
  if (!stream_name.empty()) {
    w.Add("s.org_no = ?", {SqlValue::Int(org_no)});
    w.Add("s.stream = ?", {SqlValue::Text(stream_name)});
  }
  w.Add("t.org_no = ?", {SqlValue::Int(org_no)});
  if (!tag.empty()) w.Add("t.tag = ?", {SqlValue::Text(tag)});
  if (!user_id.empty()) w.Add("t.user_id = ?", {SqlValue::Text(user_id)});
  if (!group.empty()) {
    // A literal, not a parameter: the partial index tokens_group is
    // "WHERE kind = 1" and the planner only uses it for the same literal.
    w.Add(absl::StrCat("t.kind = ", kStoredStreamGroup));
    w.Add("t.target = ?", {SqlValue::Text(group)});
  }
}

void AddKeyset(Where& w, const TokenSource& src,
               const std::optional<std::pair<int64_t, int64_t>>& after) {
  if (!after.has_value()) return;
  // (iat, no) < (a, b) written so that the iat range can use the index.
  w.Add(absl::StrCat(src.iat, " <= ?"), {SqlValue::Int(after->first)});
  w.Add(absl::StrCat("(", src.iat, " < ? OR ", src.no, " < ?)"),
        {SqlValue::Int(after->first), SqlValue::Int(after->second)});
}

BoundQuery BuildTokenQuery(const TokenQuery& q, bool count) {
  BoundQuery out;
  const TokenFilter& f = q.filter;
  // A list of revoked tokens with no narrower index is served by the small
  // partial index tokens_revoked; the planner cannot know it is small.
  const bool revoked_only = f.state == TokenState::kRevoked && f.tag.empty() &&
                            f.user_id.empty() && f.stream_name.empty() &&
                            f.stream_group_id.empty();
  const TokenSource src =
      Source(f.stream_name, /*joins=*/!count,
             revoked_only ? " INDEXED BY tokens_revoked" : "");
  Where w(&out);
  AddCommonTokenTerms(w, q.org_no, f.tag, f.user_id, f.stream_name,
                      f.stream_group_id);
  if (f.state.has_value()) {
    const SqlValue now = SqlValue::Int(q.now_seconds);
    switch (*f.state) {
      case TokenState::kRevoked:
        w.Add("t.revoked_at IS NOT NULL");
        break;
      case TokenState::kExpired:
        w.Add("t.revoked_at IS NULL");
        w.Add("t.expires_at <= ?", {now});
        break;
      case TokenState::kNotYetValid:
        w.Add("t.revoked_at IS NULL");
        w.Add("t.expires_at > ?", {now});
        w.Add("coalesce(t.not_before, t.issued_at) > ?", {now});
        break;
      case TokenState::kActive:
        w.Add("t.revoked_at IS NULL");
        w.Add("t.expires_at > ?", {now});
        w.Add("coalesce(t.not_before, t.issued_at) <= ?", {now});
        break;
    }
  }
  if (f.issued_after.has_value()) {
    w.Add(absl::StrCat(src.iat, " >= ?"),
          {SqlValue::Int(CeilSeconds(*f.issued_after))});
  }
  if (f.issued_before.has_value()) {
    w.Add(absl::StrCat(src.iat, " < ?"),
          {SqlValue::Int(CeilSeconds(*f.issued_before))});
  }
  if (count) {
    out.sql = absl::StrCat("SELECT count(*)", src.from, w.Sql());
    return out;
  }
  AddKeyset(w, src, q.after);
  out.values.push_back(SqlValue::Int(q.limit));
  out.sql = absl::StrCat("SELECT ", kTokenColumns, src.from, w.Sql(),
                         " ORDER BY ", src.iat, " DESC, ", src.no,
                         " DESC LIMIT ?", out.values.size());
  return out;
}

}  // namespace

BoundQuery BuildTokenListQuery(const TokenQuery& q) {
  return BuildTokenQuery(q, /*count=*/false);
}

BoundQuery BuildTokenCountQuery(const TokenQuery& q) {
  return BuildTokenQuery(q, /*count=*/true);
}

BoundQuery BuildRevokeSelectQuery(const RevokeQuery& q, bool count_only) {
  BoundQuery out;
  const RevokeFilter& f = q.filter;
  const TokenSource src = Source(f.stream_name, /*joins=*/false, "");
  Where w(&out);
  AddCommonTokenTerms(w, q.org_no, f.tag, f.user_id, f.stream_name,
                      f.stream_group_id);
  w.Add("t.revoked_at IS NULL");
  w.Add("t.expires_at > ?", {SqlValue::Int(q.now_seconds)});
  // The same not-before terms as ListTokens' state filter, so a dry-run
  // count matches what `tokenctl list --state` shows.
  if (f.state == TokenState::kActive) {
    w.Add("coalesce(t.not_before, t.issued_at) <= ?",
          {SqlValue::Int(q.now_seconds)});
  } else if (f.state == TokenState::kNotYetValid) {
    w.Add("coalesce(t.not_before, t.issued_at) > ?",
          {SqlValue::Int(q.now_seconds)});
  }
  w.Add(absl::StrCat(src.no, " <= ?"), {SqlValue::Int(q.max_no)});
  if (count_only) {
    out.sql = absl::StrCat("SELECT count(*)", src.from, w.Sql());
    return out;
  }
  AddKeyset(w, src, q.after);
  out.values.push_back(SqlValue::Int(q.limit));
  out.sql = absl::StrCat(
      "SELECT t.no, t.id, t.expires_at, t.issued_at, t.tag, t.user_id",
      src.from, w.Sql(), " ORDER BY ", src.iat, " DESC, ", src.no,
      " DESC LIMIT ?", out.values.size());
  return out;
}

BoundQuery BuildAuditListQuery(const AuditQuery& q) {
  BoundQuery out;
  Where w(&out);
  w.Add("e.org_no = ?", {SqlValue::Int(q.org_no)});
  if (!q.tag.empty()) w.Add("e.tag = ?", {SqlValue::Text(q.tag)});
  if (!q.user_id.empty()) w.Add("e.user_id = ?", {SqlValue::Text(q.user_id)});
  if (!q.token_id_bytes.empty()) {
    w.Add("e.token_id = ?", {SqlValue::Blob(q.token_id_bytes)});
  }
  if (q.action.has_value()) {
    w.Add("e.action = ?", {SqlValue::Int(*q.action)});
    // audit_action leaves out token.issued events (the bulk of the log):
    // say so, or SQLite cannot use the partial index. token.issued itself
    // is served by audit_org, where nearly every event matches.
    if (*q.action != static_cast<int>(AuditAction::kTokenIssued)) {
      w.Add("e.action != 1");
    }
  }
  if (q.min_id.has_value()) w.Add("e.id >= ?", {SqlValue::Int(*q.min_id)});
  if (q.max_id_excl.has_value()) {
    w.Add("e.id < ?", {SqlValue::Int(*q.max_id_excl)});
  }
  if (q.before_id.has_value()) w.Add("e.id < ?", {SqlValue::Int(*q.before_id)});
  // Exact time terms as well, so the answer is right even if a database
  // written elsewhere broke the "time never decreases" rule.
  if (q.since_micros.has_value()) {
    w.Add("e.time >= ?", {SqlValue::Int(*q.since_micros)});
  }
  if (q.until_micros.has_value()) {
    w.Add("e.time < ?", {SqlValue::Int(*q.until_micros)});
  }
  out.values.push_back(SqlValue::Int(q.limit));
  out.sql = absl::StrCat(
      "SELECT ", kAuditColumns,
      " FROM audit_events e CROSS JOIN organizations o ON o.no = e.org_no"
      " LEFT JOIN api_keys a ON a.no = e.actor_no",
      w.Sql(), " ORDER BY e.id DESC LIMIT ?", out.values.size());
  return out;
}

std::string TokenListBinding(absl::string_view org_id, const TokenFilter& f) {
  const std::string state =
      f.state.has_value() ? std::string(TokenStateName(*f.state)) : "";
  const std::string after =
      f.issued_after ? absl::StrCat(absl::ToUnixMicros(*f.issued_after)) : "";
  const std::string before =
      f.issued_before ? absl::StrCat(absl::ToUnixMicros(*f.issued_before)) : "";
  return PageBinding({"tokens", org_id, f.tag, f.user_id, f.stream_name,
                      f.stream_group_id, state, after, before});
}

std::string AuditBinding(absl::string_view org_id, const AuditFilter& f) {
  return PageBinding(
      {"audit", org_id, f.tag, f.user_id, f.token_id,
       f.action ? AuditActionName(*f.action) : "",
       f.since ? absl::StrCat(absl::ToUnixMicros(*f.since)) : "",
       f.until ? absl::StrCat(absl::ToUnixMicros(*f.until)) : ""});
}

std::string RevokeFilterText(const RevokeFilter& filter) {
  std::vector<std::string> parts;
  if (!filter.tag.empty()) parts.push_back("tag=" + filter.tag);
  if (!filter.user_id.empty()) parts.push_back("user_id=" + filter.user_id);
  if (!filter.stream_name.empty()) {
    parts.push_back("stream_name=" + filter.stream_name);
  }
  if (!filter.stream_group_id.empty()) {
    parts.push_back("stream_group_id=" + filter.stream_group_id);
  }
  if (filter.state.has_value()) {
    parts.push_back(absl::StrCat("state=", TokenStateName(*filter.state)));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace token_authority::storage::sqlite

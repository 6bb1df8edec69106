#include "storage/store_rules.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "storage/record_validation.h"
#include "storage/row_readers.h"

namespace token_authority::storage {
namespace {

const char* Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

absl::Status CheckCreateOrganization(const Organization& org,
                                     const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganization(org));
  return CheckAuditContext(audit);
}

absl::Status CheckUpdateOrganization(absl::string_view organization_id,
                                     const OrganizationUpdate& update,
                                     const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckOrganizationUpdate(update));
  return CheckAuditContext(audit);
}

absl::Status CheckCreateApiKey(const ApiKey& key, const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckApiKey(key));
  return CheckAuditContext(audit);
}

absl::Status CheckApiKeyId(absl::string_view api_key_id) {
  return CheckIdentifier(api_key_id, "api_key_id", kMaxIdLength);
}

absl::Status CheckRevokeApiKey(absl::string_view api_key_id,
                               const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckApiKeyId(api_key_id));
  return CheckAuditContext(audit);
}

absl::Status CheckInsertSigningKey(const SigningKey& key,
                                   const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckSigningKey(key));
  return CheckAuditContext(audit);
}

absl::StatusOr<SigningKey> CheckRotateSigningKey(const SigningKey& new_key,
                                                 const AuditContext& audit) {
  SigningKey key = new_key;
  key.state = token::KeyState::kPrimary;
  TA_RETURN_IF_ERROR(CheckInsertSigningKey(key, audit));
  return key;
}

absl::Status CheckRetireSigningKey(absl::string_view organization_id,
                                   absl::string_view kid,
                                   const AuditContext& audit) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckToken68(kid, "kid", kMaxKidLength));
  return CheckAuditContext(audit);
}

absl::StatusOr<std::string> CheckGetToken(absl::string_view organization_id,
                                          absl::string_view token_id) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  return DecodeTokenId(token_id);
}

absl::StatusOr<std::string> CheckRevokeToken(absl::string_view organization_id,
                                             absl::string_view token_id,
                                             absl::string_view reason,
                                             const AuditContext& audit) {
  TA_ASSIGN_OR_RETURN(std::string id_bytes,
                      CheckGetToken(organization_id, token_id));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  return id_bytes;
}

AuditRow OrganizationCreatedEvent(int64_t org_no, const Organization& org) {
  AuditRow row{AuditAction::kOrganizationCreated, org_no};
  row.detail = absl::StrCat("name=", org.name,
                            " secure_enabled=", Bool(org.secure_enabled));
  return row;
}

AuditRow OrganizationUpdatedEvent(int64_t org_no,
                                  const OrganizationUpdate& update) {
  AuditRow row{AuditAction::kOrganizationUpdated, org_no};
  std::vector<std::string> changes;
  if (update.name.has_value()) changes.push_back("name=" + *update.name);
  if (update.secure_enabled.has_value()) {
    changes.push_back(
        absl::StrCat("secure_enabled=", Bool(*update.secure_enabled)));
  }
  row.detail = absl::StrJoin(changes, " ");
  return row;
}

AuditRow ApiKeyCreatedEvent(int64_t org_no, const ApiKey& key) {
  AuditRow row{AuditAction::kApiKeyCreated, org_no};
  row.detail =
      absl::StrCat("api_key=", key.id, " role=", ApiKeyRoleName(key.role));
  return row;
}

AuditRow ApiKeyRevokedEvent(int64_t org_no, absl::string_view api_key_id) {
  AuditRow row{AuditAction::kApiKeyRevoked, org_no};
  row.detail = absl::StrCat("api_key=", api_key_id);
  return row;
}

AuditRow KeyCreatedEvent(int64_t org_no, const SigningKey& key) {
  AuditRow row{AuditAction::kKeyCreated, org_no};
  row.detail = absl::StrCat("kid=", key.kid,
                            " algorithm=", token::AlgorithmName(key.algorithm),
                            " state=", token::KeyStateName(key.state));
  return row;
}

AuditRow KeyRotatedEvent(int64_t org_no, const SigningKey& key,
                         absl::string_view previous) {
  AuditRow row{AuditAction::kKeyRotated, org_no};
  row.detail = absl::StrCat("kid=", key.kid,
                            " algorithm=", token::AlgorithmName(key.algorithm));
  if (!previous.empty()) absl::StrAppend(&row.detail, " previous=", previous);
  return row;
}

AuditRow KeyRetiredEvent(int64_t org_no, absl::string_view kid) {
  AuditRow row{AuditAction::kKeyRetired, org_no};
  row.detail = absl::StrCat("kid=", kid);
  return row;
}

AuditRow TokenRevokedEvent(int64_t org_no, std::string id_bytes,
                           std::string tag, std::string user_id,
                           absl::string_view reason) {
  AuditRow row{AuditAction::kTokenRevoked, org_no};
  row.token_id_bytes = std::move(id_bytes);
  row.tag = std::move(tag);
  row.user_id = std::move(user_id);
  row.detail = std::string(reason);
  return row;
}

absl::Status OrganizationExistsError(absl::string_view id) {
  return absl::AlreadyExistsError(
      absl::StrCat("organization ", id, " already exists"));
}

absl::Status ApiKeyExistsError(absl::string_view id, bool same_id) {
  return absl::AlreadyExistsError(
      same_id ? absl::StrCat("API key ", id, " already exists")
              : std::string("secret_hash: another API key has this secret"));
}

absl::Status ApiKeyNotFoundError(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
}

absl::Status LastAdminKeyError(absl::string_view id) {
  return absl::FailedPreconditionError(
      absl::StrCat("api_key_id: ", id,
                   " is the last active admin key; revoking it would leave "
                   "nobody able to administer the service"));
}

absl::Status TokenNotFoundError(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("token ", id, " not found"));
}

absl::Status SigningKeyNotFoundError(absl::string_view kid) {
  return absl::NotFoundError(absl::StrCat("signing key ", kid, " not found"));
}

absl::Status SigningKeyExistsError(absl::string_view kid) {
  return absl::AlreadyExistsError(
      absl::StrCat("kid: signing key ", kid, " already exists"));
}

absl::Status PrimaryKeyExistsError(absl::string_view primary_kid) {
  return absl::FailedPreconditionError(
      absl::StrCat("state: the organization already has primary key ",
                   primary_kid, "; use RotateSigningKey"));
}

absl::Status RetirePrimaryKeyError(absl::string_view kid) {
  return absl::FailedPreconditionError(absl::StrCat(
      "kid: ", kid, " is the primary key; rotate before retiring it"));
}

absl::Status CheckSecretHash(absl::string_view secret_hash) {
  if (secret_hash.size() == kSha256Length) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("secret_hash: must be exactly ", kSha256Length, " bytes"));
}

ApiKey CreatedApiKey(const ApiKey& key, int64_t now_us) {
  ApiKey out = key;
  out.revoked_at.reset();
  out.last_used_at.reset();
  out.created_at = absl::FromUnixMicros(now_us);
  return out;
}

SigningKey InsertedSigningKey(const SigningKey& key, token::KeyState state,
                              int64_t now_us) {
  SigningKey out = key;
  out.state = state;
  out.created_at = absl::FromUnixMicros(now_us);
  out.retired_at.reset();
  if (state == token::KeyState::kRetired) out.retired_at = out.created_at;
  return out;
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
  if (!token.request_id.empty()) {
    ins->request_hash = sqlite::RequestHash(token.request_id);
  }
  ins->token = token;
  ins->audit = audit;
  ResetInsertResult(*ins);
  return ins;
}

void ResetInsertResult(TokenInsert& ins) {
  ins.out = InsertTokenResult{ins.token, true};
  ins.out.token.revoked_at.reset();
  ins.out.token.revocation_reason.clear();
  ins.out.token.revocation_sequence = 0;
}

std::optional<int64_t> StoredNotBefore(const TokenInsert& ins) {
  if (ins.nbf == ins.iat) return std::nullopt;
  return ins.nbf;
}

absl::Status NoSigningKeyError(const Token& token) {
  return absl::InvalidArgumentError(
      absl::StrCat("key_id: no signing key ", token.key_id,
                   " for organization ", token.organization_id));
}

absl::Status CheckKeyAlgorithm(const Token& token, token::Algorithm key_alg) {
  if (key_alg == token.algorithm) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("algorithm: ", token::AlgorithmName(token.algorithm),
                   " does not match key ", token.key_id, " (",
                   token::AlgorithmName(key_alg), ")"));
}

absl::Status TokenExistsError(const Token& token) {
  return absl::AlreadyExistsError(
      absl::StrCat("id: token ", token.id, " already exists"));
}

AuditRow TokenIssuedEvent(int64_t org_no, const TokenInsert& ins,
                          std::optional<int64_t> issued_by) {
  AuditRow row{AuditAction::kTokenIssued, org_no};
  row.actor_no = issued_by;
  row.token_id_bytes = ins.id_bytes;
  row.tag = ins.token.tag;
  row.user_id = ins.token.user_id;
  row.request_id = ins.audit.request_id.empty() ? ins.token.request_id
                                                : ins.audit.request_id;
  row.detail = ins.audit.detail;
  return row;
}

absl::StatusOr<RevokeTokensRun> StartRevokeTokens(
    absl::string_view organization_id, const RevokeFilter& filter,
    absl::string_view reason, const AuditContext& audit, int batch_size) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckRevokeFilter(filter));
  TA_RETURN_IF_ERROR(CheckReason(reason));
  TA_RETURN_IF_ERROR(CheckAuditContext(audit));
  RevokeTokensRun run;
  run.q.filter = filter;
  run.q.limit = batch_size;
  run.reason = std::string(reason);
  run.audit = audit;
  run.filter_text = sqlite::RevokeFilterText(filter);
  return run;
}

AuditRow TokensRevokedEvent(const RevokeTokensRun& run,
                            std::optional<int64_t> actor_no, int64_t count) {
  AuditRow a{AuditAction::kTokensRevoked, run.q.org_no};
  a.actor_no = actor_no;
  a.tag = run.q.filter.tag;
  a.user_id = run.q.filter.user_id;
  a.request_id = run.audit.request_id;
  a.detail = run.audit.detail.empty()
                 ? absl::StrCat(
                       "count=", run.result.count + count, " ", run.filter_text,
                       run.reason.empty() ? "" : " reason=", run.reason)
                 : run.audit.detail;
  return a;
}

void AdvanceRevokeRun(const std::vector<RevokeCandidate>& rows,
                      RevokeTokensRun& run) {
  run.result.count += static_cast<int64_t>(rows.size());
  if (!rows.empty()) {
    run.q.after = std::make_pair(rows.back().iat, rows.back().no);
  }
  run.done = static_cast<int>(rows.size()) < run.q.limit;
}

absl::StatusOr<OrgListStart> StartOrgList(const PageRequest& page) {
  OrgListStart s;
  TA_ASSIGN_OR_RETURN(s.size, EffectivePageSize(page.page_size));
  s.binding = PageBinding({"organizations"});
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        s.q,
        DecodePageToken(page.page_token, PageKind::kOrganizations, s.binding));
  }
  return s;
}

absl::StatusOr<TokenListStart> StartTokenList(absl::string_view organization_id,
                                              const TokenFilter& filter,
                                              const PageRequest* page,
                                              absl::Time now) {
  TA_RETURN_IF_ERROR(CheckOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckTokenFilter(filter));
  TokenListStart s;
  if (page != nullptr) {
    TA_ASSIGN_OR_RETURN(s.size, EffectivePageSize(page->page_size));
    s.binding = sqlite::TokenListBinding(organization_id, filter);
    if (!page->page_token.empty()) {
      TA_ASSIGN_OR_RETURN(
          std::string payload,
          DecodePageToken(page->page_token, PageKind::kTokens, s.binding));
      TA_ASSIGN_OR_RETURN(s.q.after, DecodeInt64Pair(payload));
    }
    s.q.limit = s.size + 1;
  }
  s.q.filter = filter;
  s.q.now_seconds = sqlite::FloorSeconds(filter.now.value_or(now));
  return s;
}

std::string TokenCursor(int64_t iat, int64_t no) {
  return EncodeInt64Pair(iat, no);
}

absl::StatusOr<AuditListStart> StartAuditList(absl::string_view organization_id,
                                              const AuditFilter& filter,
                                              const PageRequest& page) {
  TA_RETURN_IF_ERROR(CheckOptionalOrganizationId(organization_id));
  TA_RETURN_IF_ERROR(CheckAuditFilter(filter));
  AuditListStart s;
  TA_ASSIGN_OR_RETURN(s.size, EffectivePageSize(page.page_size));
  sqlite::AuditQuery& q = s.q;
  q.tag = filter.tag;
  q.user_id = filter.user_id;
  if (!filter.token_id.empty()) {
    TA_ASSIGN_OR_RETURN(q.token_id_bytes,
                        DecodeTokenId(filter.token_id, "token_id"));
  }
  if (filter.action.has_value()) q.action = static_cast<int>(*filter.action);
  if (filter.since.has_value()) {
    q.since_micros = absl::ToUnixMicros(*filter.since);
  }
  if (filter.until.has_value()) {
    q.until_micros = absl::ToUnixMicros(*filter.until);
  }
  s.binding = sqlite::AuditBinding(organization_id, filter);
  if (!page.page_token.empty()) {
    TA_ASSIGN_OR_RETURN(
        std::string payload,
        DecodePageToken(page.page_token, PageKind::kAuditEvents, s.binding));
    TA_ASSIGN_OR_RETURN(auto pair, DecodeInt64Pair(payload));
    q.before_id = pair.first;
  }
  q.limit = s.size + 1;
  return s;
}

std::string AuditCursor(int64_t id) { return EncodeInt64Pair(id, 0); }

absl::Status CheckRevocationLimit(int limit) {
  if (limit >= 1 && limit <= 10000) return absl::OkStatus();
  return absl::InvalidArgumentError("limit: must be between 1 and 10000");
}

}  // namespace token_authority::storage

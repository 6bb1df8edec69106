#include "storage/token_store.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"

namespace token_authority::storage {
namespace {

template <typename E, size_t N>
absl::string_view NameOf(
    const std::array<std::pair<E, absl::string_view>, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "unknown";
}

template <typename E, size_t N>
absl::StatusOr<E> ParseName(
    const std::array<std::pair<E, absl::string_view>, N>& table,
    absl::string_view name, absl::string_view field) {
  for (const auto& [e, n] : table) {
    if (n == name) return e;
  }
  std::string allowed;
  for (const auto& [e, n] : table) {
    absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", n);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": unknown value \"", name, "\" (expected one of ", allowed, ")"));
}

template <typename E, size_t N>
absl::StatusOr<E> FromNumber(
    const std::array<std::pair<E, absl::string_view>, N>& table, int64_t value,
    absl::string_view column) {
  for (const auto& [e, n] : table) {
    if (static_cast<int64_t>(e) == value) return e;
  }
  return absl::DataLossError(
      absl::StrCat(column, ": unknown stored value ", value));
}

constexpr std::array<std::pair<ApiKeyRole, absl::string_view>, 4> kRoles = {{
    {ApiKeyRole::kAdmin, "admin"},
    {ApiKeyRole::kIssuer, "issuer"},
    {ApiKeyRole::kVerifier, "verifier"},
    {ApiKeyRole::kAuditor, "auditor"},
}};
constexpr std::array<std::pair<TokenState, absl::string_view>, 4> kTokenStates =
    {{
        {TokenState::kActive, "active"},
        {TokenState::kNotYetValid, "not_yet_valid"},
        {TokenState::kExpired, "expired"},
        {TokenState::kRevoked, "revoked"},
    }};
constexpr std::array<std::pair<AuditAction, absl::string_view>, 10> kActions = {
    {
        {AuditAction::kTokenIssued, "token.issued"},
        {AuditAction::kTokenRevoked, "token.revoked"},
        {AuditAction::kTokensRevoked, "tokens.revoked"},
        {AuditAction::kKeyRotated, "key.rotated"},
        {AuditAction::kOrganizationCreated, "organization.created"},
        {AuditAction::kOrganizationUpdated, "organization.updated"},
        {AuditAction::kApiKeyCreated, "apikey.created"},
        {AuditAction::kApiKeyRevoked, "apikey.revoked"},
        {AuditAction::kKeyCreated, "key.created"},
        {AuditAction::kKeyRetired, "key.retired"},
    }};

}  // namespace

absl::string_view ApiKeyRoleName(ApiKeyRole role) {
  return NameOf(kRoles, role);
}
absl::StatusOr<ApiKeyRole> ParseApiKeyRole(absl::string_view name,
                                           absl::string_view field) {
  return ParseName(kRoles, name, field);
}
absl::string_view TokenStateName(TokenState state) {
  return NameOf(kTokenStates, state);
}
absl::StatusOr<TokenState> ParseTokenState(absl::string_view name,
                                           absl::string_view field) {
  return ParseName(kTokenStates, name, field);
}
absl::string_view AuditActionName(AuditAction action) {
  return NameOf(kActions, action);
}
absl::StatusOr<AuditAction> ParseAuditAction(absl::string_view name,
                                             absl::string_view field) {
  return ParseName(kActions, name, field);
}

absl::StatusOr<ApiKeyRole> ApiKeyRoleFromNumber(int64_t value) {
  return FromNumber(kRoles, value, "api_keys.role");
}
absl::StatusOr<AuditAction> AuditActionFromNumber(int64_t value) {
  return FromNumber(kActions, value, "audit_events.action");
}

TokenState TokenStateAt(const Token& token, absl::Time now) {
  if (token.revoked_at.has_value()) return TokenState::kRevoked;
  if (now >= token.expires_at) return TokenState::kExpired;
  if (now < token.not_before) return TokenState::kNotYetValid;
  return TokenState::kActive;
}

}  // namespace token_authority::storage

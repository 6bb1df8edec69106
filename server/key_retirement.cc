#include "server/key_retirement.h"

#include <utility>

#include "base/status_macros.h"

namespace token_authority::server {
namespace {

// Key retirement looks at the key ids of at most this many live tokens.
constexpr int64_t kExactKeyScanLimit = 5000;

constexpr storage::TokenState kLiveStates[] = {
    storage::TokenState::kActive, storage::TokenState::kNotYetValid};

}  // namespace

absl::Status KeyRetirement::RetireDueKeys(const OrgEntry& entry,
                                          absl::Time now) {
  TA_ASSIGN_OR_RETURN(std::vector<std::string> due, DueKeys(entry, now));
  if (due.empty()) return absl::OkStatus();
  const std::string& org_id = entry.org.id;
  return orgs_->ChangeKeys(org_id, [this, &org_id, &due]() -> absl::Status {
    for (const std::string& kid : due) {
      TA_RETURN_IF_ERROR(
          store_->RetireSigningKey(org_id, kid, storage::AuditContext{})
              .status());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> KeyRetirement::DueKeys(
    const OrgEntry& entry, absl::Time now) {
  // entry.keys is in creation order and the primary is the newest key, so
  // every active key has a successor; the successor's creation time is when
  // this key stopped signing.
  const absl::Time verify_now = now - leeway_;
  std::vector<std::string> due;
  for (size_t i = 0; i + 1 < entry.keys.size(); ++i) {
    if (entry.keys[i].state != token::KeyState::kActive) continue;
    TA_ASSIGN_OR_RETURN(bool retire, IsDue(entry, i, verify_now));
    if (retire) due.push_back(entry.keys[i].kid);
  }
  return due;
}

absl::StatusOr<bool> KeyRetirement::IsDue(const OrgEntry& entry, size_t index,
                                          absl::Time verify_now) {
  const absl::Time demoted_at = entry.keys[index + 1].created_at;
  if (verify_now >= demoted_at + max_lifetime_) return true;
  // Tokens issued while this key (or an older one) was primary that still
  // verify: active or not yet valid, at now - leeway. issued_at is whole
  // seconds (truncated) and may equal the rotation instant, so count up to
  // the end of that second (newer keys' tokens of that second only delay
  // the retirement).
  storage::TokenFilter filter;
  filter.issued_before =
      absl::FromUnixSeconds(absl::ToUnixSeconds(demoted_at)) + absl::Seconds(1);
  filter.now = verify_now;
  int64_t live = 0;
  for (storage::TokenState state : kLiveStates) {
    filter.state = state;
    TA_ASSIGN_OR_RETURN(int64_t n, store_->CountTokens(entry.org.id, filter));
    live += n;
  }
  if (live == 0) return true;
  if (live > kExactKeyScanLimit) return false;
  // Few candidates: look at their key ids (the store cannot filter by key),
  // so that tokens of other keys do not keep this one alive.
  TA_ASSIGN_OR_RETURN(
      bool used,
      HasLiveTokenOfKey(entry.org.id, entry.keys[index].kid, filter));
  return !used;
}

absl::StatusOr<bool> KeyRetirement::HasLiveTokenOfKey(
    const std::string& organization_id, const std::string& kid,
    storage::TokenFilter filter) {
  for (storage::TokenState state : kLiveStates) {
    filter.state = state;
    storage::PageRequest page;
    page.page_size = storage::kMaxPageSize;
    do {
      TA_ASSIGN_OR_RETURN(storage::Page<storage::Token> tokens,
                          store_->ListTokens(organization_id, filter, page));
      for (const storage::Token& t : tokens.items) {
        if (t.key_id == kid) return true;
      }
      page.page_token = std::move(tokens.next_page_token);
    } while (!page.page_token.empty());
  }
  return false;
}

}  // namespace token_authority::server

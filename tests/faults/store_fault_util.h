// Helpers shared by the store-level fault tests (power loss, full disk): the
// temporary directory, store options on a given VFS, record builders, a
// ledger of acknowledged writes and the check that every one of them is in
// a (reopened) store.
#ifndef TESTS_FAULTS_STORE_FAULT_UTIL_H_
#define TESTS_FAULTS_STORE_FAULT_UTIL_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "gtest/gtest.h"
#include "storage/key_encryption_key.h"
#include "storage/sqlite_token_store.h"
#include "storage/token_store.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::faults {

// A fresh directory, removed with its content (tests/testing/temp_dir.h).
using TempDir = ::token_authority::testing::TempDir;

inline constexpr char kOrg[] = "org-faults";
inline constexpr char kKid[] = "key-1";
// Fixed store time: tokens issued now stay valid for a day, so nothing
// expires or is swept during a test.
inline absl::Time StoreNow() { return absl::FromUnixSeconds(1767225600); }

inline storage::SqliteTokenStoreOptions StoreOptions(const std::string& path,
                                                     const std::string& vfs,
                                                     storage::SyncMode sync,
                                                     const Clock* clock) {
  storage::SqliteTokenStoreOptions o;
  o.path = path;
  o.vfs = vfs;
  o.synchronous = sync;
  o.clock = clock;
  o.sweep_interval = absl::ZeroDuration();  // no background deletes
  o.key_encryption_key =
      *storage::KeyEncryptionKey::FromBytes(std::string(32, 'k'));
  return o;
}

// The organisation and its primary signing key every token refers to.
inline absl::Status CreateOrgAndKey(storage::TokenStore& store) {
  storage::Organization org;
  org.id = kOrg;
  org.name = "Fault test organisation";
  absl::StatusOr<storage::Organization> created =
      store.CreateOrganization(org, {});
  if (!created.ok()) return created.status();
  storage::SigningKey key;
  key.organization_id = kOrg;
  key.kid = kKid;
  key.algorithm = token::Algorithm::kEs256;
  key.state = token::KeyState::kPrimary;
  key.private_key = "not a real key: the store does not parse it";
  return store.InsertSigningKey(key, {}).status();
}

// A valid streams token of kOrg with a random id and fingerprint.
inline storage::Token MakeToken(std::mt19937_64& rng, const std::string& tag) {
  auto random_bytes = [&rng](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  storage::Token t;
  t.id = absl::WebSafeBase64Escape(random_bytes(16));  // 22 chars
  t.organization_id = kOrg;
  t.target_kind = token::Target::Kind::kStreams;
  t.streams = {"cam-1", "cam-2"};
  t.issued_at = StoreNow();
  t.not_before = StoreNow();
  t.expires_at = StoreNow() + absl::Hours(24);
  t.key_id = kKid;
  t.algorithm = token::Algorithm::kEs256;
  t.jwt_sha256 = random_bytes(32);
  t.tag = tag;
  t.user_id = "viewer";
  return t;
}

// Every write a store acknowledged (returned OK for). Thread-safe.
class Ledger {
 public:
  struct AckedToken {
    std::string id;
    std::string tag;
    std::string jwt_sha256;
  };
  struct AckedRevocation {
    std::string id;
    int64_t sequence;
    std::string reason;
  };

  void AddToken(const storage::Token& t) {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_.push_back({t.id, t.tag, t.jwt_sha256});
  }
  void AddRevocation(const storage::Token& t) {
    std::lock_guard<std::mutex> lock(mu_);
    revocations_.push_back({t.id, t.revocation_sequence, t.revocation_reason});
  }
  int64_t tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(tokens_.size());
  }
  int64_t revocations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(revocations_.size());
  }
  // The id of a random acknowledged token, or "" if there is none.
  std::string RandomTokenId(std::mt19937_64& rng) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (tokens_.empty()) return "";
    return tokens_[rng() % tokens_.size()].id;
  }
  std::vector<AckedToken> Tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }
  std::vector<AckedRevocation> Revocations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return revocations_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<AckedToken> tokens_;
  std::vector<AckedRevocation> revocations_;
};

struct CheckResult {
  absl::Status status;  // a read that failed (then nothing else is known)
  int64_t tokens_checked = 0;
  int64_t revocations_checked = 0;
  int64_t tokens_missing = 0;
  int64_t revocations_missing = 0;
  std::vector<std::string> problems;  // the first few, for the message

  bool AllPresent() const {
    return status.ok() && tokens_missing == 0 && revocations_missing == 0 &&
           problems.empty();
  }
  std::string Describe() const {
    std::string s =
        absl::StrCat(tokens_checked, " tokens and ", revocations_checked,
                     " revocations checked, ", tokens_missing, " tokens and ",
                     revocations_missing, " revocations lost");
    if (!status.ok()) absl::StrAppend(&s, "; read failed: ", status.ToString());
    for (const std::string& p : problems) absl::StrAppend(&s, "\n  ", p);
    return s;
  }
};

// Reads every token of kOrg and the whole revocation log through the store
// API and checks that every acknowledged write of `ledger` is there: each
// token with its tag and fingerprint, each revocation with its sequence and
// reason, on the token row and in the revocation log.
inline CheckResult CheckAcknowledged(storage::TokenStore& store,
                                     const Ledger& ledger) {
  CheckResult r;
  auto problem = [&r](std::string p) {
    if (r.problems.size() < 10) r.problems.push_back(std::move(p));
  };
  std::map<std::string, storage::Token> stored;
  storage::PageRequest page{storage::kMaxPageSize, ""};
  do {
    absl::StatusOr<storage::Page<storage::Token>> p =
        store.ListTokens(kOrg, storage::TokenFilter{}, page);
    if (!p.ok()) {
      // The organisation itself may have been lost (the lie test).
      if (absl::IsNotFound(p.status())) break;
      r.status = p.status();
      return r;
    }
    for (storage::Token& t : p->items) stored.emplace(t.id, std::move(t));
    page.page_token = p->next_page_token;
  } while (!page.page_token.empty());

  std::map<int64_t, std::string> log;  // sequence -> token id
  int64_t after = 0;
  while (true) {
    absl::StatusOr<std::vector<storage::RevocationEvent>> events =
        store.ListRevocationsSince(after, 10000);
    if (!events.ok()) {
      r.status = events.status();
      return r;
    }
    if (events->empty()) break;
    for (const storage::RevocationEvent& e : *events) {
      log[e.sequence] = e.token_id;
      after = e.sequence;
    }
  }

  for (const Ledger::AckedToken& t : ledger.Tokens()) {
    ++r.tokens_checked;
    auto it = stored.find(t.id);
    if (it == stored.end()) {
      ++r.tokens_missing;
      problem(absl::StrCat("acknowledged token ", t.id, " (", t.tag,
                           ") is missing"));
    } else if (it->second.tag != t.tag ||
               it->second.jwt_sha256 != t.jwt_sha256) {
      ++r.tokens_missing;
      problem(absl::StrCat("token ", t.id, " differs from what was written"));
    }
  }
  for (const Ledger::AckedRevocation& rev : ledger.Revocations()) {
    ++r.revocations_checked;
    auto it = stored.find(rev.id);
    bool ok = it != stored.end() && it->second.revoked_at.has_value() &&
              it->second.revocation_sequence == rev.sequence &&
              it->second.revocation_reason == rev.reason;
    auto logged = log.find(rev.sequence);
    ok = ok && logged != log.end() && logged->second == rev.id;
    if (!ok) {
      ++r.revocations_missing;
      problem(absl::StrCat("acknowledged revocation of ", rev.id, " (sequence ",
                           rev.sequence, ") is missing"));
    }
  }
  return r;
}

}  // namespace token_authority::faults

#endif  // TESTS_FAULTS_STORE_FAULT_UTIL_H_

// Power loss under the real SqliteTokenStore: 50 rounds of concurrent token
// inserts and revocations through the group-commit writer, each ended by a
// power cut at a random point; after each cut the unsynced writes are
// discarded (tests/faults/powerloss_vfs.h), a fresh store is opened on what
// was synced, and every write the store acknowledged must be there, with
// PRAGMA integrity_check ok. This is what proves synchronous=FULL.
//
// Rounds vary two things:
// - how the cut comes, once a random number of writes were acknowledged:
//   from the test thread after a random short delay; from the test thread as
//   soon as it sees written but unsynced data (a commit or checkpoint in
//   flight); or armed to fire inside the VFS at a random upcoming
//   write/sync/truncate (a precise point within a commit or checkpoint:
//   between WAL frames, before the WAL sync, ...);
// - what happens to unsynced writes: all lost (test6.c's model), or a random
//   subset reaches the disk (the page cache had written some back).
// The database carries over from round to round, so later rounds recover on
// top of earlier recoveries, and every check covers all rounds so far.
//
// A second test runs the same harness with synchronous=OFF and asserts that
// it reports lost acknowledged writes: the main test cannot pass vacuously.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_token_store.h"
#include "tests/faults/powerloss_vfs.h"
#include "tests/faults/store_fault_util.h"
#include "tests/testing/status_matchers.h"

namespace token_authority::faults {
namespace {

using storage::SqliteTokenStore;
using storage::SyncMode;

constexpr int kRounds = 50;
constexpr int kWriters = 8;
constexpr char kVfsName[] = "powerloss-store";

enum class CutStyle {
  kRandomMoment,   // the test thread cuts after a random short delay
  kWhileUnsynced,  // the test thread cuts as soon as it sees a commit or
                   // checkpoint in flight (written, not yet synced)
  kArmedInVfs,     // fires inside the VFS at a random upcoming operation
};

struct RoundOutcome {
  int64_t acked_tokens = 0;
  int64_t acked_revocations = 0;
  // The armed cut did not fire, or no commit in flight was seen, in time:
  // the power was cut at once instead.
  bool fallback_cut = false;
  // Errors the writers saw: before the cut (must be none) and after it.
  std::vector<std::string> errors_before_cut;
  std::map<absl::StatusCode, int64_t> errors_after_cut;
};

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(vfs_, PowerLossVfs::Register(kVfsName));
    path_ = dir_.File("tokens.db");
  }

  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> Open(SyncMode sync) {
    return SqliteTokenStore::Open(StoreOptions(path_, kVfsName, sync, &clock_));
  }

  // Runs kWriters threads inserting tokens (and revoking every third one
  // plus, now and then, an older acknowledged token) until the power is cut
  // as `style` says, after about `acks_before_cut` acknowledged writes of
  // this round. Returns when every writer has stopped.
  RoundOutcome RunUntilCut(storage::TokenStore& store, int round,
                           CutStyle style, std::mt19937_64& rng) {
    RoundOutcome out;
    std::atomic<int64_t> acks{0};
    std::atomic<int> running{kWriters};
    std::mutex errors_mu;
    auto record_error = [&](const absl::Status& st) {
      std::lock_guard<std::mutex> lock(errors_mu);
      if (vfs_->powered()) {
        out.errors_before_cut.push_back(st.ToString());
      } else {
        ++out.errors_after_cut[st.code()];
      }
    };
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      const uint64_t seed = rng();
      writers.emplace_back([&, w, seed] {
        std::mt19937_64 local(seed);
        const std::string tag = absl::StrCat("r", round, "-w", w);
        for (int n = 1;; ++n) {
          storage::Token token = MakeToken(local, tag);
          absl::StatusOr<storage::InsertTokenResult> inserted =
              store.InsertToken(token, {});
          if (!inserted.ok()) {
            record_error(inserted.status());
            break;
          }
          if (!inserted->created) {
            record_error(absl::InternalError("token not created: " + token.id));
            break;
          }
          ledger_.AddToken(token);
          acks.fetch_add(1);
          std::string victim;
          if (n % 3 == 0) {
            victim = token.id;
          } else if (n % 7 == 0) {
            victim = ledger_.RandomTokenId(local);
          }
          if (victim.empty()) continue;
          absl::StatusOr<storage::Token> revoked = store.RevokeToken(
              kOrg, victim, absl::StrCat("revoked in round ", round), {});
          if (!revoked.ok()) {
            record_error(revoked.status());
            break;
          }
          ledger_.AddRevocation(*revoked);
          acks.fetch_add(1);
        }
        running.fetch_sub(1);
      });
    }

    // Let a random number of writes through, then cut.
    std::uniform_int_distribution<int64_t> acks_dist(1, 300);
    const int64_t target = acks_dist(rng);
    while (acks.load() < target && running.load() > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (style == CutStyle::kRandomMoment) {
      std::uniform_int_distribution<int> delay_us(0, 2000);
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
      vfs_->CutPower();
    } else if (style == CutStyle::kWhileUnsynced) {
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (!vfs_->CutPowerIfUnsyncedWrites()) {
        if (std::chrono::steady_clock::now() >= deadline) {
          out.fallback_cut = true;
          vfs_->CutPower();
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    } else {
      std::uniform_int_distribution<int64_t> ops(1, 60);
      vfs_->CutPowerAtOperation(ops(rng));
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (vfs_->powered() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      if (vfs_->powered()) {
        out.fallback_cut = true;
        vfs_->CutPower();
      }
    }
    for (std::thread& t : writers) t.join();
    out.acked_tokens = ledger_.tokens();
    out.acked_revocations = ledger_.revocations();
    return out;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<PowerLossVfs> vfs_;
  FakeClock clock_{StoreNow()};
  Ledger ledger_;
};

// Runs PRAGMA integrity_check on the real file through the default VFS
// (what is on the "platter", without the shim).
std::string IntegrityCheckOnDisk(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::string out;
  sqlite3_stmt* stmt = nullptr;
  if (rc == SQLITE_OK && sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1,
                                            &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += "; ";
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  } else {
    out = std::string("cannot open: ") + sqlite3_errmsg(db);
  }
  sqlite3_close_v2(db);
  return out;
}

TEST_F(PowerLossTest, EveryAcknowledgedWriteSurvivesPowerCutsAtFull) {
  std::mt19937_64 rng(20260101);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTokenStore> store,
                       Open(SyncMode::kFull));
  ASSERT_OK(CreateOrgAndKey(*store));

  int64_t checks_tokens = 0;
  int64_t checks_revocations = 0;
  int fallback_cuts = 0;
  std::map<absl::StatusCode, int64_t> after_cut_codes;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    const CutStyle style = static_cast<CutStyle>(round % 3);
    const CutMode mode = (round / 3) % 2 == 0 ? CutMode::kDiscardAll
                                              : CutMode::kKeepRandomSubset;
    vfs_->SetCutMode(mode, rng());

    RoundOutcome outcome = RunUntilCut(*store, round, style, rng);
    EXPECT_TRUE(outcome.errors_before_cut.empty())
        << "writes failed while the power was on: "
        << outcome.errors_before_cut.front();
    fallback_cuts += outcome.fallback_cut;
    for (const auto& [code, n] : outcome.errors_after_cut) {
      after_cut_codes[code] += n;
    }

    // The dead store must close; its connections fail from now on.
    (void)store->Shutdown();
    store.reset();
    vfs_->RestorePower();

    absl::StatusOr<std::unique_ptr<SqliteTokenStore>> reopened =
        Open(SyncMode::kFull);
    ASSERT_OK(reopened.status()) << "reopen after the cut failed";
    store = *std::move(reopened);
    ASSERT_OK(store->CheckIntegrity());
    CheckResult check = CheckAcknowledged(*store, ledger_);
    ASSERT_TRUE(check.AllPresent()) << check.Describe();
    checks_tokens += check.tokens_checked;
    checks_revocations += check.revocations_checked;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  // A clean close checkpoints through the shim; the real file then holds
  // everything on its own.
  ASSERT_OK(store->Shutdown());
  store.reset();
  EXPECT_EQ(IntegrityCheckOnDisk(path_), "ok");
  ASSERT_OK_AND_ASSIGN(store, SqliteTokenStore::Open(StoreOptions(
                                  path_, "", SyncMode::kFull, &clock_)));
  CheckResult final_check = CheckAcknowledged(*store, ledger_);
  EXPECT_TRUE(final_check.AllPresent()) << final_check.Describe();

  PowerLossVfsStats stats = vfs_->stats();
  std::string codes;
  for (const auto& [code, n] : after_cut_codes) {
    absl::StrAppend(&codes, absl::StatusCodeToString(code), " ", n, " ");
  }
  std::cout << "[powerloss] " << kRounds << " rounds in " << seconds
            << " s, synchronous=FULL: " << ledger_.tokens()
            << " acknowledged token inserts and " << ledger_.revocations()
            << " acknowledged revocations; " << checks_tokens << " token and "
            << checks_revocations
            << " revocation checks after the cuts, all present; "
            << "integrity_check ok after every cut" << std::endl;
  std::cout << "[powerloss] vfs: " << stats.cuts << " cuts ("
            << stats.cuts_with_unsynced_writes
            << " with unsynced writes pending, " << fallback_cuts
            << " targeted cuts fell back to an immediate one), " << stats.writes
            << " writes, " << stats.syncs << " syncs (" << stats.database_syncs
            << " of the database file: checkpoints), " << stats.discarded_writes
            << " unsynced writes discarded, " << stats.kept_writes
            << " kept; writer errors after the cuts: " << codes << std::endl;
  EXPECT_EQ(stats.cuts, kRounds);
  EXPECT_GT(stats.syncs, 0);
  EXPECT_GT(stats.discarded_writes, 0);
  // Every kWhileUnsynced round that did not fall back cut with a commit or
  // checkpoint in flight: the cuts really land inside group commits.
  int while_unsynced_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    while_unsynced_rounds +=
        static_cast<CutStyle>(round % 3) == CutStyle::kWhileUnsynced;
  }
  EXPECT_GE(stats.cuts_with_unsynced_writes,
            while_unsynced_rounds - fallback_cuts);
  // Failures after a cut are UNAVAILABLE (I/O error), never something else.
  for (const auto& [code, n] : after_cut_codes) {
    EXPECT_EQ(code, absl::StatusCode::kUnavailable)
        << n << " writes failed with " << absl::StatusCodeToString(code);
  }
}

// The same harness must see the loss when COMMIT does not sync. With
// synchronous=OFF SQLite never calls xSync in WAL mode (neither for commits
// nor for checkpoints), so the shim never lets a write of that session reach
// the disk and a cut loses every one of them: deterministic, not a race.
TEST_F(PowerLossTest, HarnessDetectsLostWritesWhenCommitsAreNotSynced) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTokenStore> store,
                         Open(SyncMode::kFull));
    ASSERT_OK(CreateOrgAndKey(*store));
    ASSERT_OK(store->Shutdown());
  }
  std::mt19937_64 rng(7);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTokenStore> store,
                         Open(SyncMode::kOff));
    RoundOutcome outcome = RunUntilCut(*store, 0, CutStyle::kRandomMoment, rng);
    EXPECT_TRUE(outcome.errors_before_cut.empty());
    (void)store->Shutdown();
  }
  ASSERT_GT(ledger_.tokens(), 0);
  vfs_->RestorePower();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTokenStore> store,
                       Open(SyncMode::kFull));
  EXPECT_OK(store->CheckIntegrity());
  CheckResult check = CheckAcknowledged(*store, ledger_);
  std::cout << "[powerloss] synchronous=OFF: " << ledger_.tokens()
            << " acknowledged token inserts and " << ledger_.revocations()
            << " revocations before the cut; after it " << check.tokens_missing
            << " tokens and " << check.revocations_missing
            << " revocations are lost (the harness detects it)" << std::endl;
  EXPECT_FALSE(check.AllPresent());
  EXPECT_EQ(check.tokens_missing, ledger_.tokens());
  EXPECT_EQ(check.revocations_missing, ledger_.revocations());
}

}  // namespace
}  // namespace token_authority::faults

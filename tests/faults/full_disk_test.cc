// A full disk under the real SqliteTokenStore. The VFS shim
// (tests/faults/powerloss_vfs.h) caps the bytes the database files may use,
// failing growing writes with SQLITE_FULL as ENOSPC would. With concurrent
// writers running into the cap:
// - every failed write fails with a clear ResourceExhausted ("... full")
//   (Unavailable is tolerated only if it says why);
// - nothing acknowledged is lost, and nothing reported failed was stored;
// - reads (tokens, revocations, integrity) keep working while the disk is
//   full;
// - once the budget is raised, writes succeed again on the same store, and
//   every refused insert retried with its request_id creates its token
//   exactly once;
// Five fill/free cycles, with from 4 KiB to 1 MiB of room left. The disk
// does not stay "full" for every write: once SQLite has checkpointed, it
// reuses the WAL in place and some commits fit again, as on a real disk.
// - after a clean reopen everything acknowledged is there.
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
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
using ::testing::HasSubstr;

constexpr char kVfsName[] = "fulldisk-store";
constexpr int kWriters = 4;
constexpr int kFailuresPerWriter = 15;  // each writer stops after these
constexpr int kMaxAttemptsPerWriter = 20000;

// A write that failed while the disk was full.
struct FailedWrite {
  std::string what;  // "insert" or "revoke"
  std::string token_id;
  storage::Token token;  // the token an insert tried to store
  absl::Status status;
};

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(vfs_, PowerLossVfs::Register(kVfsName));
    path_ = dir_.File("tokens.db");
  }

  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> Open() {
    return SqliteTokenStore::Open(
        StoreOptions(path_, kVfsName, SyncMode::kFull, &clock_));
  }

  // One acknowledged token (and, every other call, its revocation).
  void WriteOk(storage::TokenStore& store, std::mt19937_64& rng,
               const std::string& tag, int n) {
    storage::Token t = MakeToken(rng, tag);
    absl::StatusOr<storage::InsertTokenResult> r = store.InsertToken(t, {});
    ASSERT_OK(r.status());
    ASSERT_TRUE(r->created);
    ledger_.AddToken(t);
    if (n % 2 == 0) {
      absl::StatusOr<storage::Token> rev =
          store.RevokeToken(kOrg, t.id, "revoked before the disk filled", {});
      ASSERT_OK(rev.status());
      ledger_.AddRevocation(*rev);
    }
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<PowerLossVfs> vfs_;
  FakeClock clock_{StoreNow()};
  Ledger ledger_;
};

TEST_F(FullDiskTest,
       WritesFailClearlyReadsWorkNothingAckedIsLostAndWritesRecover) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<SqliteTokenStore> store, Open());
  ASSERT_OK(CreateOrgAndKey(*store));
  std::mt19937_64 rng(99);
  for (int n = 0; n < 200; ++n) WriteOk(*store, rng, "before", n);

  // Several times: the disk fills (a little room left, then nothing), then
  // space returns. The room left varies from less than a page to 1 MiB.
  const std::vector<int64_t> slack_bytes = {256 * 1024, 4 * 1024, 64 * 1024,
                                            1024 * 1024, 16 * 1024};
  int64_t total_refused = 0;
  int64_t total_acked_while_filling = 0;
  int64_t total_retried = 0;
  std::map<absl::StatusCode, int64_t> codes;
  std::string example;
  int64_t storage_failures_before = 0;
  for (size_t cycle = 0; cycle < slack_bytes.size(); ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    const int64_t budget = vfs_->BytesInUse() + slack_bytes[cycle];
    vfs_->SetByteBudget(budget);

    std::mutex mu;
    std::vector<FailedWrite> failed;
    std::atomic<int64_t> acked_while_filling{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      const uint64_t seed = rng();
      writers.emplace_back([&, w, seed] {
        std::mt19937_64 local(seed);
        int failures = 0;
        for (int n = 0;
             n < kMaxAttemptsPerWriter && failures < kFailuresPerWriter; ++n) {
          storage::Token t =
              MakeToken(local, absl::StrCat("filling-", cycle, "-", w));
          t.request_id = absl::StrCat("req-", cycle, "-", w, "-", n);
          absl::StatusOr<storage::InsertTokenResult> r =
              store->InsertToken(t, {});
          if (!r.ok()) {
            ++failures;
            std::lock_guard<std::mutex> lock(mu);
            failed.push_back({"insert", t.id, t, r.status()});
            ++codes[r.status().code()];
            continue;
          }
          ledger_.AddToken(t);
          acked_while_filling.fetch_add(1);
          // Revoke an older acknowledged token: an update, not an append.
          std::string victim = ledger_.RandomTokenId(local);
          absl::StatusOr<storage::Token> rev =
              store->RevokeToken(kOrg, victim, "revoked while filling", {});
          if (!rev.ok()) {
            ++failures;
            std::lock_guard<std::mutex> lock(mu);
            failed.push_back({"revoke", victim, {}, rev.status()});
            ++codes[rev.status().code()];
            continue;
          }
          ledger_.AddRevocation(*rev);
          acked_while_filling.fetch_add(1);
        }
      });
    }
    for (std::thread& t : writers) t.join();
    total_acked_while_filling += acked_while_filling.load();
    total_refused += static_cast<int64_t>(failed.size());

    ASSERT_FALSE(failed.empty()) << "the disk never filled";
    if (example.empty()) example = failed.front().status.ToString();
    EXPECT_LE(vfs_->BytesInUse(), budget);
    // Clear errors: RESOURCE_EXHAUSTED saying the disk is full (UNAVAILABLE
    // only if it says why).
    for (const FailedWrite& f : failed) {
      EXPECT_TRUE(f.status.code() == absl::StatusCode::kResourceExhausted ||
                  f.status.code() == absl::StatusCode::kUnavailable)
          << f.what << " " << f.token_id << ": " << f.status;
      EXPECT_THAT(std::string(f.status.message()), HasSubstr("full"))
          << f.what << " " << f.token_id << ": " << f.status;
    }

    // The writer's stats say the storage failed (what the server's health
    // check reads), with the error.
    const storage::WriterStats full_stats = store->GetWriterStats();
    EXPECT_GT(full_stats.storage_failures, storage_failures_before);
    storage_failures_before = full_stats.storage_failures;
    EXPECT_THAT(full_stats.last_failure, HasSubstr("full"));

    // Reads keep working on the full disk and see every acknowledged write.
    CheckResult while_full = CheckAcknowledged(*store, ledger_);
    EXPECT_TRUE(while_full.AllPresent()) << while_full.Describe();
    EXPECT_OK(store->CheckIntegrity());
    EXPECT_OK(store->ListActiveRevocations(StoreNow()).status());
    EXPECT_OK(store->GetOrganization(kOrg).status());
    // A write reported failed was not stored.
    for (const FailedWrite& f : failed) {
      if (f.what != "insert") continue;
      EXPECT_THAT(store->GetToken(kOrg, f.token_id),
                  testing::StatusIs(absl::StatusCode::kNotFound))
          << "token " << f.token_id << " was reported failed (" << f.status
          << ") but is stored";
    }
    // Space returns: the same store writes again, no reopen. Every refused
    // insert, retried with its request_id, is created exactly once.
    vfs_->SetByteBudget(std::nullopt);
    for (const FailedWrite& f : failed) {
      if (f.what != "insert") continue;
      ASSERT_OK_AND_ASSIGN(storage::InsertTokenResult retried,
                           store->InsertToken(f.token, {}));
      EXPECT_TRUE(retried.created) << f.token.request_id;
      ledger_.AddToken(f.token);
      storage::Token again = MakeToken(rng, f.token.tag);
      again.request_id = f.token.request_id;
      ASSERT_OK_AND_ASSIGN(storage::InsertTokenResult dup,
                           store->InsertToken(again, {}));
      EXPECT_FALSE(dup.created);
      EXPECT_EQ(dup.token.id, f.token.id);
      ++total_retried;
    }
    EXPECT_OK(store->ProbeWrite());
    // Writes committed again: the failure is over, and each committed
    // batch is in the batch-size and commit-time histograms.
    const storage::WriterStats stats = store->GetWriterStats();
    int64_t batches = 0, timed = 0;
    for (int64_t n : stats.batch_sizes) batches += n;
    for (int64_t n : stats.commit_micros) timed += n;
    EXPECT_EQ(batches, timed);
    EXPECT_GT(batches, 0);
    EXPECT_GE(stats.committed_operations, batches);
    for (int n = 0; n < 50; ++n) WriteOk(*store, rng, "after", n);
    CheckResult after = CheckAcknowledged(*store, ledger_);
    EXPECT_TRUE(after.AllPresent()) << after.Describe();
  }

  // A clean reopen finds everything acknowledged.
  ASSERT_OK(store->Shutdown());
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, Open());
  EXPECT_OK(store->CheckIntegrity());
  CheckResult reopened = CheckAcknowledged(*store, ledger_);
  EXPECT_TRUE(reopened.AllPresent()) << reopened.Describe();

  std::string code_list;
  for (const auto& [code, n] : codes) {
    absl::StrAppend(&code_list, absl::StatusCodeToString(code), " x", n, " ");
  }
  std::cout << "[fulldisk] " << slack_bytes.size()
            << " fill/free cycles: " << total_acked_while_filling
            << " writes acknowledged while filling, " << total_refused
            << " refused (" << code_list << "), e.g. \"" << example
            << "\"; SQLITE_FULL returned by the VFS "
            << vfs_->stats().full_errors
            << " times; reads, integrity_check and revocation lists worked "
               "while full; no refused insert stored; writes succeeded again "
               "without reopening ("
            << total_retried
            << " refused inserts retried with their request_id: each "
               "created exactly once); "
            << reopened.tokens_checked << " tokens and "
            << reopened.revocations_checked
            << " revocations acknowledged, all present after reopen"
            << std::endl;
}

}  // namespace
}  // namespace token_authority::faults

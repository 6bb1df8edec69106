// Durable token inserts per second through SqliteTokenStore at
// synchronous=FULL with 1, 8 and 64 concurrent writers (group commit),
// beside the one-row-per-transaction baseline (max_batch_size = 1: every
// insert is its own transaction and its own fsync).
//
// Token ids are time-ordered as token::NewTokenId(random, issue time) makes
// them (6 bytes of Unix milliseconds, then 10 random bytes); --random-ids
// draws all 16 bytes at random instead, as ids were made before, to compare.
//
// Usage: storage_insert_bench [--seconds=N] [--dir=PATH]
//                             [--sync=full|normal|off] [--only=INDEX]
//                             [--random-ids] [--page-size=BYTES]
//                             [--checkpoint-frames=N]
// Prints the fsync latency of the disk under --dir (p50 of 4 KiB write +
// fdatasync, measured before each configuration: on a shared machine it
// varies from 0.2 to several ms and bounds every durable figure), then one
// line per configuration: tokens/s, transactions/s, mean batch, per-insert
// latency p50/p99 as seen by the caller, checkpoints, CPU time of the whole
// process per token, and WAL pages written per token.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "storage/record_validation.h"
#include "storage/sqlite_token_store.h"

namespace token_authority::storage {
namespace {

struct Config {
  const char* name;
  int writers;
  int max_batch;
};

std::string MakeTempDir(const std::string& base) {
  std::string tmpl = base + "/ta-insert-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

void RemoveDbFiles(const std::string& dir) {
  for (const char* f :
       {"/bench.db", "/bench.db-wal", "/bench.db-shm", "/kek.key"}) {
    std::remove((dir + f).c_str());
  }
  rmdir(dir.c_str());
}

// User + system CPU seconds of this process so far.
double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// p50 in ms of a 4 KiB pwrite + fdatasync in `dir` (a file rewritten in
// place, as the store's WAL is once it has been checkpointed).
double FsyncP50Ms(const std::string& dir) {
  const std::string path = dir + "/fsync-probe";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  const std::string page(4096, 'x');
  std::vector<double> ms;
  for (int i = 0; i < 30; ++i) {
    const absl::Time t0 = Clock::Real().Now();
    if (pwrite(fd, page.data(), page.size(), 0) !=
            static_cast<ssize_t>(page.size()) ||
        fdatasync(fd) != 0) {
      break;
    }
    ms.push_back(absl::ToDoubleMilliseconds(Clock::Real().Now() - t0));
  }
  close(fd);
  std::remove(path.c_str());
  return ms.empty() ? -1 : Percentile(ms, 0.5);
}

// A time-ordered token id, laid out as token::NewTokenId(random, at).
std::string TimeOrderedTokenId(RandomSource& random, absl::Time at) {
  std::string raw = *random.Bytes(16);
  const auto ms = static_cast<uint64_t>(absl::ToUnixMillis(at));
  for (int k = 0; k < 6; ++k) {
    raw[static_cast<size_t>(k)] = static_cast<char>(ms >> (8 * (5 - k)));
  }
  return EncodeTokenId(raw);
}

int Run(int argc, char** argv) {
  double seconds = 5;
  std::string base = "/tmp";
  SyncMode sync = SyncMode::kFull;
  int only = -1;
  bool random_ids = false;
  int page_size = 0;
  int checkpoint_frames = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) {
      seconds = std::atof(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--dir=", 6) == 0) {
      base = argv[i] + 6;
    } else if (std::strcmp(argv[i], "--sync=normal") == 0) {
      sync = SyncMode::kNormal;
    } else if (std::strcmp(argv[i], "--random-ids") == 0) {
      random_ids = true;
    } else if (std::strncmp(argv[i], "--page-size=", 12) == 0) {
      page_size = std::atoi(argv[i] + 12);
    } else if (std::strncmp(argv[i], "--checkpoint-frames=", 20) == 0) {
      checkpoint_frames = std::atoi(argv[i] + 20);
    } else if (std::strncmp(argv[i], "--only=", 7) == 0) {
      only = std::atoi(argv[i] + 7);
    } else if (std::strcmp(argv[i], "--sync=off") == 0) {
      sync = SyncMode::kOff;
    } else if (std::strcmp(argv[i], "--sync=full") == 0) {
      sync = SyncMode::kFull;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const Config configs[] = {
      {"baseline 1 row/txn, 1 writer", 1, 1},
      {"baseline 1 row/txn, 64 writers", 64, 1},
      {"group commit, 1 writer", 1, 2048},
      {"group commit, 8 writers", 8, 2048},
      {"group commit, 64 writers", 64, 2048},
  };
  std::printf(
      "durable InsertToken, synchronous=%s, %.0f s per configuration, "
      "database under %s, %s token ids\n",
      sync == SyncMode::kFull     ? "FULL"
      : sync == SyncMode::kNormal ? "NORMAL"
                                  : "OFF",
      seconds, base.c_str(), random_ids ? "random" : "time-ordered");
  std::printf("%-34s %10s %10s %7s %8s %8s %6s %12s %11s %9s\n",
              "configuration", "tokens/s", "commits/s", "batch", "p50 ms",
              "p99 ms", "ckpts", "cpu us/token", "pages/token", "fsync ms");
  for (int ci = 0; ci < static_cast<int>(std::size(configs)); ++ci) {
    if (only >= 0 && ci != only) continue;
    const Config& c = configs[ci];
    const std::string dir = MakeTempDir(base);
    const double fsync_ms = FsyncP50Ms(dir);
    SqliteTokenStoreOptions o;
    o.path = dir + "/bench.db";
    o.key_encryption_key_path = dir + "/kek.key";
    o.synchronous = sync;
    o.max_batch_size = c.max_batch;
    o.sweep_interval = absl::ZeroDuration();
    if (page_size > 0) o.page_size = page_size;
    if (checkpoint_frames > 0) o.checkpoint_frames = checkpoint_frames;
    auto store_or = SqliteTokenStore::Open(o);
    if (!store_or.ok()) {
      std::fprintf(stderr, "open: %s\n", store_or.status().ToString().c_str());
      return 1;
    }
    auto store = *std::move(store_or);
    SigningKey key;
    key.organization_id = "acme";
    key.kid = "acme-k1";
    key.algorithm = token::Algorithm::kEs256;
    key.private_key = std::string(121, 'p');
    Organization org;
    org.id = "acme";
    org.name = "Acme";
    ApiKey issuer;
    issuer.id = "issuer-1";
    issuer.organization_id = "acme";
    issuer.role = ApiKeyRole::kIssuer;
    issuer.secret_hash = std::string(32, 's');
    if (!store->CreateOrganization(org, {}).ok() ||
        !store->RotateSigningKey(key, {}).ok() ||
        !store->CreateApiKey(issuer, {}).ok()) {
      std::fprintf(stderr, "setup failed\n");
      return 1;
    }
    const WriterStats before = store->GetWriterStats();
    const double cpu_before = CpuSeconds();
    std::atomic<bool> stop{false};
    std::atomic<int64_t> errors{0};
    std::vector<std::vector<double>> latencies(c.writers);
    std::vector<std::thread> threads;
    const absl::Time start = Clock::Real().Now();
    for (int w = 0; w < c.writers; ++w) {
      threads.emplace_back([&, w] {
        FakeRandom random(static_cast<uint64_t>(w) * 7919 + 1);
        int64_t i = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          Token t;
          t.id = random_ids ? EncodeTokenId(*random.Bytes(16))
                            : TimeOrderedTokenId(random, Clock::Real().Now());
          t.organization_id = "acme";
          t.target_kind = token::Target::Kind::kStreams;
          t.streams = {absl::StrCat("stream-", i % 1000),
                       absl::StrCat("stream-", (i + 1) % 1000)};
          t.issued_at = absl::FromUnixSeconds(1700000000 + i / 100);
          t.not_before = t.issued_at;
          t.expires_at = t.issued_at + absl::Hours(24 * 14);
          t.user_id = absl::StrCat("user-", w, "-", i % 5000);
          t.tag = absl::StrCat("tag-", i % 100);
          t.key_id = "acme-k1";
          t.algorithm = token::Algorithm::kEs256;
          t.jwt_sha256 = *random.Bytes(32);
          t.issued_by = "issuer-1";
          t.request_id = absl::StrCat("req-", t.id);
          t.spec_fingerprint = *random.Bytes(32);
          const absl::Time t0 = Clock::Real().Now();
          auto r = store->InsertToken(t, {});
          latencies[w].push_back(
              absl::ToDoubleMilliseconds(Clock::Real().Now() - t0));
          if (!r.ok() && errors.fetch_add(1) == 0) {
            std::fprintf(stderr, "first failure: %s\n",
                         r.status().ToString().c_str());
          }
          ++i;
        }
      });
    }
    absl::SleepFor(absl::Seconds(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    const double elapsed = absl::ToDoubleSeconds(Clock::Real().Now() - start);
    const WriterStats after = store->GetWriterStats();
    const double cpu = CpuSeconds() - cpu_before;
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const double n = static_cast<double>(all.size() - errors.load());
    const double txns =
        static_cast<double>(after.transactions - before.transactions);
    const double ops =
        static_cast<double>(after.operations - before.operations);
    std::printf(
        "%-34s %10.0f %10.0f %7.1f %8.2f %8.2f %6lld %12.1f %11.1f %9.2f\n",
        c.name, n / elapsed, txns / elapsed, txns > 0 ? ops / txns : 0.0,
        Percentile(all, 0.50), Percentile(all, 0.99),
        static_cast<long long>(after.checkpoints + after.writer_checkpoints),
        n > 0 ? cpu * 1e6 / n : 0.0,
        n > 0 ? static_cast<double>(after.wal_frames_written -
                                    before.wal_frames_written) /
                    n
              : 0.0,
        fsync_ms);
    if (errors.load() > 0) {
      std::printf("  (%lld inserts failed)\n",
                  static_cast<long long>(errors.load()));
    }
    std::fflush(stdout);
    store.reset();
    RemoveDbFiles(dir);
  }
  return 0;
}

}  // namespace
}  // namespace token_authority::storage

int main(int argc, char** argv) {
  return token_authority::storage::Run(argc, argv);
}

// ListTokens by tag, page of 100, at 10k, 100k and 1M tokens: p50 and p99
// latency of the first page and of a follow-up page (page token), and the
// bytes on disk per token.
//
// The data is built through the store itself (InsertToken from 32 threads,
// so every token has its audit event, stream rows and index entries exactly
// as in production) with synchronous=OFF for speed: the on-disk layout does
// not depend on the sync level. Tokens: one organisation, 100 tags, 100k
// users, 2 of 10k stream names each, a 36-character request_id, 32-byte JWT
// hash and spec fingerprint, an IP and domain on half of them; issued one
// per ~0.9 s, valid 14 days, with time-ordered ids as the server makes them.
//
// Usage: storage_list_bench [--dir=PATH] [--max=1000000] [--queries=2000]
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "storage/record_validation.h"
#include "storage/sqlite_token_store.h"
#include "token/claims.h"

namespace token_authority::storage {
namespace {

constexpr int kTags = 100;
constexpr absl::string_view kOrg = "acme";

std::string MakeTempDir(const std::string& base) {
  std::string tmpl = base + "/ta-list-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

SqliteTokenStoreOptions Options(const std::string& dir, SyncMode sync) {
  SqliteTokenStoreOptions o;
  o.path = dir + "/bench.db";
  o.key_encryption_key_path = dir + "/kek.key";
  o.synchronous = sync;
  o.sweep_interval = absl::ZeroDuration();
  return o;
}

Token MakeToken(int64_t i, RandomSource& random, std::mt19937_64& rng) {
  Token t;
  t.organization_id = std::string(kOrg);
  t.target_kind = token::Target::Kind::kStreams;
  const uint64_t s = rng() % 10000;
  t.streams = {absl::StrCat("cam-", s), absl::StrCat("cam-", (s + 1) % 10000)};
  t.issued_at = absl::FromUnixSeconds(1700000000 + i * 9 / 10);
  t.not_before = t.issued_at;
  t.expires_at = t.issued_at + absl::Hours(24 * 14);
  // Time-ordered, as the server makes them (token::NewTokenId).
  t.id = *token::NewTokenId(random, t.issued_at);
  t.user_id = absl::StrCat("user-", rng() % 100000);
  t.tag = absl::StrCat("tag-", i % kTags);
  if (i % 2 == 0) {
    t.client_ip = "203.0.113.7";
    t.domain = "*.example.com";
  }
  t.key_id = "acme-k1";
  t.algorithm = token::Algorithm::kEs256;
  t.jwt_sha256 = *random.Bytes(32);
  t.issued_by = "issuer-1";
  t.request_id = absl::StrFormat(
      "%08x-%04x-%04x-%04x-%012x", static_cast<uint32_t>(rng()),
      static_cast<uint32_t>(rng() & 0xffff),
      static_cast<uint32_t>(rng() & 0xffff),
      static_cast<uint32_t>(rng() & 0xffff), rng() & 0xffffffffffffULL);
  t.spec_fingerprint = *random.Bytes(32);
  return t;
}

// Inserts tokens [from, to) with `threads` concurrent writers.
void Fill(SqliteTokenStore& store, int64_t from, int64_t to, int threads) {
  std::atomic<int64_t> next{from};
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      FakeRandom random(static_cast<uint64_t>(from) * 131 + w + 1);
      std::mt19937_64 rng(static_cast<uint64_t>(from) * 977 + w);
      while (true) {
        const int64_t i = next.fetch_add(1);
        if (i >= to) break;
        auto r = store.InsertToken(MakeToken(i, random, rng), {});
        if (!r.ok()) {
          std::fprintf(stderr, "insert: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
      }
    });
  }
  for (auto& th : workers) th.join();
}

void PrintBreakdown(const std::string& path, int64_t tokens) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    return;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT name, sum(pgsize), sum(unused) FROM dbstat "
                         "GROUP BY name ORDER BY sum(pgsize) DESC",
                         -1, &s, nullptr) == SQLITE_OK) {
    std::printf("  %-26s %10s %8s\n", "table/index", "bytes/token", "unused");
    while (sqlite3_step(s) == SQLITE_ROW) {
      const double bytes = static_cast<double>(sqlite3_column_int64(s, 1));
      const double unused = static_cast<double>(sqlite3_column_int64(s, 2));
      if (bytes / static_cast<double>(tokens) < 0.5) continue;
      std::printf("  %-26s %10.1f %7.0f%%\n",
                  reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                  bytes / static_cast<double>(tokens), 100 * unused / bytes);
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
}

int Run(int argc, char** argv) {
  std::string base = "/tmp";
  int64_t max = 1000000;
  int queries = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dir=", 6) == 0) {
      base = argv[i] + 6;
    } else if (std::strncmp(argv[i], "--max=", 6) == 0) {
      max = std::atoll(argv[i] + 6);
    } else if (std::strncmp(argv[i], "--queries=", 10) == 0) {
      queries = std::atoi(argv[i] + 10);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  const std::string dir = MakeTempDir(base);
  {
    auto store = SqliteTokenStore::Open(Options(dir, SyncMode::kOff));
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
      return 1;
    }
    Organization org;
    org.id = std::string(kOrg);
    org.name = "Acme";
    SigningKey key;
    key.organization_id = std::string(kOrg);
    key.kid = "acme-k1";
    key.algorithm = token::Algorithm::kEs256;
    key.private_key = std::string(121, 'p');
    ApiKey issuer;
    issuer.id = "issuer-1";
    issuer.organization_id = std::string(kOrg);
    issuer.role = ApiKeyRole::kIssuer;
    issuer.secret_hash = std::string(32, 's');
    if (!(*store)->CreateOrganization(org, {}).ok() ||
        !(*store)->RotateSigningKey(key, {}).ok() ||
        !(*store)->CreateApiKey(issuer, {}).ok()) {
      std::fprintf(stderr, "setup failed\n");
      return 1;
    }
  }
  std::printf(
      "ListTokens(tag=<one of %d>, page_size=100), %d queries per "
      "size, database in %s\n",
      kTags, queries, dir.c_str());
  std::printf("%9s %11s %9s %9s %9s %9s %12s\n", "tokens", "build s", "p50 ms",
              "p99 ms", "next p50", "next p99", "bytes/token");
  int64_t have = 0;
  for (int64_t size :
       {int64_t{10000}, int64_t{100000}, int64_t{1000000}, int64_t{10000000}}) {
    if (size > max) break;
    const absl::Time t0 = Clock::Real().Now();
    {
      auto store = SqliteTokenStore::Open(Options(dir, SyncMode::kOff));
      if (!store.ok()) return 1;
      Fill(**store, have, size, 32);
    }  // closing checkpoints the WAL into the database and removes it
    const double build = absl::ToDoubleSeconds(Clock::Real().Now() - t0);
    have = size;
    const int64_t bytes =
        FileSize(dir + "/bench.db") + FileSize(dir + "/bench.db-wal");

    auto store_or = SqliteTokenStore::Open(Options(dir, SyncMode::kFull));
    if (!store_or.ok()) return 1;
    auto store = *std::move(store_or);
    std::mt19937 rng(42);
    std::vector<double> first;
    std::vector<double> next;
    int64_t rows = 0;
    for (int q = 0; q < queries; ++q) {
      TokenFilter f;
      f.tag = absl::StrCat("tag-", rng() % kTags);
      const absl::Time a = Clock::Real().Now();
      auto page = store->ListTokens(kOrg, f, {100, ""});
      const absl::Time b = Clock::Real().Now();
      if (!page.ok()) {
        std::fprintf(stderr, "list: %s\n", page.status().ToString().c_str());
        return 1;
      }
      rows += static_cast<int64_t>(page->items.size());
      first.push_back(absl::ToDoubleMilliseconds(b - a));
      if (!page->next_page_token.empty()) {
        const absl::Time c = Clock::Real().Now();
        auto page2 = store->ListTokens(kOrg, f, {100, page->next_page_token});
        next.push_back(absl::ToDoubleMilliseconds(Clock::Real().Now() - c));
        if (!page2.ok()) return 1;
        rows += static_cast<int64_t>(page2->items.size());
      }
    }
    std::printf("%9" PRId64 " %11.1f %9.3f %9.3f %9.3f %9.3f %12.1f\n", size,
                build, Percentile(first, 0.5), Percentile(first, 0.99),
                Percentile(next, 0.5), Percentile(next, 0.99),
                static_cast<double>(bytes) / static_cast<double>(size));
    std::fflush(stdout);
    if (rows == 0) return 1;
  }
  std::printf("where the bytes go at %" PRId64 " tokens (dbstat):\n", have);
  PrintBreakdown(dir + "/bench.db", have);
  for (const char* f :
       {"/bench.db", "/bench.db-wal", "/bench.db-shm", "/kek.key"}) {
    std::remove((dir + f).c_str());
  }
  rmdir(dir.c_str());
  return 0;
}

}  // namespace
}  // namespace token_authority::storage

int main(int argc, char** argv) {
  return token_authority::storage::Run(argc, argv);
}

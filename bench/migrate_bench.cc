// How long `token-authority migrate` takes: an SQLite store filled with N
// tokens (two streams each, a tag; every tenth revoked in bulk) is copied
// into a throw-away PostgreSQL cluster (tests/testing/postgres_cluster.h:
// fsync off, on this machine) by storage::CopySqliteToPostgres, the code
// behind the command. Prints the fill time, then the copy's time, rows per
// second and per table, the load average, and checks the count through
// PostgresTokenStore.
//
// Usage: migrate_bench [--tokens=N] [--batch-rows=N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/random.h"
#include "storage/postgres_token_store.h"
#include "storage/record_validation.h"
#include "storage/sqlite_to_postgres.h"
#include "storage/sqlite_token_store.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::storage {
namespace {

void Check(const absl::Status& st, const char* what) {
  if (!st.ok()) {
    std::fprintf(stderr, "migrate_bench: %s: %s\n", what,
                 std::string(st.message()).c_str());
    std::exit(1);
  }
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// N tokens of organisation "acme" through the store's API.
void Fill(SqliteTokenStore& store, int tokens, RandomSource& random) {
  Organization org;
  org.id = "acme";
  org.name = "Acme";
  org.secure_enabled = true;
  Check(store.CreateOrganization(org, AuditContext()).status(), "org");
  SigningKey key;
  key.organization_id = "acme";
  key.kid = "k1";
  key.algorithm = token::Algorithm::kEs256;
  key.private_key = "-----PRIVATE KEY-----";
  Check(store.InsertSigningKey(key, AuditContext()).status(), "key");
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  absl::BlockingCounter pending(tokens);
  for (int i = 0; i < tokens; ++i) {
    Token t;
    t.id = EncodeTokenId(*random.Bytes(16));
    t.organization_id = "acme";
    t.streams = {"cam1", absl::StrCat("cam", 2 + i % 50)};
    t.issued_at = t.not_before = now;
    t.expires_at = now + absl::Hours(24);
    t.key_id = "k1";
    t.algorithm = token::Algorithm::kEs256;
    t.jwt_sha256 = *random.Bytes(kSha256Length);
    t.tag = absl::StrCat("tag-", i % 10);
    store.InsertTokenAsync(t, AuditContext(),
                           [&pending](absl::StatusOr<InsertTokenResult> r) {
                             Check(r.status(), "insert");
                             pending.DecrementCount();
                           });
  }
  pending.Wait();
  RevokeFilter filter;
  filter.tag = "tag-0";
  Check(store.RevokeTokens("acme", filter, "bench", false, AuditContext())
            .status(),
        "revoke");
}

int Main(int argc, char** argv) {
  int tokens = 100000;
  int batch_rows = 200;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--tokens=", 9) == 0) {
      tokens = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "--batch-rows=", 13) == 0) {
      batch_rows = std::atoi(argv[i] + 13);
    } else {
      std::fprintf(stderr,
                   "usage: migrate_bench [--tokens=N] "
                   "[--batch-rows=N]\n");
      return 2;
    }
  }
  absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
  Check(dir.status(), "temp dir");
  absl::StatusOr<KeyEncryptionKey> kek =
      KeyEncryptionKey::FromBytes(std::string(32, 'k'));
  SqliteTokenStoreOptions o;
  o.path = dir->File("token-authority.db");
  o.key_encryption_key = *kek;
  o.synchronous = SyncMode::kOff;  // the fill is not what is measured
  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> lite =
      SqliteTokenStore::Open(o);
  Check(lite.status(), "open SQLite");
  absl::Time begin = absl::Now();
  Fill(**lite, tokens, RandomSource::Secure());
  Check((*lite)->Shutdown(), "shutdown");
  lite->reset();
  std::printf("filled %d tokens in %.1f s\n", tokens,
              absl::ToDoubleSeconds(absl::Now() - begin));

  absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> pg =
      testing::PostgresCluster::Start();
  Check(pg.status(), "PostgreSQL cluster");
  absl::StatusOr<std::string> db = (*pg)->CreateDatabase();
  Check(db.status(), "database");
  SqliteToPostgresOptions copy;
  copy.sqlite_path = o.path;
  copy.conninfo = (*pg)->ConnInfo(*db);
  copy.key_encryption_key = *kek;
  copy.batch_rows = batch_rows;
  begin = absl::Now();
  absl::StatusOr<SqliteToPostgresReport> report = CopySqliteToPostgres(copy);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  Check(report.status(), "copy");
  int64_t rows = 0;
  for (const TableCopy& t : report->tables) {
    std::printf("  %-14s %lld rows\n", t.table.c_str(),
                static_cast<long long>(t.rows));
    rows += t.rows;
  }
  std::printf(
      "copied %lld rows (%d tokens) in %.2f s: %.0f rows/s, %.0f tokens/s "
      "(batch %d rows; load average %s)\n",
      static_cast<long long>(rows), tokens, seconds, rows / seconds,
      tokens / seconds, batch_rows, LoadAverage().c_str());

  PostgresTokenStoreOptions po;
  po.conninfo = copy.conninfo;
  po.key_encryption_key = *kek;
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(po);
  Check(store.status(), "open PostgreSQL");
  absl::StatusOr<int64_t> count = (*store)->CountTokens("acme", TokenFilter());
  Check(count.status(), "count");
  std::printf("PostgresTokenStore counts %lld tokens\n",
              static_cast<long long>(*count));
  return *count == tokens ? 0 : 1;
}

}  // namespace
}  // namespace token_authority::storage

int main(int argc, char** argv) {
  return token_authority::storage::Main(argc, argv);
}

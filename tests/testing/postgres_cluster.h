// PostgresCluster: a throw-away PostgreSQL 15 cluster for one test program.
//
//   ASSERT_OK_AND_ASSIGN(auto pg, PostgresCluster::Start());
//   ASSERT_OK_AND_ASSIGN(std::string db, pg->CreateDatabase());
//   ... connect with pg->ConnInfo(db) or pg->Url(db) ...
//
// Start() runs `initdb` into a fresh TempDir and `pg_ctl start` with the
// server listening on 127.0.0.1 and a free port only (no unix socket), with
// trust authentication for the superuser "ta" (AddPasswordRole adds a role
// that must give a password). PostgreSQL refuses to run as
// root: when the test runs as root, the binaries run as the system user
// "postgres" (installed with postgresql-common) or, if that is missing, as
// "ta-postgres" (created with useradd); the TempDir is handed to that user.
// The binaries come from /usr/lib/postgresql/15/bin (or $TA_PG_BIN); if
// initdb is missing, Start() fails (FailedPrecondition naming the path and
// scripts/install-deps): tests that need PostgreSQL never skip silently.
//
// Every command runs with a deadline (scaled, tests/testing/time_scale.h);
// one that overruns is killed and reported. The destructor stops the server
// (`pg_ctl stop -m fast`) and removes the directory.
//
// Thread-compatible: one thread at a time (tests share one cluster through
// SharedPostgresCluster(), whose databases are made one at a time under a
// lock).
#ifndef TESTS_TESTING_POSTGRES_CLUSTER_H_
#define TESTS_TESTING_POSTGRES_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::testing {

class PostgresCluster {
 public:
  struct Options {
    // fsync and full-page writes; off makes a test cluster several times
    // faster where no test cuts the power (the store's own durability rule,
    // answering only after COMMIT, does not change).
    bool fsync = false;
    int max_connections = 200;
  };

  // initdb + pg_ctl start. FailedPrecondition if the binaries are missing;
  // Internal with the command's output if one fails or overruns.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(
      Options options);
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start() {
    return Start(Options{});
  }
  // Stop("fast"); logs (does not fail) if that fails.
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  // pg_ctl stop -m `mode` ("smart", "fast" or "immediate"), waiting up to
  // 60 s (scaled). OK if already stopped.
  absl::Status Stop(absl::string_view mode = "fast");
  // pg_ctl start again on the same data directory and port.
  absl::Status Restart();
  bool running() const { return running_; }

  int port() const { return port_; }
  const std::string& directory() const { return dir_.path(); }
  // libpq key=value connection string / URL for database `dbname`.
  std::string ConnInfo(absl::string_view dbname = "postgres") const;
  std::string Url(absl::string_view dbname = "postgres") const;

  // A new empty database with a unique name ("ta_test_<n>"), returned.
  absl::StatusOr<std::string> CreateDatabase();
  // Runs `sql` (one or more statements) on database `dbname` with a
  // separate connection; Internal with the server's message on failure.
  absl::Status Exec(absl::string_view dbname, absl::string_view sql) const;
  // The first column of the first row of `sql` as text ("" for NULL or no
  // row).
  absl::StatusOr<std::string> QueryText(absl::string_view dbname,
                                        absl::string_view sql) const;

  // Creates login role `name` with `password` and makes the server ask it
  // (only it) for that password (scram-sha-256) over TCP: a line in
  // pg_hba.conf ahead of the trust lines, then a reload, waited for until a
  // connection as `name` without the password is refused. Every other
  // user keeps trust authentication.
  absl::Status AddPasswordRole(absl::string_view name,
                               absl::string_view password);

  // The directory holding initdb, pg_ctl and postgres.
  static std::string BinDir();

 private:
  PostgresCluster(TempDir dir, uid_t uid, gid_t gid, Options options)
      : dir_(std::move(dir)), uid_(uid), gid_(gid), options_(options) {}

  // Runs `argv` (argv[0] a path) as the cluster's user, output to a log file
  // in the directory, within `timeout`; Internal with that output on
  // failure.
  absl::Status Run(const std::vector<std::string>& argv,
                   absl::Duration timeout) const;
  absl::Status StartServer();

  TempDir dir_;
  uid_t uid_;
  gid_t gid_;
  Options options_;
  int port_ = 0;
  bool running_ = false;
  int next_database_ = 0;
};

// One cluster per test program, started on first use and stopped at exit.
// Start failures are returned on every call.
absl::StatusOr<PostgresCluster*> SharedPostgresCluster();

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_POSTGRES_CLUSTER_H_

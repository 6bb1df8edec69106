// Replicas of the REAL token-authority binary (tests/faults/server_process.h)
// on one database of a throw-away PostgreSQL cluster of their own
// (tests/testing/postgres_cluster.h), for the replica fault tests: each
// replica has a data directory and a log file of its own (replica<i> and
// replica<i>.log in a TempDir) and all share one key-encryption key file
// (--kek-file), made before the first start. The first replica ever started
// writes the bootstrap admin key to its data directory (admin_key_path()).
// Also what those tests ask the database directly: which token (if any) a
// request_id produced, and how many tokens carry a tag.
//
// Not thread-safe: one thread drives it (the replicas themselves are
// separate processes that any thread may call).
#ifndef TESTS_FAULTS_REPLICA_SET_H_
#define TESTS_FAULTS_REPLICA_SET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/faults/server_process.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/temp_dir.h"

namespace token_authority::testing {

class ReplicaSet {
 public:
  // Starts the cluster with `options`, creates the database and the shared
  // key file; room for `replicas` replicas, none running yet.
  static absl::StatusOr<std::unique_ptr<ReplicaSet>> Create(
      const std::string& binary, int replicas,
      PostgresCluster::Options options);
  // SIGKILLs the replicas still running, then stops the cluster.
  ~ReplicaSet();

  // Starts replica `i` (again, after Kill: same data directory, same log,
  // a new port); Unavailable with the log's last line if it did not start.
  absl::Status Start(int i);
  // SIGKILLs replica `i` and reaps it.
  void Kill(int i);
  // SIGTERM; the exit code (-1: killed by a signal or did not stop).
  int Terminate(int i);
  bool running(int i) const;
  // "127.0.0.1:<port>" of the running replica `i`.
  const std::string& address(int i) const;

  std::string admin_key_path() const;
  // The whole log (stderr) of replica `i`, over all its starts.
  std::string Log(int i) const;
  PostgresCluster& cluster() { return *cluster_; }
  const std::string& database() const { return database_; }
  std::string url() const { return cluster_->Url(database_); }

  // The id (as the API writes it, base64url) of the token that `request_id`
  // produced, or "" if none was committed.
  absl::StatusOr<std::string> TokenIdForRequest(
      const std::string& request_id) const;
  // The number of tokens with tag `tag` in the database.
  absl::StatusOr<int64_t> CountTagged(const std::string& tag) const;

 private:
  ReplicaSet(const std::string& binary, int replicas)
      : binary_(binary), servers_(replicas) {}
  std::string DataDir(int i) const;
  std::string LogPath(int i) const;

  std::string binary_;
  TempDir tmp_;
  std::unique_ptr<PostgresCluster> cluster_;
  std::string database_;
  std::string kek_path_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

}  // namespace token_authority::testing

#endif  // TESTS_FAULTS_REPLICA_SET_H_

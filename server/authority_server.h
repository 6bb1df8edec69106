// AuthorityServer: the whole service in one object, used by the
// token-authority binary and by the in-process test fixture. Opens (or
// creates) the data directory, the SQLite store and its key-encryption key,
// builds the TokenAuthority core, and serves the four services plus
// grpc.health.v1.Health and server reflection over gRPC (plaintext, TLS or
// mTLS), with a 64 KiB request limit and keepalive enforcement.
#ifndef SERVER_AUTHORITY_SERVER_H_
#define SERVER_AUTHORITY_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/random.h"
#include "server/call_log.h"
#include "server/replica_sync.h"
#include "server/token_authority.h"
#include "storage/postgres_token_store.h"
#include "storage/sqlite_token_store.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace token_authority::server {

class BlockingExecutor;
class CallMetrics;
class DataDirLock;
class MeteredCallLog;
class MetricsEndpoint;
class StoreHealth;
class ReplyBacklog;
struct ServiceDeps;

struct AuthorityServerOptions {
  // host:port ("[::1]:port" for IPv6); port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  // Holds token-authority.db, kek.key and admin.key; created (mode 0700) if
  // missing.
  std::string data_dir = "./var";
  // PostgreSQL instead of the SQLite file in data_dir, for several replicas
  // on one database (storage/postgres_token_store.h): a libpq URL
  // ("postgresql://user@host:5432/db") or key=value string; empty: SQLite.
  // The data dir still holds kek.key (unless kek_file) and admin.key.
  std::string database_url;
  // The database password, if not in database_url.
  std::string database_password;
  // The key-encryption key file; empty: <data_dir>/kek.key. Replicas of one
  // PostgreSQL database must share one key.
  std::string kek_file;

  // TLS: the server certificate chain and key (PEM text). Both or neither;
  // neither means plaintext. `client_ca_pem` (needs TLS) turns on mutual TLS:
  // clients must present a certificate signed by it.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string client_ca_pem;

  TokenAuthorityOptions authority;
  storage::SyncMode synchronous = storage::SyncMode::kFull;

  // Requests larger than this are refused with RESOURCE_EXHAUSTED.
  int max_receive_message_bytes = 64 * 1024;
  // Threads running handlers that touch the store (group commit batches
  // what they have in flight).
  int blocking_threads = 64;
  // Threads building the replies of listing calls (ListTokens,
  // ListAuditEvents and the other List methods, a page of up to 1,000 rows
  // each): few, because each reply being built holds its rows and message in
  // memory (64 at once took ~120 MB more than 4 at once), and two cores
  // build no faster with more.
  int list_threads = 4;
  // Keepalive enforcement: a client pinging more often than this without
  // data gets strikes; after `max_ping_strikes` it is sent away (GOAWAY).
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  // The server pings idle connections this often to find dead peers.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);

  // Transport limits against hostile clients (README "Hostile clients").
  // Calls open at once on one connection; more are refused by HTTP/2.
  int max_concurrent_streams = 100;
  // gRPC's memory quota (its read buffers and per-call arenas); under
  // pressure gRPC shrinks flow-control windows and refuses new streams.
  int64_t memory_limit_bytes = int64_t{512} << 20;
  // Serialized replies not yet taken by the client (a slow or stalled
  // reader): per connection and for the whole server. A call whose reply
  // would go over either answers RESOURCE_EXHAUSTED instead. 4 MiB is 24
  // pages of 1,000 tokens waiting on one connection.
  int64_t reply_backlog_per_connection_bytes = int64_t{4} << 20;
  int64_t reply_backlog_total_bytes = int64_t{64} << 20;

  // host:port of the Prometheus endpoint (GET /metrics; README "Metrics");
  // empty: none. Any address the operator gives; "127.0.0.1:9464" keeps it
  // on the machine.
  std::string metrics_listen;
  // How often the store's health (grpc.health.v1) is checked: see
  // server/store_health.h.
  absl::Duration store_health_interval = absl::Seconds(1);

  // Write <data_dir>/admin.key with a new admin key when the store has no
  // active service-wide admin key and the file does not exist.
  bool create_admin_key = true;

  // Not owned; must outlive the server. Defaults: the real clock, the secure
  // random source, a buffered log on stderr.
  const Clock* clock = nullptr;
  RandomSource* random = nullptr;
  CallLog* call_log = nullptr;
};

class AuthorityServer {
 public:
  // Starts serving. Checks, before anything is written to disk, that the TLS
  // options are consistent and that the address can be bound. Errors:
  // InvalidArgument (bad options, naming them), Unavailable (the address is
  // in use or cannot be bound), FailedPrecondition (a corrupt or foreign
  // database, a missing or wrong key-encryption key), the store's and the
  // core's errors. On failure nothing is left running.
  static absl::StatusOr<std::unique_ptr<AuthorityServer>> Start(
      const AuthorityServerOptions& options);

  // Shutdown(absl::Seconds(5)) if not done yet.
  ~AuthorityServer();
  AuthorityServer(const AuthorityServer&) = delete;
  AuthorityServer& operator=(const AuthorityServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // host:port with the real port, for clients.
  const std::string& address() const { return address_; }
  // <data_dir>/admin.key; whether this start created it; whether it exists.
  const std::string& admin_key_path() const { return admin_key_path_; }
  bool admin_key_created() const { return admin_key_created_; }
  bool admin_key_file_exists() const;

  // The metrics endpoint's port (0 without one).
  int metrics_port() const;
  // Whether grpc.health.v1 says SERVING (the store is usable), and why not.
  bool store_serving() const;
  std::string store_problem() const;

  // Not owned by the caller; valid until the server is destroyed.
  TokenAuthority* authority() { return authority_.get(); }
  storage::SqliteTokenStore* store() { return store_.get(); }

  // Stops accepting calls, ends WatchRevocations streams (UNAVAILABLE), lets
  // calls in flight finish (cancelling them after `grace`), then stops the
  // core, flushes and closes the store and flushes the log. Idempotent;
  // thread-safe.
  void Shutdown(absl::Duration grace);

 private:
  AuthorityServer() = default;
  absl::Status StartInternal(const AuthorityServerOptions& options);
  // Starts serving the services on options.listen (`host` is its host part).
  absl::Status StartGrpc(const AuthorityServerOptions& options,
                         const std::string& host);
  // Opens the SQLite store in the data dir, or the PostgreSQL one.
  absl::Status OpenStore(const AuthorityServerOptions& options,
                         const Clock& clock, RandomSource& random);
  // The store in use (SQLite or PostgreSQL).
  storage::TokenStore* token_store();
  // The same store, as both stores' operational interface.
  storage::ManagedTokenStore* managed_store();
  absl::Status EnsureAdminKey(const std::string& data_dir);
  // Creates the bootstrap admin key and writes it to admin_key_path_.
  absl::Status CreateAdminKeyFile(const std::string& data_dir);
  // The store's health check and the metrics endpoint, once gRPC serves.
  absl::Status StartOperations(const AuthorityServerOptions& options);

  std::unique_ptr<CallLog> owned_log_;
  CallLog* log_ = nullptr;
  // With a metrics endpoint: every call counted on its way to the log.
  std::unique_ptr<CallMetrics> call_metrics_;
  std::unique_ptr<MeteredCallLog> metered_log_;
  // Held from the start until Shutdown has closed the store.
  std::unique_ptr<DataDirLock> data_dir_lock_;
  std::unique_ptr<storage::SqliteTokenStore> store_;
  // With database_url: the PostgreSQL store instead (store_ stays null).
  std::unique_ptr<storage::PostgresTokenStore> pg_store_;
  std::unique_ptr<TokenAuthority> authority_;
  // With database_url: keeps authority_ in step with the other replicas.
  std::unique_ptr<ReplicaSync> replica_sync_;
  std::unique_ptr<BlockingExecutor> executor_;
  std::unique_ptr<BlockingExecutor> list_executor_;
  std::unique_ptr<ReplyBacklog> backlog_;
  std::unique_ptr<ServiceDeps> deps_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<StoreHealth> store_health_;
  std::unique_ptr<MetricsEndpoint> metrics_;
  int port_ = 0;
  std::string address_;
  std::string admin_key_path_;
  bool admin_key_created_ = false;

  // Held for the whole of Shutdown (a second caller waits for the first).
  Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

// Reads a whole (small) file, e.g. a PEM file named by a flag.
// FailedPrecondition naming the path if it cannot be read.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// The PostgreSQL password in the first line of the file named by
// --database-password-file; errors name that flag.
absl::StatusOr<std::string> ReadDatabasePasswordFile(const std::string& path);

}  // namespace token_authority::server

#endif  // SERVER_AUTHORITY_SERVER_H_

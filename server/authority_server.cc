#include "server/authority_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "server/blocking_executor.h"
#include "server/call_log_interceptor.h"
#include "server/call_metrics.h"
#include "server/data_dir.h"
#include "server/grpc_services.h"
#include "server/metrics_endpoint.h"
#include "server/reflection_v1.h"
#include "server/reply_backlog.h"
#include "server/server_metrics.h"
#include "server/store_health.h"

namespace token_authority::server {
namespace {

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitListen(const std::string& listen) {
  const absl::Status bad = absl::InvalidArgumentError(absl::StrCat(
      "listen: \"", listen, "\" is not host:port (IPv6: [addr]:port)"));
  HostPort out;
  size_t colon;
  if (!listen.empty() && listen[0] == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() ||
        listen[close + 1] != ':') {
      return bad;
    }
    out.host = listen.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = listen.rfind(':');
    if (colon == std::string::npos) return bad;
    out.host = listen.substr(0, colon);
  }
  out.port = listen.substr(colon + 1);
  int port;
  if (out.host.empty() || !absl::SimpleAtoi(out.port, &port) || port < 0 ||
      port > 65535) {
    return bad;
  }
  return out;
}

// Binds (without SO_REUSEPORT) and releases the address, so that a port in
// use is reported before anything is written to disk.
absl::Status CheckCanBind(const HostPort& hp, const std::string& listen) {
  if (hp.port == "0") return absl::OkStatus();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen: cannot resolve \"", hp.host, "\": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(res, freeaddrinfo);
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                            ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const int bound = ::bind(fd, ai->ai_addr, ai->ai_addrlen);
    const int err = errno;
    ::close(fd);
    if (bound != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", listen, ": ", std::strerror(err)));
    }
  }
  return absl::OkStatus();
}

// Every service the server registers, for the metrics' method names.
const std::vector<std::string> kServices = {
    "tokenauthority.v1.TokenService",
    "tokenauthority.v1.KeyService",
    "tokenauthority.v1.AuditService",
    "tokenauthority.v1.AdminService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection"};

// One line on stderr when the store's health changes (the call log's time
// format), so that the operator sees why probes fail.
void ReportHealthChange(bool serving, const std::string& reason) {
  const std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                       absl::UTCTimeZone()),
      serving ? " health SERVING: the store is usable again\n"
              : absl::StrCat(" health NOT_SERVING: ", reason, "\n"));
  (void)!::write(2, line.data(), line.size());
}

int ToMillis(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// The certificate (the chain's first) and the key are PEM and belong
// together; gRPC would only fail later, blaming the address.
absl::Status CheckTlsPair(const std::string& cert_pem,
                          const std::string& key_pem) {
  std::unique_ptr<BIO, BioDeleter> cert_bio(
      BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  std::unique_ptr<BIO, BioDeleter> key_bio(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (cert_bio == nullptr || key_bio == nullptr) {
    return absl::ResourceExhaustedError("tls: out of memory");
  }
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        "tls-cert: not a PEM certificate (chain)");
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "tls-key: not a PEM private key (or it is encrypted)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "tls-key: the key does not belong to the certificate of tls-cert");
  }
  return absl::OkStatus();
}

// What can be checked without touching the disk: the TLS options, the data
// directory's name, the address (and that it can be bound). The address.
absl::StatusOr<HostPort> CheckOptions(const AuthorityServerOptions& options) {
  const bool tls =
      !options.tls_cert_pem.empty() || !options.tls_key_pem.empty();
  if (tls && (options.tls_cert_pem.empty() || options.tls_key_pem.empty())) {
    return absl::InvalidArgumentError(
        "tls-cert, tls-key: give both or neither");
  }
  if (!options.client_ca_pem.empty() && !tls) {
    return absl::InvalidArgumentError(
        "client-ca: mutual TLS needs tls-cert and tls-key");
  }
  if (tls) {
    TA_RETURN_IF_ERROR(CheckTlsPair(options.tls_cert_pem, options.tls_key_pem));
  }
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data-dir: required");
  }
  if (options.max_concurrent_streams < 1) {
    return absl::InvalidArgumentError("max-concurrent-streams: must be >= 1");
  }
  if (options.memory_limit_bytes < (int64_t{16} << 20)) {
    return absl::InvalidArgumentError("memory-limit: must be >= 16 MiB");
  }
  if (options.reply_backlog_per_connection_bytes < 1 ||
      options.reply_backlog_total_bytes <
          options.reply_backlog_per_connection_bytes) {
    return absl::InvalidArgumentError(
        "reply-backlog: per connection must be >= 1 byte and the total at "
        "least the per-connection limit");
  }
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<HostPort> metrics = SplitListen(options.metrics_listen);
    if (!metrics.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics-", metrics.status().message()));
    }
    TA_RETURN_IF_ERROR(CheckCanBind(*metrics, options.metrics_listen));
  }
  TA_ASSIGN_OR_RETURN(HostPort hp, SplitListen(options.listen));
  TA_RETURN_IF_ERROR(CheckCanBind(hp, options.listen));
  return hp;
}

// Plaintext, TLS, or mutual TLS when a client CA is given.
std::shared_ptr<grpc::ServerCredentials> Credentials(
    const AuthorityServerOptions& options) {
  if (options.tls_cert_pem.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.tls_key_pem, options.tls_cert_pem});
  return grpc::SslServerCredentials(ssl);
}

constexpr int kMaxGrpcSyncThreads = 32;

// The request size limit, no port sharing, keepalive enforcement, the
// transport limits against hostile clients (README "Hostile clients").
void SetLimits(const AuthorityServerOptions& options,
               grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams);
  grpc::ResourceQuota quota("token-authority");
  quota.Resize(static_cast<size_t>(options.memory_limit_bytes));
  // The threads gRPC may start for synchronous services (reflection
  // v1alpha); the project's handlers run on the callback API and on the
  // executors above, whose sizes are their own flags.
  quota.SetMaxThreads(kMaxGrpcSyncThreads);
  builder.SetResourceQuota(quota);
  // Requests are accepted uncompressed only: a compressed one is refused
  // (UNIMPLEMENTED) from its headers, before its body is inflated, so that
  // a small body cannot expand to many times the receive limit.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  // A port in use must fail, not be shared.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ToMillis(options.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES,
                             options.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ToMillis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ToMillis(options.keepalive_timeout));
}

}  // namespace

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  }
  return ss.str();
}

absl::StatusOr<std::string> ReadDatabasePasswordFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    return absl::Status(
        text.status().code(),
        absl::StrCat("--database-password-file: ", text.status().message()));
  }
  return text->substr(0, text->find_first_of("\r\n"));
}

absl::StatusOr<std::unique_ptr<AuthorityServer>> AuthorityServer::Start(
    const AuthorityServerOptions& options) {
  std::unique_ptr<AuthorityServer> server(new AuthorityServer());
  absl::Status s = server->StartInternal(options);
  if (!s.ok()) {
    server->Shutdown(absl::ZeroDuration());
    return s;
  }
  return server;
}

AuthorityServer::~AuthorityServer() { Shutdown(absl::Seconds(5)); }

bool AuthorityServer::admin_key_file_exists() const {
  return FileExists(admin_key_path_);
}

absl::Status AuthorityServer::StartInternal(
    const AuthorityServerOptions& options) {
  // 1. Everything that can be checked without touching the disk.
  TA_ASSIGN_OR_RETURN(HostPort hp, CheckOptions(options));

  if (options.call_log == nullptr) {
    owned_log_ = FdCallLog::Create(2);
    log_ = owned_log_.get();
  } else {
    log_ = options.call_log;
  }
  if (!options.metrics_listen.empty()) {
    call_metrics_ = std::make_unique<CallMetrics>(MethodNamesOf(kServices));
    metered_log_ = std::make_unique<MeteredCallLog>(log_, call_metrics_.get());
    log_ = metered_log_.get();
  }
  const Clock& clock = options.clock ? *options.clock : Clock::Real();
  RandomSource& random =
      options.random ? *options.random : RandomSource::Secure();

  // 2. The data directory and the store.
  TA_RETURN_IF_ERROR(EnsureDirectory(options.data_dir));
  TA_ASSIGN_OR_RETURN(data_dir_lock_, DataDirLock::Acquire(options.data_dir));
  TA_RETURN_IF_ERROR(OpenStore(options, clock, random));

  // 3. The core; with PostgreSQL, in step with the other replicas from the
  // change log's sequence read before the core loads its state (so nothing
  // committed in between is missed; re-applying is harmless).
  int64_t change_sequence = 0;
  if (pg_store_ != nullptr) {
    TA_ASSIGN_OR_RETURN(change_sequence, pg_store_->MaxChangeSequence());
  }
  TA_ASSIGN_OR_RETURN(
      authority_,
      TokenAuthority::Create(options.authority, token_store(), clock, random));
  if (pg_store_ != nullptr) {
    replica_sync_ =
        ReplicaSync::Start(pg_store_.get(), authority_.get(), change_sequence);
  }

  // 4. gRPC.
  TA_RETURN_IF_ERROR(StartGrpc(options, hp.host));

  // 5. The store's health check, the metrics endpoint.
  TA_RETURN_IF_ERROR(StartOperations(options));

  // 6. The bootstrap admin key, once everything else works.
  admin_key_path_ = AdminKeyPath(options.data_dir);
  if (options.create_admin_key) {
    TA_RETURN_IF_ERROR(EnsureAdminKey(options.data_dir));
  }
  return absl::OkStatus();
}

absl::Status AuthorityServer::OpenStore(const AuthorityServerOptions& options,
                                        const Clock& clock,
                                        RandomSource& random) {
  const std::string kek_path =
      options.kek_file.empty() ? KekPath(options.data_dir) : options.kek_file;
  if (!options.database_url.empty()) {
    storage::PostgresTokenStoreOptions pg;
    pg.conninfo = options.database_url;
    pg.password = options.database_password;
    pg.key_encryption_key_path = kek_path;
    pg.clock = &clock;
    pg.random = &random;
    TA_ASSIGN_OR_RETURN(pg_store_,
                        storage::PostgresTokenStore::Open(std::move(pg)));
    return absl::OkStatus();
  }
  storage::SqliteTokenStoreOptions store_options;
  store_options.path = DatabasePath(options.data_dir);
  store_options.key_encryption_key_path = kek_path;
  store_options.synchronous = options.synchronous;
  store_options.clock = &clock;
  store_options.random = &random;
  TA_ASSIGN_OR_RETURN(
      store_, storage::SqliteTokenStore::Open(std::move(store_options)));
  return absl::OkStatus();
}

storage::TokenStore* AuthorityServer::token_store() { return managed_store(); }

storage::ManagedTokenStore* AuthorityServer::managed_store() {
  if (pg_store_ != nullptr) return pg_store_.get();
  return store_.get();
}

absl::Status AuthorityServer::StartGrpc(const AuthorityServerOptions& options,
                                        const std::string& host) {
  executor_ = BlockingExecutor::Create(options.blocking_threads);
  list_executor_ = BlockingExecutor::Create(options.list_threads);
  deps_ = std::make_unique<ServiceDeps>();
  deps_->authority = authority_.get();
  deps_->executor = executor_.get();
  deps_->list_executor = list_executor_.get();
  deps_->log = log_;
  backlog_ =
      std::make_unique<ReplyBacklog>(options.reply_backlog_per_connection_bytes,
                                     options.reply_backlog_total_bytes);
  deps_->backlog = backlog_.get();
  services_.push_back(NewTokenService(*deps_));
  services_.push_back(NewKeyService(*deps_));
  services_.push_back(NewAuditService(*deps_));
  services_.push_back(NewAdminService(*deps_));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetOption(NewReflectionV1Option());
  builder.AddListeningPort(options.listen, Credentials(options), &port_);
  for (auto& service : services_) builder.RegisterService(service.get());
  SetLimits(options, builder);
  if (log_ != nullptr) {
    // Health and reflection run no handler of ours: their log lines.
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(NewCallLogInterceptorFactory(log_));
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     ": the address is in use or cannot be bound"));
  }
  address_ = host.find(':') != std::string::npos
                 ? absl::StrCat("[", host, "]:", port_)
                 : absl::StrCat(host, ":", port_);
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(true);
  }
  return absl::OkStatus();
}

absl::Status AuthorityServer::StartOperations(
    const AuthorityServerOptions& options) {
  // Either store: its writer's counters and a write probe. SQLite: its file
  // and the data directory's free space too; PostgreSQL: a probe on every
  // check, so that a lost connection to the server shows at once.
  storage::ManagedTokenStore* store = managed_store();
  StoreHealthOptions health_options;
  if (store_ != nullptr) {
    health_options.database_path = DatabasePath(options.data_dir);
    health_options.data_dir = options.data_dir;
  } else {
    health_options.probe_every_check = true;
  }
  health_options.interval = options.store_health_interval;
  StoreHealth::WriteStateFn write_state = [store] {
    const storage::WriterStats w = store->GetWriterStats();
    return StoreWriteState{w.storage_failures, w.last_failure};
  };
  StoreHealth::ProbeFn probe = [store] { return store->ProbeWrite(); };
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    // Each service by name too (a probe may name one), all flipped together.
    for (const std::string& name : kServices) {
      health->SetServingStatus(name, true);
    }
  }
  TA_ASSIGN_OR_RETURN(
      store_health_,
      StoreHealth::Start(std::move(health_options), std::move(write_state),
                         std::move(probe),
                         [health](bool serving, const std::string& reason) {
                           if (health != nullptr)
                             health->SetServingStatus(serving);
                           ReportHealthChange(serving, reason);
                         }));
  if (options.metrics_listen.empty()) return absl::OkStatus();
  ServerMetricsSources sources;
  sources.calls = call_metrics_.get();
  sources.authority = authority_.get();
  sources.store = store;
  sources.store_has_wal = store_ != nullptr;
  sources.health = store_health_.get();
  sources.grpc_port = port_;
  sources.revocation_sequence_at_start =
      authority_->revocation_feed().last_sequence();
  TA_ASSIGN_OR_RETURN(
      metrics_, MetricsEndpoint::Start(
                    options.metrics_listen,
                    [sources](std::vector<prometheus::MetricFamily>* out) {
                      CollectServerMetrics(sources, out);
                    }));
  return absl::OkStatus();
}

int AuthorityServer::metrics_port() const {
  return metrics_ == nullptr ? 0 : metrics_->port();
}

bool AuthorityServer::store_serving() const {
  return store_health_ == nullptr || store_health_->serving();
}

std::string AuthorityServer::store_problem() const {
  return store_health_ == nullptr ? "" : store_health_->reason();
}

absl::Status AuthorityServer::EnsureAdminKey(const std::string& data_dir) {
  if (FileExists(admin_key_path_) || authority_->HasActiveAdminKey()) {
    return absl::OkStatus();
  }
  if (pg_store_ == nullptr) return CreateAdminKeyFile(data_dir);
  // Replicas of one database starting together: the first to take the
  // lock creates the key; the others then find it in the database.
  return pg_store_->RunExclusively([&]() -> absl::Status {
    TA_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys,
                        pg_store_->ListApiKeys("", /*include_revoked=*/false));
    for (const storage::ApiKey& key : keys) {
      if (key.role == storage::ApiKeyRole::kAdmin) return absl::OkStatus();
    }
    return CreateAdminKeyFile(data_dir);
  });
}

absl::Status AuthorityServer::CreateAdminKeyFile(const std::string& data_dir) {
  TA_ASSIGN_OR_RETURN(CreatedApiKey key, authority_->CreateBootstrapAdminKey());
  TA_RETURN_IF_ERROR(
      WriteSecretFile(data_dir, admin_key_path_, key.secret + "\n"));
  admin_key_created_ = true;
  return absl::OkStatus();
}

void AuthorityServer::Shutdown(absl::Duration grace) {
  MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  // Neither may look at the store or flip the health status from here on.
  metrics_.reset();
  if (store_health_ != nullptr) store_health_->Stop();
  if (replica_sync_ != nullptr) replica_sync_->Stop();
  if (server_ != nullptr) {
    if (grpc::HealthCheckServiceInterface* health =
            server_->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
  }
  // Watch streams never end by themselves: end them first.
  if (authority_ != nullptr) {
    authority_->revocation_feed().Close();
    authority_->organization_state_feed().Close();
  }
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(grace));
    server_->Wait();
  }
  if (executor_ != nullptr) executor_->Shutdown();
  if (list_executor_ != nullptr) list_executor_->Shutdown();
  if (authority_ != nullptr) authority_->Shutdown();
  if (store_ != nullptr) (void)store_->Shutdown();
  if (pg_store_ != nullptr) (void)pg_store_->Shutdown();
  data_dir_lock_.reset();
  if (log_ != nullptr) log_->Flush();
}

}  // namespace token_authority::server

// token-authority: the gRPC service that issues, tracks, verifies and revokes
// secure playback tokens. Every flag can also be set by an environment
// variable (named after the flag, e.g. TA_LISTEN for --listen).
//
// Prints one line when it listens (the real address, and where the admin key
// is) and exits 0 after SIGTERM/SIGINT once calls in flight have finished and
// the store is flushed. A start-up error is one line on stderr and exit 1.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/authority_server.h"
#include "server/start_line.h"
#include "token/time_util.h"

namespace {

using token_authority::server::AuthorityServer;
using token_authority::server::AuthorityServerOptions;
using token_authority::server::kMaxVerifyCacheEntries;
using token_authority::server::kStartLinePrefix;

int Fail(const std::string& message) {
  std::fprintf(stderr, "token-authority: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on, which records
  // every lock acquisition in a global graph under a global lock: a real
  // cost on the VerifyToken hot path. The lock order is fixed by design
  // (see token_authority.h) and exercised by the tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string listen = "127.0.0.1:50051";
  std::string data_dir = "./var";
  std::string tls_cert, tls_key, client_ca;
  std::string leeway = "60s", default_lifetime = "14d", max_lifetime = "365d";
  std::string issuer = "token-authority";
  double rate_limit = 0, rate_burst = 0;
  std::string shutdown_grace = "10s";
  int blocking_threads = 64;
  int64_t verify_cache = 10000;

  CLI::App app{
      "token-authority: issues, tracks, verifies and revokes secure playback "
      "tokens (JWT) over gRPC. Durations are written 90s, 15m, 36h, 14d, 2w."};
  app.add_option("--listen", listen,
                 "host:port to listen on; port 0 picks a free port")
      ->envname("TA_LISTEN")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir,
                 "directory for token-authority.db, kek.key and admin.key")
      ->envname("TA_DATA_DIR")
      ->capture_default_str();
  app.add_option("--tls-cert", tls_cert, "server certificate chain (PEM file)")
      ->envname("TA_TLS_CERT");
  app.add_option("--tls-key", tls_key, "server private key (PEM file)")
      ->envname("TA_TLS_KEY");
  app.add_option("--client-ca", client_ca,
                 "CA certificates (PEM file) for mutual TLS: clients must "
                 "present a certificate signed by one of them")
      ->envname("TA_CLIENT_CA");
  app.add_option("--leeway", leeway, "tolerated clock skew for exp/nbf")
      ->envname("TA_LEEWAY")
      ->capture_default_str();
  app.add_option("--default-lifetime", default_lifetime,
                 "lifetime of tokens whose spec sets none")
      ->envname("TA_DEFAULT_LIFETIME")
      ->capture_default_str();
  app.add_option("--max-lifetime", max_lifetime, "longest lifetime allowed")
      ->envname("TA_MAX_LIFETIME")
      ->capture_default_str();
  app.add_option("--issuer", issuer, "the iss claim of issued tokens")
      ->envname("TA_ISSUER")
      ->capture_default_str();
  app.add_option("--rate-limit", rate_limit,
                 "requests per second per API key (0: unlimited)")
      ->envname("TA_RATE_LIMIT")
      ->capture_default_str();
  app.add_option("--rate-burst", rate_burst,
                 "burst per API key (0: one second's worth)")
      ->envname("TA_RATE_BURST")
      ->capture_default_str();
  app.add_option("--shutdown-grace", shutdown_grace,
                 "how long calls in flight may take after SIGTERM/SIGINT")
      ->envname("TA_SHUTDOWN_GRACE")
      ->capture_default_str();
  app.add_option("--verify-cache", verify_cache,
                 "tokens whose signature check VerifyToken remembers (by "
                 "SHA-256; expiry, revocation and the request are checked "
                 "every time); 0: none")
      ->envname("TA_VERIFY_CACHE")
      ->check(CLI::Range(int64_t{0}, kMaxVerifyCacheEntries))
      ->capture_default_str();
  app.add_option("--blocking-threads", blocking_threads,
                 "threads serving calls that touch the database")
      ->envname("TA_BLOCKING_THREADS")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  AuthorityServerOptions options;
  options.listen = listen;
  options.data_dir = data_dir;
  options.blocking_threads = blocking_threads;
  options.authority.issuer = issuer;
  options.authority.rate_limit_per_second = rate_limit;
  options.authority.rate_limit_burst = rate_burst;
  options.authority.verify_cache_entries = static_cast<size_t>(verify_cache);
  struct DurationFlag {
    const char* name;
    const std::string* text;
    absl::Duration* out;
  };
  absl::Duration grace;
  for (const DurationFlag& f : {
           DurationFlag{"leeway", &leeway, &options.authority.leeway},
           DurationFlag{"default-lifetime", &default_lifetime,
                        &options.authority.limits.default_lifetime},
           DurationFlag{"max-lifetime", &max_lifetime,
                        &options.authority.limits.max_lifetime},
           DurationFlag{"shutdown-grace", &shutdown_grace, &grace},
       }) {
    absl::StatusOr<absl::Duration> d =
        token_authority::token::ParseDuration(*f.text);
    if (!d.ok()) {
      return Fail(absl::StrCat("--", f.name, ": ", d.status().message()));
    }
    *f.out = *d;
  }
  for (const auto& [flag, path, out] :
       {std::make_tuple("tls-cert", &tls_cert, &options.tls_cert_pem),
        std::make_tuple("tls-key", &tls_key, &options.tls_key_pem),
        std::make_tuple("client-ca", &client_ca, &options.client_ca_pem)}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> pem =
        token_authority::server::ReadSmallFile(*path);
    if (!pem.ok()) {
      return Fail(absl::StrCat("--", flag, ": ", pem.status().message()));
    }
    *out = std::move(*pem);
  }

  // Signals are taken synchronously by this thread (sigwait); every thread
  // started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<AuthorityServer>> server =
      AuthorityServer::Start(std::move(options));
  if (!server.ok()) return Fail(std::string(server.status().message()));

  std::string admin;
  if ((*server)->admin_key_created()) {
    admin = absl::StrCat("admin key written to ", (*server)->admin_key_path());
  } else if ((*server)->admin_key_file_exists()) {
    admin = absl::StrCat("admin key in ", (*server)->admin_key_path());
  } else {
    admin = absl::StrCat("no admin key file at ", (*server)->admin_key_path(),
                         " (an admin key exists in the database)");
  }
  std::printf("%s%s (%s)\n", std::string(kStartLinePrefix).c_str(),
              (*server)->address().c_str(), admin.c_str());
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  (*server)->Shutdown(grace);
  server->reset();
  return 0;
}

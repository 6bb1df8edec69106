// token-authority: the gRPC service that issues, tracks, verifies and revokes
// secure playback tokens. Every flag can also be set by an environment
// variable (named after the flag, e.g. TA_LISTEN for --listen); see
// server_flags.h.
//
// Prints one line when it listens (the real address, and where the admin key
// is) and exits 0 after SIGTERM/SIGINT once calls in flight have finished and
// the store is flushed. A start-up error is one line on stderr and exit 1; a
// usage error is CLI11's message and exit code.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/authority_server.h"
#include "server/offline_commands.h"
#include "server/server_flags.h"
#include "server/start_line.h"

#ifdef TA_WITH_JEMALLOC
// jemalloc reads its options from this symbol (MALLOC_CONF in the
// environment still overrides them). Memory freed after a burst of calls
// (or an attack) goes back to the system within about a second, from
// jemalloc's own background thread, instead of staying with the process.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): jemalloc's name.
const char* malloc_conf =
    "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace {

using token_authority::server::AuthorityServer;
using token_authority::server::ServerFlags;

int Fail(const std::string& message) {
  std::fprintf(stderr, "token-authority: %s\n", message.c_str());
  return 1;
}

// Where the admin key is, for the start line.
std::string AdminKeyNote(const AuthorityServer& server) {
  if (server.admin_key_created()) {
    return absl::StrCat("admin key written to ", server.admin_key_path());
  }
  if (server.admin_key_file_exists()) {
    return absl::StrCat("admin key in ", server.admin_key_path());
  }
  return absl::StrCat("no admin key file at ", server.admin_key_path(),
                      " (an admin key exists in the database)");
}

// Starts the server, prints the start line, serves until SIGTERM or SIGINT,
// then shuts down within the grace period. The exit code.
int Serve(const ServerFlags& flags) {
  // Signals are taken synchronously by this thread (sigwait); every thread
  // started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<AuthorityServer>> server =
      AuthorityServer::Start(flags.server);
  if (!server.ok()) return Fail(std::string(server.status().message()));

  std::printf("%s%s (%s)\n",
              std::string(token_authority::server::kStartLinePrefix).c_str(),
              (*server)->address().c_str(), AdminKeyNote(**server).c_str());
  if ((*server)->metrics_port() != 0) {
    std::printf("token-authority metrics on port %d (GET /metrics)\n",
                (*server)->metrics_port());
  }
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  const auto begin = absl::Now();
  (*server)->Shutdown(flags.shutdown_grace);
  server->reset();
  std::printf(
      "token-authority stopped on %s after %lld ms (store flushed)\n",
      sig == SIGINT ? "SIGINT" : "SIGTERM",
      static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - begin)));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on, which records
  // every lock acquisition in a global graph under a global lock: a real
  // cost on the VerifyToken hot path. The lock order is fixed by design
  // (see the server/ headers) and exercised by the tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc >= 2 && token_authority::server::IsOfflineCommand(argv[1])) {
    std::string out, err;
    const int code =
        token_authority::server::RunOfflineCommand(argc, argv, &out, &err);
    std::fputs(out.c_str(), stdout);
    std::fputs(err.c_str(), stderr);
    return code;
  }
  absl::StatusOr<ServerFlags> flags = token_authority::server::ParseFlags(
      argc, argv, token_authority::ProcessEnvironment());
  if (!flags.ok()) {
    const token_authority::server::FlagErrorReport report =
        token_authority::server::ReportFlagError(flags.status());
    std::fputs(report.text.c_str(), stderr);
    return report.exit_code;
  }
  if (!flags->help.empty()) {
    std::fputs(flags->help.c_str(), stdout);
    return 0;
  }
  return Serve(*flags);
}

#include "tests/testing/postgres_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/child_process.h"
#include "tests/testing/time_scale.h"

namespace token_authority::testing {
namespace {

bool IsExecutable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

// A port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The user the server runs as when we are root: "postgres", else
// "ta-postgres" (created if missing).
absl::Status UnprivilegedUser(uid_t* uid, gid_t* gid) {
  if (::geteuid() != 0) {
    *uid = ::geteuid();
    *gid = ::getegid();
    return absl::OkStatus();
  }
  for (const char* name : {"postgres", "ta-postgres"}) {
    if (const passwd* pw = ::getpwnam(name)) {
      *uid = pw->pw_uid;
      *gid = pw->pw_gid;
      return absl::OkStatus();
    }
  }
  const int rc = std::system(
      "useradd --system --no-create-home --shell /usr/sbin/nologin "
      "ta-postgres");
  const passwd* pw = ::getpwnam("ta-postgres");
  if (rc != 0 || pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root and there is no user \"postgres\" or "
        "\"ta-postgres\" to run PostgreSQL as (useradd failed)");
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A libpq connection closed on scope exit.
struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

std::string PostgresCluster::BinDir() {
  const char* env = std::getenv("TA_PG_BIN");
  return env != nullptr && *env != '\0' ? env : "/usr/lib/postgresql/15/bin";
}

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(
    Options options) {
  const std::string bin = BinDir();
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    if (!IsExecutable(absl::StrCat(bin, "/", tool))) {
      return absl::FailedPreconditionError(absl::StrCat(
          bin, "/", tool,
          " is missing: install postgresql-15 (scripts/install-deps)"));
    }
  }
  uid_t uid = 0;
  gid_t gid = 0;
  if (absl::Status st = UnprivilegedUser(&uid, &gid); !st.ok()) return st;
  absl::StatusOr<TempDir> dir = TempDir::Create();
  if (!dir.ok()) return dir.status();
  if (::chown(dir->path().c_str(), uid, gid) != 0) {
    return absl::InternalError(absl::StrCat("chown ", dir->path(), " failed"));
  }
  std::unique_ptr<PostgresCluster> cluster(
      new PostgresCluster(*std::move(dir), uid, gid, options));
  const std::string data = cluster->dir_.File("data");
  absl::Status st = cluster->Run(
      {bin + "/initdb", "-D", data, "-U", "ta", "--auth=trust",
       "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"},
      Scaled(absl::Seconds(120)));
  if (!st.ok()) return st;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    cluster->port_ = *port;
    st = cluster->StartServer();
    if (st.ok()) return cluster;
  }
  return st;
}

PostgresCluster::~PostgresCluster() {
  if (absl::Status st = Stop("fast"); !st.ok()) {
    std::cerr << "PostgresCluster: " << st << "\n";
  }
}

absl::Status PostgresCluster::Run(const std::vector<std::string>& argv,
                                  absl::Duration timeout) const {
  const std::string out_path = dir_.File("command.out");
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const bool switch_user = ::geteuid() == 0;
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    if (switch_user) {
      if (::fchown(1, uid_, gid_) != 0 || ::setgroups(0, nullptr) != 0 ||
          ::setgid(gid_) != 0 || ::setuid(uid_) != 0) {
        ::_exit(126);
      }
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  if (!WaitForExit(pid, timeout, &status)) {
    KillAndReap(pid);
    return absl::InternalError(absl::StrCat(argv[0], " did not finish within ",
                                            absl::FormatDuration(timeout), ": ",
                                            ReadFile(out_path)));
  }
  if (ExitCode(status) != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (exit ",
                                            ExitCode(status),
                                            "): ", ReadFile(out_path)));
  }
  return absl::OkStatus();
}

absl::Status PostgresCluster::StartServer() {
  const std::string options = absl::StrCat(
      "-p ", port_,
      " -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
      " -c max_connections=", options_.max_connections,
      " -c fsync=", options_.fsync ? "on" : "off",
      " -c full_page_writes=", options_.fsync ? "on" : "off",
      " -c shared_buffers=32MB");
  absl::Status st =
      Run({BinDir() + "/pg_ctl", "start", "-w", "-t", "60", "-D",
           dir_.File("data"), "-l", dir_.File("server.log"), "-o", options},
          Scaled(absl::Seconds(90)));
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat(st.message(), "\nserver log:\n",
                                            ReadFile(dir_.File("server.log"))));
  }
  running_ = true;
  return absl::OkStatus();
}

absl::Status PostgresCluster::Stop(absl::string_view mode) {
  if (!running_) return absl::OkStatus();
  absl::Status st = Run({BinDir() + "/pg_ctl", "stop", "-w", "-t", "60", "-m",
                         std::string(mode), "-D", dir_.File("data")},
                        Scaled(absl::Seconds(90)));
  if (st.ok()) running_ = false;
  return st;
}

absl::Status PostgresCluster::Restart() {
  if (running_) return absl::FailedPreconditionError("already running");
  return StartServer();
}

std::string PostgresCluster::ConnInfo(absl::string_view dbname) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=ta dbname=", dbname,
                      " connect_timeout=10");
}

std::string PostgresCluster::Url(absl::string_view dbname) const {
  return absl::StrCat("postgresql://ta@127.0.0.1:", port_, "/", dbname);
}

absl::Status PostgresCluster::Exec(absl::string_view dbname,
                                   absl::string_view sql) const {
  return QueryText(dbname, sql).status();
}

absl::StatusOr<std::string> PostgresCluster::QueryText(
    absl::string_view dbname, absl::string_view sql) const {
  std::unique_ptr<PGconn, ConnCloser> conn(
      PQconnectdb(ConnInfo(dbname).c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::InternalError(absl::StrCat("connect to ", ConnInfo(dbname),
                                            ": ", PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, ResultCloser> res(
      PQexec(conn.get(), std::string(sql).c_str()));
  const ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(res.get())));
  }
  if (status != PGRES_TUPLES_OK || PQntuples(res.get()) == 0 ||
      PQnfields(res.get()) == 0 || PQgetisnull(res.get(), 0, 0)) {
    return std::string();
  }
  return std::string(PQgetvalue(res.get(), 0, 0), PQgetlength(res.get(), 0, 0));
}

absl::Status PostgresCluster::AddPasswordRole(absl::string_view name,
                                              absl::string_view password) {
  absl::Status st = Exec(
      "postgres",
      absl::StrCat("CREATE ROLE ", name, " LOGIN PASSWORD '", password, "'"));
  if (!st.ok()) return st;
  const std::string hba = dir_.File("data") + "/pg_hba.conf";
  const std::string rules = ReadFile(hba);
  if (rules.empty()) return absl::InternalError("cannot read " + hba);
  {
    std::ofstream out(hba, std::ios::trunc);
    out << "host all " << name << " 127.0.0.1/32 scram-sha-256\n" << rules;
    if (!out.flush()) return absl::InternalError("cannot write " + hba);
  }
  st = Exec("postgres", "SELECT pg_reload_conf()");
  if (!st.ok()) return st;
  // The reload is asynchronous: wait until the role is asked for its
  // password.
  const std::string conninfo =
      absl::StrCat("host=127.0.0.1 port=", port_, " user=", name,
                   " dbname=postgres connect_timeout=10");
  const absl::Time deadline = absl::Now() + Scaled(absl::Seconds(30));
  while (true) {
    std::unique_ptr<PGconn, ConnCloser> conn(PQconnectdb(conninfo.c_str()));
    if (PQstatus(conn.get()) != CONNECTION_OK) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::InternalError("pg_hba.conf reload not in effect in time");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase() {
  const std::string name = absl::StrCat("ta_test_", next_database_++);
  absl::Status st = Exec("postgres", absl::StrCat("CREATE DATABASE ", name));
  if (!st.ok()) return st;
  return name;
}

absl::StatusOr<PostgresCluster*> SharedPostgresCluster() {
  static std::mutex mu;
  static absl::StatusOr<std::unique_ptr<PostgresCluster>>* shared = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (shared == nullptr) {
    shared = new absl::StatusOr<std::unique_ptr<PostgresCluster>>(
        PostgresCluster::Start());
    // Stopped at exit (the holder itself is leaked on purpose: no
    // destruction-order surprises with other statics).
    std::atexit([] {
      if (shared->ok()) shared->value().reset();
    });
  }
  if (!shared->ok()) return shared->status();
  return shared->value().get();
}

}  // namespace token_authority::testing

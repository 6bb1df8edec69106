#include "server/offline_commands.h"

#include <functional>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/random.h"
#include "server/admin_key_reset.h"
#include "server/backup.h"
#include "server/migrate.h"

namespace token_authority::server {
namespace {

struct OfflineFlags {
  std::string data_dir = "./var";
  std::string to, from, kek_file, password_file;
};

// The command chosen, run after parsing: its output line or its error.
using Action = std::function<absl::StatusOr<std::string>()>;

void AddMigrate(CLI::App& app, OfflineFlags& f, Action& action) {
  CLI::App* migrate = app.add_subcommand(
      "migrate",
      "Copy a stopped SQLite deployment into an empty PostgreSQL database "
      "(all or nothing, counts checked), for replicas started with "
      "--database");
  migrate->add_option("--from", f.from, "the data directory (server stopped)")
      ->required();
  migrate->add_option("--to", f.to, "the database: postgresql://...")
      ->required();
  migrate->add_option("--database-password-file", f.password_file,
                      "file holding the PostgreSQL password (first line)");
  migrate->add_option("--kek-file", f.kek_file,
                      "the key-encryption key (default: kek.key in --from); "
                      "the replicas use the same");
  migrate->callback([&f, &action] {
    action = [&f]() -> absl::StatusOr<std::string> {
      return MigrateDataDir({f.from, f.to, f.password_file, f.kek_file});
    };
  });
}

void AddCommands(CLI::App& app, OfflineFlags& f, Action& action) {
  CLI::App* admin_key = app.add_subcommand(
      "admin-key", "Offline recovery of the admin key (server stopped)");
  admin_key->require_subcommand(1);
  CLI::App* reset = admin_key->add_subcommand(
      "reset",
      "Create a new service-wide admin key and write it to DIR/admin.key "
      "(the old keys stay; revoke a lost one with the new key)");
  reset->add_option("--data-dir", f.data_dir, "the server's data directory")
      ->capture_default_str();
  reset->callback([&f, &action] {
    action = [&f]() -> absl::StatusOr<std::string> {
      absl::StatusOr<AdminKeyReset> done =
          ResetAdminKey(f.data_dir, Clock::Real(), RandomSource::Secure());
      if (!done.ok()) return done.status();
      return absl::StrCat("new admin key ", done->key_id, " written to ",
                          done->path);
    };
  });

  CLI::App* backup = app.add_subcommand(
      "backup",
      "Write a consistent copy of the database (also while the server runs); "
      "kek.key is not in it: back it up apart");
  backup->add_option("--data-dir", f.data_dir, "the server's data directory")
      ->capture_default_str();
  backup->add_option("--to", f.to, "the backup file to create (new)")
      ->required();
  backup->callback([&f, &action] {
    action = [&f]() -> absl::StatusOr<std::string> {
      absl::StatusOr<storage::BackupStats> s = BackupDataDir(f.data_dir, f.to);
      if (!s.ok()) return s.status();
      return absl::StrCat("backup written to ", f.to, " (", s->bytes,
                          " bytes, integrity ok)");
    };
  });

  CLI::App* restore = app.add_subcommand(
      "restore", "Restore a backup into a new, empty data directory");
  restore->add_option("--from", f.from, "the backup file")->required();
  restore->add_option("--data-dir", f.data_dir, "the new data directory")
      ->required();
  restore->add_option("--kek-file", f.kek_file,
                      "the kek.key of the backed-up server, copied in and "
                      "checked against the restored keys");
  restore->callback([&f, &action] {
    action = [&f]() -> absl::StatusOr<std::string> {
      absl::StatusOr<storage::BackupStats> s =
          RestoreDataDir(f.from, f.kek_file, f.data_dir);
      if (!s.ok()) return s.status();
      return absl::StrCat(
          "restored ", f.from, " into ", f.data_dir, " (", s->bytes,
          " bytes, integrity ok)",
          f.kek_file.empty()
              ? "; copy the server's kek.key into it before starting"
              : "; kek.key copied and checked");
    };
  });
  AddMigrate(app, f, action);
}

}  // namespace

bool IsOfflineCommand(absl::string_view first_argument) {
  return first_argument == "admin-key" || first_argument == "backup" ||
         first_argument == "restore" || first_argument == "migrate";
}

int RunOfflineCommand(int argc, const char* const* argv, std::string* out,
                      std::string* err) {
  CLI::App app("token-authority: commands that run without serving",
               "token-authority");
  app.require_subcommand(1);
  OfflineFlags flags;
  Action action;
  AddCommands(app, flags, action);
  std::ostringstream out_stream, err_stream;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out_stream, err_stream);
    *out = out_stream.str();
    *err = err_stream.str();
    return code == 0 ? 0 : 2;
  }
  absl::StatusOr<std::string> line = action();
  if (!line.ok()) {
    std::string command;
    for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
      absl::StrAppend(&command, " ", argv[i]);
    }
    *err = absl::StrCat("token-authority", command, ": ",
                        line.status().message(), "\n");
    return 1;
  }
  *out = absl::StrCat(*line, "\n");
  return 0;
}

}  // namespace token_authority::server

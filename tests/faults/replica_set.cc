#include "tests/faults/replica_set.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace token_authority::testing {
namespace {

// `text` as an SQL string literal.
std::string Quoted(const std::string& text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaSet>> ReplicaSet::Create(
    const std::string& binary, int replicas, PostgresCluster::Options options) {
  std::unique_ptr<ReplicaSet> set(new ReplicaSet(binary, replicas));
  if (set->tmp_.path().empty()) {
    return absl::InternalError("no temporary directory");
  }
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Start(options);
  if (!cluster.ok()) return cluster.status();
  set->cluster_ = *std::move(cluster);
  absl::StatusOr<std::string> db = set->cluster_->CreateDatabase();
  if (!db.ok()) return db.status();
  set->database_ = *std::move(db);
  // 32 random bytes, readable by the owner only (as the server makes it).
  set->kek_path_ = set->tmp_.File("kek.key");
  std::random_device rd;
  std::string kek;
  for (int i = 0; i < 32; ++i) kek.push_back(static_cast<char>(rd() & 0xff));
  {
    std::ofstream f(set->kek_path_, std::ios::binary | std::ios::trunc);
    f << kek;
    if (!f.good()) return absl::InternalError("cannot write the key file");
  }
  if (::chmod(set->kek_path_.c_str(), 0600) != 0) {
    return absl::InternalError("chmod of the key file failed");
  }
  return set;
}

ReplicaSet::~ReplicaSet() {
  for (std::unique_ptr<ServerProcess>& s : servers_) s.reset();
  cluster_.reset();
}

std::string ReplicaSet::DataDir(int i) const {
  return tmp_.File(absl::StrCat("replica", i));
}

std::string ReplicaSet::LogPath(int i) const {
  return tmp_.File(absl::StrCat("replica", i, ".log"));
}

std::string ReplicaSet::admin_key_path() const {
  return DataDir(0) + "/admin.key";
}

absl::Status ReplicaSet::Start(int i) {
  servers_[i].reset();
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(binary_, DataDir(i), LogPath(i),
                           {"--database", url(), "--kek-file", kek_path_});
  if (!server.ok()) return server.status();
  servers_[i] = *std::move(server);
  return absl::OkStatus();
}

void ReplicaSet::Kill(int i) {
  if (servers_[i] != nullptr) servers_[i]->Kill();
}

int ReplicaSet::Terminate(int i) {
  return servers_[i] != nullptr ? servers_[i]->Terminate() : -1;
}

bool ReplicaSet::running(int i) const {
  return servers_[i] != nullptr && servers_[i]->running();
}

const std::string& ReplicaSet::address(int i) const {
  return servers_[i]->address();
}

std::string ReplicaSet::Log(int i) const {
  std::ifstream in(LogPath(i));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::string> ReplicaSet::TokenIdForRequest(
    const std::string& request_id) const {
  // The API's token id is the unpadded base64url of the 16 id bytes.
  return cluster_->QueryText(
      database_,
      absl::StrCat("SELECT translate(rtrim(encode(id, 'base64'), '='), '+/', "
                   "'-_') FROM tokens WHERE request_id = ",
                   Quoted(request_id)));
}

absl::StatusOr<int64_t> ReplicaSet::CountTagged(const std::string& tag) const {
  absl::StatusOr<std::string> text = cluster_->QueryText(
      database_,
      absl::StrCat("SELECT count(*) FROM tokens WHERE tag = ", Quoted(tag)));
  if (!text.ok()) return text.status();
  int64_t n = 0;
  if (!absl::SimpleAtoi(*text, &n)) {
    return absl::InternalError(absl::StrCat("count(*) gave \"", *text, "\""));
  }
  return n;
}

}  // namespace token_authority::testing

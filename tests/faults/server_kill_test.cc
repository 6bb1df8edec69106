// Faults at the server level, against the REAL token-authority binary as a
// child process (tests/faults/server_process.h):
//  - SIGKILL at a random moment during concurrent IssueToken/RevokeToken
//    load from many clients, 10 rounds on the same data directory: after each
//    restart every acknowledged token and revocation is present (GetToken,
//    state REVOKED), requests that got no answer can be retried with their
//    request_id and yield one token, and PRAGMA integrity_check (read-only,
//    while the server is down) is "ok";
//  - a client whose deadline expires during IssueToken retries with the same
//    request_id and ends with exactly one token;
//  - a corrupt or foreign database file, an unreadable key-encryption key and
//    a port in use: the server refuses to start with one line on stderr and a
//    non-zero exit, and changes nothing on disk.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/faults/server_process.h"
#include "tokenauthority/v1/admin_service.grpc.pb.h"
#include "tokenauthority/v1/token_service.grpc.pb.h"

#ifndef TA_SERVER_BINARY
#error "TA_SERVER_BINARY must name the token-authority binary"
#endif

namespace token_authority::testing {
namespace {

namespace v1 = ::tokenauthority::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kRounds = 10;
constexpr int kClientThreads = 8;
constexpr char kDbFile[] = "token-authority.db";

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                          int index = 0) {
  grpc::ChannelArguments args;
  // A connection of its own per client.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  args.SetInt("ta.test.client_index", index);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

void Prepare(grpc::ClientContext* ctx, const std::string& key,
             std::chrono::microseconds timeout = std::chrono::seconds(10)) {
  ctx->AddMetadata("authorization", "Bearer " + key);
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

struct Credentials {
  std::string admin_key;
  std::string organization_id;
  std::string issuer_key;
};

// Creates an organisation and an issuer key with the admin key in
// <data_dir>/admin.key.
Credentials Bootstrap(const std::string& address, const std::string& data_dir) {
  Credentials c;
  c.admin_key = std::string(
      absl::StripAsciiWhitespace(ReadFile(data_dir + "/admin.key")));
  EXPECT_FALSE(c.admin_key.empty());
  auto admin = v1::AdminService::NewStub(NewChannel(address));
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, c.admin_key);
    v1::CreateOrganizationRequest req;
    req.set_name("kill test");
    req.set_secure_enabled(true);
    v1::Organization org;
    grpc::Status s = admin->CreateOrganization(&ctx, req, &org);
    EXPECT_TRUE(s.ok()) << s.error_message();
    c.organization_id = org.id();
  }
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, c.admin_key);
    v1::CreateApiKeyRequest req;
    req.set_organization_id(c.organization_id);
    req.set_role(v1::API_KEY_ROLE_ISSUER);
    v1::CreateApiKeyResponse resp;
    grpc::Status s = admin->CreateApiKey(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    c.issuer_key = resp.secret();
  }
  return c;
}

// The spec a client thread always sends (a retry must send the same).
v1::IssueTokenRequest IssueRequest(int thread, const std::string& request_id) {
  v1::IssueTokenRequest req;
  req.mutable_spec()->mutable_target()->mutable_stream_names()->add_names(
      absl::StrCat("cam-", thread));
  req.mutable_spec()->mutable_lifetime()->set_seconds(3600);
  req.mutable_spec()->set_tag("kill-test");
  req.set_request_id(request_id);
  return req;
}

// What the clients were told.
struct Ledger {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> tokens;  // id, request_id
  std::vector<std::string> revoked;
  // Issue requests without an answer: (thread, request_id).
  std::vector<std::pair<int, std::string>> pending;
};

void ClientLoop(const std::string& address, const std::string& key, int round,
                int thread, uint64_t seed, const std::atomic<bool>& stop,
                Ledger* ledger) {
  auto stub = v1::TokenService::NewStub(NewChannel(address, thread));
  std::mt19937_64 rng(seed);
  std::vector<std::string> mine;
  for (int n = 0; !stop.load(); ++n) {
    const std::string request_id =
        absl::StrCat("r", round, "-t", thread, "-", n);
    grpc::ClientContext ctx;
    Prepare(&ctx, key, std::chrono::seconds(5));
    v1::IssueTokenResponse resp;
    grpc::Status s =
        stub->IssueToken(&ctx, IssueRequest(thread, request_id), &resp);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->pending.emplace_back(thread, request_id);
      return;  // the server is gone (or going)
    }
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->tokens.emplace_back(resp.token().id(), request_id);
    }
    mine.push_back(resp.token().id());
    if (rng() % 3 == 0) {
      const std::string victim = mine[rng() % mine.size()];
      grpc::ClientContext rctx;
      Prepare(&rctx, key, std::chrono::seconds(5));
      v1::RevokeTokenRequest rreq;
      rreq.set_token_id(victim);
      rreq.set_reason("kill test");
      v1::Token t;
      if (!stub->RevokeToken(&rctx, rreq, &t).ok()) return;
      EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED);
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->revoked.push_back(victim);
    }
  }
}

class ServerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    data_ = tmp_.path() + "/data";
    log_ = tmp_.path() + "/server.log";
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra = {}) {
    return ServerProcess::Start(TA_SERVER_BINARY, data_, log_, extra);
  }

  TempDir tmp_;
  std::string data_, log_;
};

TEST_F(ServerFaultTest, AcknowledgedWritesSurviveSigkillDuringLoad) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  Credentials creds;
  std::vector<std::pair<std::string, std::string>> all_tokens;
  std::set<std::string> all_revoked;
  std::vector<std::pair<int, std::string>> pending;
  int64_t checked_tokens = 0, checked_revocations = 0, retried = 0;

  // Checks the acknowledgements of the previous round against the restarted
  // server and retries the unanswered requests with their request_ids.
  auto verify = [&](const std::string& address, Ledger& previous) {
    auto stub = v1::TokenService::NewStub(NewChannel(address));
    for (const auto& [thread, request_id] : pending) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      grpc::Status s =
          stub->IssueToken(&ctx, IssueRequest(thread, request_id), &resp);
      ASSERT_TRUE(s.ok()) << request_id << ": " << s.error_message();
      EXPECT_EQ(resp.token().request_id(), request_id);
      all_tokens.emplace_back(resp.token().id(), request_id);
      ++retried;
    }
    pending.clear();
    const std::set<std::string> revoked(previous.revoked.begin(),
                                        previous.revoked.end());
    for (const auto& [id, request_id] : previous.tokens) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::GetTokenRequest req;
      req.set_token_id(id);
      v1::Token t;
      grpc::Status s = stub->GetToken(&ctx, req, &t);
      ASSERT_TRUE(s.ok()) << "acknowledged token " << id << " (" << request_id
                          << ") lost: " << s.error_message();
      EXPECT_EQ(t.request_id(), request_id);
      ++checked_tokens;
      if (revoked.count(id) > 0) {
        EXPECT_EQ(t.state(), v1::TOKEN_STATE_REVOKED)
            << "acknowledged revocation of " << id << " lost";
        ++checked_revocations;
      }
    }
  };

  Ledger previous;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string address = (*server)->address();
    if (round == 0) {
      creds = Bootstrap(address, data_);
      ASSERT_FALSE(creds.issuer_key.empty());
    } else {
      verify(address, previous);
      if (HasFatalFailure()) return;
    }

    Ledger ledger;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < kClientThreads; ++t) {
      clients.emplace_back(ClientLoop, address, creds.issuer_key, round, t,
                           rng(), std::cref(stop), &ledger);
    }
    // SIGKILL at a random moment while the clients write.
    const int delay_ms = 150 + static_cast<int>(rng() % 1100);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    (*server)->Kill();
    stop = true;
    for (std::thread& t : clients) t.join();

    absl::StatusOr<std::string> integrity =
        IntegrityCheckReadOnly(data_ + "/" + kDbFile);
    ASSERT_TRUE(integrity.ok()) << integrity.status();
    EXPECT_EQ(*integrity, "ok") << "round " << round;

    std::printf(
        "round %d: killed after %d ms, %zu tokens and %zu revocations "
        "acknowledged, %zu requests unanswered\n",
        round, delay_ms, ledger.tokens.size(), ledger.revoked.size(),
        ledger.pending.size());
    all_tokens.insert(all_tokens.end(), ledger.tokens.begin(),
                      ledger.tokens.end());
    all_revoked.insert(ledger.revoked.begin(), ledger.revoked.end());
    pending = ledger.pending;
    previous.tokens = ledger.tokens;
    previous.revoked = ledger.revoked;
  }

  // The last restart: the last round's writes, then everything at once.
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  verify((*server)->address(), previous);
  if (HasFatalFailure()) return;

  std::map<std::string, v1::Token> listed;
  std::map<std::string, int> per_request_id;
  auto stub = v1::TokenService::NewStub(NewChannel((*server)->address()));
  v1::ListTokensRequest list;
  list.set_tag("kill-test");
  list.set_page_size(1000);
  while (true) {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds.issuer_key);
    v1::ListTokensResponse page;
    grpc::Status s = stub->ListTokens(&ctx, list, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const v1::Token& t : page.tokens()) {
      EXPECT_TRUE(listed.emplace(t.id(), t).second)
          << "listed twice: " << t.id();
      ++per_request_id[t.request_id()];
    }
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  for (const auto& [id, request_id] : all_tokens) {
    auto it = listed.find(id);
    ASSERT_NE(it, listed.end()) << "acknowledged token " << id << " missing";
    EXPECT_EQ(it->second.request_id(), request_id);
    if (all_revoked.count(id) > 0) {
      EXPECT_EQ(it->second.state(), v1::TOKEN_STATE_REVOKED) << id;
    }
  }
  for (const auto& [request_id, n] : per_request_id) {
    EXPECT_EQ(n, 1) << "request_id " << request_id << " gave " << n
                    << " tokens";
  }
  EXPECT_EQ((*server)->Terminate(), 0);
  absl::StatusOr<std::string> integrity =
      IntegrityCheckReadOnly(data_ + "/" + kDbFile);
  ASSERT_TRUE(integrity.ok()) << integrity.status();
  EXPECT_EQ(*integrity, "ok");
  EXPECT_GT(all_tokens.size(), 0u);
  std::printf(
      "SIGKILL rounds: %d; acknowledged tokens checked after restart: %lld "
      "(%zu distinct), acknowledged revocations checked: %lld (%zu distinct), "
      "unanswered requests retried by request_id: %lld, tokens listed: %zu\n",
      kRounds, static_cast<long long>(checked_tokens), all_tokens.size(),
      static_cast<long long>(checked_revocations), all_revoked.size(),
      static_cast<long long>(retried), listed.size());
}

TEST_F(ServerFaultTest, DeadlineExpiredDuringIssueThenRetriedGivesOneToken) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  const Credentials creds = Bootstrap(address, data_);

  // Background writers keep the group commit busy, so that deadlines also
  // expire while the server works on the request.
  std::atomic<bool> stop{false};
  Ledger background;
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back(ClientLoop, address, creds.issuer_key, 99, 100 + t,
                         uint64_t{7} + t, std::cref(stop), &background);
  }

  auto stub = v1::TokenService::NewStub(NewChannel(address));
  auto count_tagged = [&](const std::string& tag,
                          std::vector<v1::Token>* out) -> int {
    grpc::ClientContext ctx;
    Prepare(&ctx, creds.issuer_key);
    v1::ListTokensRequest list;
    list.set_tag(tag);
    v1::ListTokensResponse page;
    grpc::Status s = stub->ListTokens(&ctx, list, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out != nullptr) out->assign(page.tokens().begin(), page.tokens().end());
    return page.tokens_size();
  };

  int sequences_with_expiry = 0, expired_attempts = 0,
      committed_but_unanswered = 0;
  constexpr int kSequences = 20;
  for (int seq = 0; seq < kSequences; ++seq) {
    const std::string request_id = absl::StrCat("deadline-", seq);
    const std::string tag = absl::StrCat("dl-", seq);
    v1::IssueTokenRequest req = IssueRequest(0, request_id);
    req.mutable_spec()->set_tag(tag);
    std::string id;
    bool expired = false, seen_committed = false;
    for (int64_t us = 50 + seq * 37; id.empty(); us *= 2) {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key,
              std::chrono::microseconds(std::min<int64_t>(us, 10'000'000)));
      v1::IssueTokenResponse resp;
      grpc::Status s = stub->IssueToken(&ctx, req, &resp);
      if (s.ok()) {
        id = resp.token().id();
        break;
      }
      ASSERT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
          << s.error_message();
      ++expired_attempts;
      expired = true;
      if (!seen_committed && count_tagged(tag, nullptr) == 1) {
        seen_committed = true;  // the server finished after the client left
      }
      ASSERT_LT(us, 20'000'000) << "IssueToken never completed";
    }
    sequences_with_expiry += expired ? 1 : 0;
    committed_but_unanswered += seen_committed ? 1 : 0;
    // One more retry after success: the same token.
    {
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      ASSERT_TRUE(stub->IssueToken(&ctx, req, &resp).ok());
      EXPECT_EQ(resp.token().id(), id);
    }
    std::vector<v1::Token> tokens;
    ASSERT_EQ(count_tagged(tag, &tokens), 1) << request_id;
    EXPECT_EQ(tokens[0].id(), id);
    EXPECT_EQ(tokens[0].request_id(), request_id);
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  EXPECT_EQ((*server)->Terminate(), 0);
  std::printf(
      "deadline retries: %d sequences, %d with an expired deadline (%d "
      "attempts expired; in %d the server had committed the token before the "
      "retry), each ended with exactly one token\n",
      kSequences, sequences_with_expiry, expired_attempts,
      committed_but_unanswered);
  // The first deadlines (50 us upward) cannot be met by a durable write.
  EXPECT_GT(sequences_with_expiry, 0);
}

// ------------------------------------------------------ refusals to start

class StartupRefusalTest : public ServerFaultTest {
 protected:
  // A data directory of a server that ran, created an organisation (so the
  // database holds an encrypted signing key) and issued a token, then
  // stopped cleanly.
  void Populate() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    const Credentials creds = Bootstrap((*server)->address(), data_);
    {
      auto stub = v1::TokenService::NewStub(NewChannel((*server)->address()));
      grpc::ClientContext ctx;
      Prepare(&ctx, creds.issuer_key);
      v1::IssueTokenResponse resp;
      ASSERT_TRUE(
          stub->IssueToken(&ctx, IssueRequest(0, "populate"), &resp).ok());
    }
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ((*server)->Terminate(), 0);
    std::printf("terminate took %lld ms\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count()));
  }

  // Runs the binary on data_ (after `mutate` changed it) and expects a
  // refusal: non-zero exit, nothing on stdout, exactly one line on stderr,
  // naming `expect_in_line`, and not one byte changed below data_.
  void ExpectRefusal(const std::string& what, const std::string& expect_in_line,
                     std::vector<std::string> extra_args = {},
                     std::string listen = "127.0.0.1:0") {
    SCOPED_TRACE(what);
    const std::string before = DigestTree(data_);
    std::vector<std::string> args = {"--listen", listen, "--data-dir", data_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const ProcessResult r =
        RunToCompletion(TA_SERVER_BINARY, args, absl::Seconds(10));
    EXPECT_FALSE(r.timed_out) << "the server started: " << r.out;
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
        << "stderr: " << r.err;
    EXPECT_THAT(r.err, StartsWith("token-authority: "));
    if (!expect_in_line.empty()) {
      EXPECT_THAT(absl::AsciiStrToLower(r.err),
                  HasSubstr(absl::AsciiStrToLower(expect_in_line)));
    }
    EXPECT_EQ(DigestTree(data_), before) << "the data directory changed";
    std::printf("%s -> exit %d: %s", what.c_str(), r.exit_code, r.err.c_str());
  }

  std::string Db() const { return data_ + "/" + kDbFile; }
};

void Overwrite(const std::string& path, size_t offset,
               const std::string& data) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

TEST_F(StartupRefusalTest, CorruptDatabaseHeader) {
  Populate();
  Overwrite(Db(), 0, "this is garbage!");
  ExpectRefusal("database header overwritten", "database");
}

TEST_F(StartupRefusalTest, CorruptSchemaPage) {
  Populate();
  std::mt19937 rng(1);
  std::string junk(4000, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  Overwrite(Db(), 100, junk);
  ExpectRefusal("schema page overwritten", "database");
}

TEST_F(StartupRefusalTest, CorruptDataPage) {
  Populate();
  const auto size = std::filesystem::file_size(Db());
  ASSERT_GE(size, 3u * 4096u);
  std::mt19937 rng(2);
  // Every page after the schema page.
  for (size_t off = 4096; off + 4096 <= size; off += 4096) {
    std::string junk(4096, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    Overwrite(Db(), off, junk);
  }
  ExpectRefusal("data pages overwritten", "database");
}

TEST_F(StartupRefusalTest, TruncatedDatabase) {
  Populate();
  std::filesystem::resize_file(Db(), 1000);
  ExpectRefusal("database truncated to 1000 bytes", "database");
}

TEST_F(StartupRefusalTest, NotADatabase) {
  Populate();
  WriteFile(Db(), "hello, I am a text file and not a database at all\n");
  ExpectRefusal("text file as database", "database");
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// BUG (storage/schema.cc Migrate / SqliteTokenStore::Open): a SQLite file of
// another application with user_version 0 (SQLite's default) is taken for a
// new token-authority database: the server starts, adds its schema to the
// foreign file (and switches it to WAL), and creates kek.key and admin.key
// next to it. Expected: refuse to start ("not a token-authority database")
// when user_version is 0 but the file already holds tables, change nothing.
TEST_F(StartupRefusalTest, ForeignDatabase) {
  ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
  Sql(Db(),
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
      "INSERT INTO customers(name) VALUES ('Ada'), ('Grace');");
  ExpectRefusal("foreign SQLite database (user_version 0)", "database");
}

TEST_F(StartupRefusalTest, ForeignDatabaseWithAVersion) {
  ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
  Sql(Db(),
      "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
      "PRAGMA user_version = 7;");
  ExpectRefusal("foreign SQLite database (user_version 7)", "");
}

TEST_F(StartupRefusalTest, KeyEncryptionKeyOfWrongSize) {
  Populate();
  WriteFile(data_ + "/kek.key", std::string(31, 'k'));
  ExpectRefusal("kek.key of 31 bytes", "kek.key");
}

TEST_F(StartupRefusalTest, KeyEncryptionKeyIsADirectory) {
  Populate();
  std::filesystem::remove(data_ + "/kek.key");
  ASSERT_EQ(::mkdir((data_ + "/kek.key").c_str(), 0700), 0);
  ExpectRefusal("kek.key is a directory", "kek.key");
}

TEST_F(StartupRefusalTest, WrongKeyEncryptionKey) {
  Populate();
  std::string other(32, '\0');
  std::mt19937 rng(3);
  for (char& c : other) c = static_cast<char>(rng());
  WriteFile(data_ + "/kek.key", other);
  ExpectRefusal("another 32-byte kek.key", "key");
}

TEST_F(StartupRefusalTest, MissingKeyEncryptionKey) {
  Populate();
  std::filesystem::remove(data_ + "/kek.key");
  ExpectRefusal("kek.key missing", "kek.key");
}

TEST_F(StartupRefusalTest, UnreadableKeyEncryptionKey) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "running as root: file modes do not stop reading (the "
                    "other KEK cases cover an unusable key)";
  }
  Populate();
  ASSERT_EQ(::chmod((data_ + "/kek.key").c_str(), 0), 0);
  ExpectRefusal("kek.key mode 000", "kek.key");
}

// A listening socket on a free loopback port; closed by the destructor.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(StartupRefusalTest, PortInUse) {
  Populate();
  Listener busy;
  ExpectRefusal("port in use", absl::StrCat(busy.port()), {},
                absl::StrCat("127.0.0.1:", busy.port()));
}

TEST_F(StartupRefusalTest, PortInUseCreatesNoDataDirectory) {
  Listener busy;
  ASSERT_EQ(DigestTree(data_), "absent");
  ExpectRefusal("port in use, fresh data dir", absl::StrCat(busy.port()), {},
                absl::StrCat("127.0.0.1:", busy.port()));
  EXPECT_FALSE(std::filesystem::exists(data_));
}

}  // namespace
}  // namespace token_authority::testing

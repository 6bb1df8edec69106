// AuthorityServer: start-up checks, the data directory, the bootstrap admin
// key, health (SQLite and PostgreSQL) and reflection, keepalive enforcement.
#include "server/authority_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "convert/status.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/time_scale.h"
#include "tokenauthority/v1/key_service.grpc.pb.h"

namespace token_authority::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using token_authority::testing::IsOk;
using token_authority::testing::IsOkAndHolds;
using token_authority::testing::StatusIs;
namespace v1 = ::tokenauthority::v1;

std::string MakeTempDir() {
  char tmpl[] = "/tmp/ta-server-test-XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl), nullptr);
  return tmpl;
}

// Every file under `dir` with its size and modification time, to show that
// a failed start changed nothing.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st;
    ::stat(e.path().c_str(), &st);
    std::ifstream in(e.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)),
                        std::istreambuf_iterator<char>());
    out[e.path().filename().string()] = absl::StrCat(
        st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
        std::hash<std::string>()(content));
  }
  return out;
}

AuthorityServerOptions Options(const std::string& dir, CallLog* log = nullptr) {
  AuthorityServerOptions o;
  o.listen = "127.0.0.1:0";
  o.data_dir = dir;
  o.blocking_threads = 4;
  static NullCallLog null_log;
  o.call_log = log != nullptr ? log : &null_log;
  return o;
}

// One generic unary call; the response bytes.
absl::StatusOr<std::string> GenericUnary(const std::string& address,
                                         const std::string& method,
                                         const std::string& request) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&context, method, req, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&resp, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  if (!cq.Next(&tag, &ok) || !ok) return absl::InternalError("cq");
  if (!status.ok()) return convert::FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) return absl::InternalError("dump");
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Sends one ServerReflectionRequest{list_services: ""} and returns the raw
// ServerReflectionResponse bytes.
absl::StatusOr<std::string> ListServicesByReflection(
    const std::string& address) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  auto next = [&]() { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!next()) return absl::InternalError("start");
  const std::string request("\x3a\x00", 2);  // field 7 (list_services), ""
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  if (!next()) return absl::InternalError("write");
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  if (!next()) return absl::InternalError("read");
  call->WritesDone(reinterpret_cast<void*>(4));
  next();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next();
  std::vector<grpc::Slice> slices;
  if (!resp.Dump(&slices).ok()) return absl::InternalError("dump");
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

class AuthorityServerTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(AuthorityServerTest, FirstStartCreatesTheDataDirAndAdminKey) {
  const std::string data = dir_ + "/var";
  ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(Options(data)));
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), absl::StrCat("127.0.0.1:", server->port()));
  EXPECT_TRUE(server->admin_key_created());
  EXPECT_EQ(server->admin_key_path(), data + "/admin.key");
  struct stat st;
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  for (const char* f : {"admin.key", "kek.key"}) {
    ASSERT_EQ(::stat((data + "/" + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600) << f;
  }
  EXPECT_EQ(::stat((data + "/token-authority.db").c_str(), &st), 0);
  ASSERT_OK_AND_ASSIGN(std::string secret, ReadSmallFile(data + "/admin.key"));
  ASSERT_FALSE(secret.empty());
  secret.pop_back();  // newline
  ASSERT_OK_AND_ASSIGN(Caller admin,
                       server->authority()->Authenticate(secret, ""));
  EXPECT_EQ(admin.role, ApiKeyRole::kAdmin);

  // A later start reuses everything.
  server->Shutdown(absl::Seconds(1));
  server.reset();
  ASSERT_OK_AND_ASSIGN(server, AuthorityServer::Start(Options(data)));
  EXPECT_FALSE(server->admin_key_created());
  EXPECT_TRUE(server->admin_key_file_exists());
  EXPECT_OK(server->authority()->Authenticate(secret, "").status());
  // Without the file, and with an admin key in the database: none is made.
  server.reset();
  ASSERT_EQ(::unlink((data + "/admin.key").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(server, AuthorityServer::Start(Options(data)));
  EXPECT_FALSE(server->admin_key_created());
  EXPECT_FALSE(server->admin_key_file_exists());
}

TEST_F(AuthorityServerTest, PortInUseFailsBeforeTouchingTheDisk) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  AuthorityServerOptions o = Options(dir_ + "/never");
  o.listen = absl::StrCat("127.0.0.1:", port);
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("127.0.0.1:", port))));
  // The metrics endpoint's port too.
  o.listen = "127.0.0.1:0";
  o.metrics_listen = absl::StrCat("127.0.0.1:", port);
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("127.0.0.1:", port))));
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/never").c_str(), &st), 0);
  ::close(fd);
}

TEST_F(AuthorityServerTest, BadOptions) {
  AuthorityServerOptions o = Options(dir_);
  o.listen = "no-port";
  EXPECT_THAT(
      AuthorityServer::Start(o),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listen")));
  o.listen = "127.0.0.1:99999";
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kInvalidArgument));
  o = Options(dir_);
  o.metrics_listen = "9464";
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("metrics-listen: \"9464\" is not host:port")));
  o = Options(dir_);
  o.tls_key_pem = "key";
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls")));
  // Both given but not PEM: named before anything is written (the
  // key-does-not-match case is tls_binary_e2e_test's, with real keys).
  o.tls_cert_pem = "cert";
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tls-cert: not a PEM certificate")));
  o = Options(dir_ + "/file");
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_THAT(AuthorityServer::Start(o),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a directory")));
}

TEST_F(AuthorityServerTest, CorruptDatabaseRefusesToStartAndChangesNothing) {
  { ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(Options(dir_))); }
  // Overwrite the middle of the database with garbage.
  const std::string db = dir_ + "/token-authority.db";
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << std::string(100, '\xAB');
  }
  const auto before = Snapshot(dir_);
  EXPECT_THAT(AuthorityServer::Start(Options(dir_)), Not(IsOk()));
  EXPECT_EQ(Snapshot(dir_), before);
}

TEST_F(AuthorityServerTest, WrongKekRefusesToStartAndChangesNothing) {
  { ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(Options(dir_))); }
  {
    std::ofstream f(dir_ + "/kek.key", std::ios::binary | std::ios::trunc);
    f << std::string(32, 'k');
  }
  const auto before = Snapshot(dir_);
  EXPECT_THAT(AuthorityServer::Start(Options(dir_)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Snapshot(dir_), before);
  // A missing KEK with keys in the database: refused, and not recreated.
  ASSERT_EQ(::unlink((dir_ + "/kek.key").c_str()), 0);
  const auto without = Snapshot(dir_);
  EXPECT_THAT(AuthorityServer::Start(Options(dir_)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Snapshot(dir_), without);
}

// Whether `log` gets a line containing `text` within 5 s (interceptor lines
// are written when gRPC destroys the call, just after the client's answer).
bool LogGets(const MemoryCallLog& log, const std::string& text) {
  for (int i = 0; i < 500; ++i) {
    if (log.Contents().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(AuthorityServerTest, HealthAndReflectionAreServed) {
  MemoryCallLog log;
  ASSERT_OK_AND_ASSIGN(auto server,
                       AuthorityServer::Start(Options(dir_, &log)));
  // HealthCheckRequest{service: ""} is empty; SERVING is {status: 1}.
  ASSERT_OK_AND_ASSIGN(
      std::string health,
      GenericUnary(server->address(), "/grpc.health.v1.Health/Check", ""));
  EXPECT_EQ(health, std::string("\x08\x01", 2));
  ASSERT_OK_AND_ASSIGN(std::string services,
                       ListServicesByReflection(server->address()));
  for (const char* name :
       {"tokenauthority.v1.TokenService", "tokenauthority.v1.KeyService",
        "tokenauthority.v1.AuditService", "tokenauthority.v1.AdminService",
        "grpc.health.v1.Health"}) {
    EXPECT_THAT(services, HasSubstr(name));
  }
  // An unknown method (gRPC answers it; its name lives in the call's
  // context, which goes before the interceptor does).
  const std::string unknown =
      "/example.NoSuchService/AMethodNameLongerThanTheInlineBuffer";
  EXPECT_THAT(GenericUnary(server->address(), unknown, ""),
              StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_TRUE(
      LogGets(log, "method=" + unknown.substr(1) + " org=- code=UNIMPLEMENTED"))
      << log.Contents();
  // Both are in the call log like every other call.
  EXPECT_TRUE(LogGets(log, "method=grpc.health.v1.Health/Check org=- code=OK"))
      << log.Contents();
  EXPECT_TRUE(LogGets(log,
                      "method=grpc.reflection.v1alpha.ServerReflection/"
                      "ServerReflectionInfo org=- code=OK"))
      << log.Contents();
}

// grpc.health.v1 answers for the whole server: SERVING is {status: 1},
// NOT_SERVING {status: 2}.
absl::StatusOr<std::string> HealthStatus(const std::string& address) {
  return GenericUnary(address, "/grpc.health.v1.Health/Check", "");
}
constexpr absl::string_view kServing("\x08\x01", 2);
constexpr absl::string_view kNotServing("\x08\x02", 2);

// Polls the health check until it answers `want` or 60 s (scaled) passed.
bool HealthBecomes(const std::string& address, absl::string_view want) {
  const absl::Time deadline =
      absl::Now() + token_authority::testing::Scaled(absl::Seconds(60));
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> got = HealthStatus(address);
    if (got.ok() && *got == want) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// A replica on PostgreSQL: NOT_SERVING while its cluster is down (the
// writer's connection is lost), SERVING again once it is back, without a
// restart of the replica.
TEST_F(AuthorityServerTest, PostgresHealthFollowsTheDatabase) {
  // Its own cluster: the test stops it.
  ASSERT_OK_AND_ASSIGN(auto pg,
                       token_authority::testing::PostgresCluster::Start());
  ASSERT_OK_AND_ASSIGN(std::string db, pg->CreateDatabase());
  AuthorityServerOptions o = Options(dir_);
  o.database_url = pg->Url(db);
  o.store_health_interval = absl::Milliseconds(50);
  ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(o));
  EXPECT_THAT(HealthStatus(server->address()),
              IsOkAndHolds(std::string(kServing)));
  EXPECT_TRUE(server->store_serving());

  ASSERT_OK(pg->Stop("immediate"));
  EXPECT_TRUE(HealthBecomes(server->address(), kNotServing))
      << "still SERVING 60 s after the cluster stopped";
  EXPECT_FALSE(server->store_serving());
  EXPECT_THAT(server->store_problem(), HasSubstr("the store cannot write"));

  ASSERT_OK(pg->Restart());
  EXPECT_TRUE(HealthBecomes(server->address(), kServing))
      << "not SERVING 60 s after the cluster came back";
  EXPECT_TRUE(server->store_serving());
  EXPECT_EQ(server->store_problem(), "");
}

TEST_F(AuthorityServerTest, OneLogLinePerCall) {
  MemoryCallLog log;
  ASSERT_OK_AND_ASSIGN(auto server,
                       AuthorityServer::Start(Options(dir_, &log)));
  auto stub = v1::KeyService::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer nope");
    context.AddMetadata("x-request-id", absl::StrCat("probe-", i));
    v1::GetJwksResponse resp;
    EXPECT_EQ(stub->GetJwks(&context, v1::GetJwksRequest(), &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  const std::string lines = log.Contents();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3);
  EXPECT_THAT(lines, HasSubstr("method=KeyService/GetJwks org=- "
                               "code=UNAUTHENTICATED"));
  EXPECT_THAT(lines, HasSubstr("request_id=probe-2"));
  EXPECT_THAT(lines, Not(HasSubstr("nope")));
}

TEST_F(AuthorityServerTest, ShutdownIsIdempotentAndRefusesNewCalls) {
  ASSERT_OK_AND_ASSIGN(auto server, AuthorityServer::Start(Options(dir_)));
  const std::string address = server->address();
  server->Shutdown(absl::Seconds(1));
  server->Shutdown(absl::Seconds(1));
  EXPECT_THAT(GenericUnary(address, "/grpc.health.v1.Health/Check", ""),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace token_authority::server

// The load generation shared by the gRPC load programs (server_load,
// replica_bench): the token-authority binary as a child process, the set-up
// of organisations and keys with the admin key, many calls in flight through
// the callback API of generic stubs (prebuilt request bytes, as h2load would
// send them), and what a phase measured (requests/s, latency percentiles,
// CPU time of the machine, the servers and this process).
#ifndef BENCH_LOAD_DRIVER_H_
#define BENCH_LOAD_DRIVER_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "google/protobuf/message_lite.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"

namespace ta_bench {

using Clock = std::chrono::steady_clock;

// Prints "<program>: <message>" to stderr and exits 1.
[[noreturn]] void Die(const std::string& message);

// --- The server child -------------------------------------------------------

struct ServerChild {
  pid_t pid = -1;
  std::string address;    // 127.0.0.1:<port>
  std::string root;       // a temporary directory, removed by StopServer
  std::string data_dir;   // root + "/var"
  std::string admin_key;  // "" if this server did not write one
};

// Starts `binary --listen 127.0.0.1:0 --data-dir <tmp>/var extra_args...`
// with its stderr (the call log) to /dev/null; waits up to 30 s for its start
// line and reads the admin key it wrote, if any. Dies on failure.
ServerChild StartServer(const std::string& binary,
                        const std::vector<std::string>& extra_args = {});
// SIGTERM, SIGKILL after 30 s; removes the temporary directory.
void StopServer(ServerChild& child);
// The first line of the file at `path` without trailing blanks ("" if it
// cannot be read): an admin key file.
std::string ReadKeyFile(const std::string& path);

// --- Set-up with blocking calls ---------------------------------------------

// A 30 s deadline, as production callers' calls carry one.
void SetDeadline(grpc::ClientContext* context);
// "authorization: Bearer <key>", "x-organization-id" if `org` is set, and
// the deadline.
void Authorize(grpc::ClientContext* context, const std::string& key,
               const std::string& org = "");
// Dies with `what` and the status's message unless it is OK.
void Check(const grpc::Status& status, const char* what);

struct Fixture {
  std::string es_org, hs_org;
  std::string issuer_key;  // of es_org
  std::string verifier_key;
  std::string es_jwt, hs_jwt;  // one token of each organisation
};

// Two organisations (ES256 primary key; HS256 after a rotation), an issuer
// key of the first, a service-wide verifier key and one token of each.
Fixture SetUpFixture(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& admin_key);

// --- Calls -------------------------------------------------------------------

// One call of a phase: starts the RPC on channel `channel_index` and calls
// `done(ok)` when it ends.
using StartCall = std::function<void(size_t channel_index,
                                     std::function<void(bool ok)> done)>;

// `message` serialized once, to send as it is on many calls.
grpc::ByteBuffer Serialized(const google::protobuf::MessageLite& message);

// Parses a reply; false if it is not a `Message`.
template <typename Message>
bool Parse(const grpc::ByteBuffer& reply, Message* message) {
  grpc::ByteBuffer copy(reply);  // Deserialize consumes its buffer
  return grpc::SerializationTraits<Message>::Deserialize(&copy, message).ok();
}

// Calls through generic stubs, one per channel (not owned; they outlive the
// calls). `body()` gives the next call's request; `key` (if set) goes in
// "authorization: Bearer"; `check` says whether the reply is right.
StartCall GenericCall(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    std::string method, std::function<const grpc::ByteBuffer&()> body,
    std::string key, std::function<bool(const grpc::ByteBuffer&)> check);
// A VerifyTokenRequest for stream "cam1".
grpc::ByteBuffer VerifyBody(const std::string& jwt, const std::string& org);
// VerifyToken of `bodies` in turn (not owned), each answer must be allowed.
StartCall VerifyCalls(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    const std::vector<grpc::ByteBuffer>* bodies,
    const std::string& verifier_key);
// IssueToken of `body` (not owned); `keep` (if set) gets each JWT.
StartCall IssueCalls(
    const std::vector<std::unique_ptr<grpc::GenericStub>>* stubs,
    const grpc::ByteBuffer* body, const std::string& issuer_key,
    std::function<void(const std::string&)> keep);

// --- Measuring ---------------------------------------------------------------

// CPU time in ticks: the machine's from the first line of /proc/stat (all
// of it, the idle part (idle + iowait) and the part the hypervisor gave to
// others (steal)), and that of the server processes (summed) and of this
// one (user + system, from /proc/<pid>/stat). Zero where a file cannot be
// read.
struct CpuTicks {
  int64_t total = 0, idle = 0, steal = 0;
  int64_t server = 0, client = 0;
  static CpuTicks Now(const std::vector<pid_t>& servers);
  CpuTicks operator-(const CpuTicks& o) const;
  void operator+=(const CpuTicks& o);
  double Percent(int64_t part) const {
    return total > 0 ? 100.0 * part / total : 0;
  }
  // Microseconds of CPU per call; 0 without calls.
  static double PerCall(int64_t ticks, int64_t calls);
};

// utime + stime of /proc/<pid>/stat, or of /proc/<pid>/task/<tid>/stat.
int64_t ProcessTicks(const std::string& stat_path);

// What one phase measured, summed over its rounds.
struct PhaseResult {
  std::string name;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_us;  // one per completed call
  std::vector<double> round_rps;     // requests/s of each round
  CpuTicks cpu;                      // while it ran
  int64_t completed() const {
    return static_cast<int64_t>(latencies_us.size());
  }
  double rps() const { return seconds > 0 ? completed() / seconds : 0; }
  // The p-th percentile of the latencies (sorts them).
  double Percentile(int p);
  void Add(const PhaseResult& round);
};

struct DriverOptions {
  int channels = 4;  // a call on slot s goes to channel s % channels
  int in_flight = 256;
};

// Runs one phase: `start` for each call, `in_flight` calls at a time.
class Driver {
 public:
  Driver(DriverOptions options, std::vector<pid_t> server_pids, StartCall start)
      : options_(options),
        server_pids_(std::move(server_pids)),
        start_(std::move(start)) {}

  // Runs `limit` calls (or until `seconds` passed).
  PhaseResult Run(const std::string& name, int limit, double seconds);

 private:
  // Starts the next call on `slot`, or retires the slot.
  void Next(int slot);

  const DriverOptions options_;
  const std::vector<pid_t> server_pids_;  // empty: not known (--target)
  StartCall start_;
  int limit_ = 0;
  std::atomic<int> issued_{0};
  std::atomic<int64_t> errors_{0};
  std::vector<std::vector<double>> latencies_;  // per slot: no locking
  Clock::time_point start_time_, deadline_;
  std::mutex mu_;
  std::condition_variable cv_;
  int finished_ = 0;
};

}  // namespace ta_bench

#endif  // BENCH_LOAD_DRIVER_H_

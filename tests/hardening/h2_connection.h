// A raw HTTP/2 client connection for the transport attack program
// (h2_attack): libnghttp2 over a plain TCP socket, h2c with prior knowledge,
// as a hostile client would speak it. Unlike a gRPC client it lets the caller
// reset streams right after opening them, flood PINGs, advertise a tiny flow
// control window and stop reading. Loopback only; one thread drives it.
#ifndef TESTS_HARDENING_H2_CONNECTION_H_
#define TESTS_HARDENING_H2_CONNECTION_H_

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace token_authority::hardening {

struct Header {
  std::string name;
  std::string value;
};

// The 5-byte gRPC length prefix (compressed flag, big-endian length) and
// `message`.
std::string GrpcFrame(const std::string& message, bool compressed = false);

// The request headers of a gRPC call to `path` ("/pkg.Service/Method").
std::vector<Header> GrpcRequestHeaders(const std::string& authority,
                                       const std::string& path);

class H2Connection {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    // Local address to bind before connecting ("" lets the kernel choose),
    // e.g. "127.0.0.2" so that a proxy sees the attacker as another source.
    std::string source_address;
    // SETTINGS_INITIAL_WINDOW_SIZE advertised to the server; 0 keeps the
    // protocol's default (65,535).
    uint32_t initial_window_size = 0;
    // Waits up to this long for the server's SETTINGS after the preface, so
    // that its limits (MAX_CONCURRENT_STREAMS) apply to what is sent next.
    std::chrono::milliseconds settings_wait{500};
  };

  // Connects and sends the preface and SETTINGS.
  static absl::StatusOr<std::unique_ptr<H2Connection>> Connect(
      const Options& options);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Queues a request with `headers` and `body` as DATA ending the stream.
  // Returns the stream id, or a negative nghttp2 error (e.g. the server sent
  // GOAWAY, or stream ids are exhausted).
  int32_t SubmitRequest(const std::vector<Header>& headers,
                        std::shared_ptr<const std::string> body);
  // Queues RST_STREAM(CANCEL) for `stream_id`.
  void SubmitReset(int32_t stream_id);
  // Queues one PING.
  void SubmitPing();

  // Serialises every queued frame the session may send now (flow control
  // and the server's stream limit permitting) into the output buffer.
  bool Serialize();
  // Writes the output buffer, waiting up to `wait` for the socket to take
  // it. Returns false once the connection is gone.
  bool Flush(std::chrono::milliseconds wait);
  // Reads whatever arrives within `wait` (zero: only what is there already),
  // feeds it to the session, then serialises and flushes what the session
  // answers (SETTINGS and PING acknowledgements, WINDOW_UPDATE). Returns
  // false once the connection is gone.
  bool Receive(std::chrono::milliseconds wait);

  bool alive() const { return alive_; }
  bool goaway_received() const { return goaway_received_; }
  size_t unsent_bytes() const { return out_.size() - out_offset_; }
  // Streams submitted and not yet closed.
  int open_streams() const { return static_cast<int>(bodies_.size()); }
  int32_t remote_window() const;
  // Frames (and request HEADERS) serialised for the socket.
  int64_t frames_sent() const { return frames_sent_; }
  int64_t streams_sent() const { return streams_sent_; }
  // The grpc-status values seen in responses ("grpc-status N") and HTTP
  // statuses other than 200 ("http N"), with their counts.
  const std::map<std::string, int64_t>& statuses() const { return statuses_; }

 private:
  struct Body {
    std::shared_ptr<const std::string> data;
    size_t offset = 0;
  };
  struct SessionDeleter {
    void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
  };

  H2Connection() = default;
  void Fail() { alive_ = false; }

  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id,
                          uint8_t* buf, size_t length, uint32_t* data_flags,
                          nghttp2_data_source* source, void* user_data);
  static int OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame,
                         void* user_data);
  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame,
                         void* user_data);
  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t flags, void* user_data);
  static int OnStreamClose(nghttp2_session* session, int32_t stream_id,
                           uint32_t error_code, void* user_data);

  int fd_ = -1;
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  std::string out_;
  size_t out_offset_ = 0;
  bool alive_ = true;
  bool goaway_received_ = false;
  bool settings_received_ = false;
  int64_t frames_sent_ = 0;
  int64_t streams_sent_ = 0;
  std::unordered_map<int32_t, Body> bodies_;
  std::map<std::string, int64_t> statuses_;
};

}  // namespace token_authority::hardening

#endif  // TESTS_HARDENING_H2_CONNECTION_H_

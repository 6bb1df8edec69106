#include "tests/hardening/h2_connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace token_authority::hardening {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

nghttp2_nv Nv(const Header& h) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(h.name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(h.value.data())),
          h.name.size(), h.value.size(), NGHTTP2_NV_FLAG_NONE};
}

absl::StatusOr<sockaddr_in> Ipv4(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", host));
  }
  return addr;
}

// A connected, non-blocking TCP socket (TCP_NODELAY), or an error.
absl::StatusOr<int> Dial(const H2Connection::Options& o) {
  auto remote = Ipv4(o.host, o.port);
  if (!remote.ok()) return remote.status();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  auto fail = [fd](const std::string& what) {
    const std::string message = absl::StrCat(what, ": ", std::strerror(errno));
    ::close(fd);
    return absl::UnavailableError(message);
  };
  if (!o.source_address.empty()) {
    auto local = Ipv4(o.source_address, 0);
    if (!local.ok()) {
      ::close(fd);
      return local.status();
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&*local),
               sizeof(*local)) != 0) {
      return fail("bind " + o.source_address);
    }
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*remote),
                sizeof(*remote)) != 0) {
    return fail(absl::StrCat("connect ", o.host, ":", o.port));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

std::string GrpcFrame(const std::string& message, bool compressed) {
  std::string out(5, '\0');
  out[0] = compressed ? 1 : 0;
  const uint32_t n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + message;
}

std::vector<Header> GrpcRequestHeaders(const std::string& authority,
                                       const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":authority", authority},
          {":path", path},
          {"content-type", "application/grpc"},
          {"te", "trailers"},
          {"user-agent", "ta-h2-attack"}};
}

absl::StatusOr<std::unique_ptr<H2Connection>> H2Connection::Connect(
    const Options& options) {
  auto fd = Dial(options);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<H2Connection> c(new H2Connection());
  c->fd_ = *fd;

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &OnFrameSend);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &OnFrameRecv);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &OnHeader);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &OnStreamClose);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Closed streams are forgotten at once (rapid reset closes many).
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_session* session = nullptr;
  const int rv = nghttp2_session_client_new2(&session, cbs, c.get(), opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return absl::InternalError(nghttp2_strerror(rv));
  c->session_.reset(session);

  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  if (options.initial_window_size > 0) {
    settings.push_back(
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options.initial_window_size});
  }
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings.data(),
                          settings.size());
  if (!c->Serialize() || !c->Flush(milliseconds(1000))) {
    return absl::UnavailableError("could not send the HTTP/2 preface");
  }
  const auto until = Clock::now() + options.settings_wait;
  while (!c->settings_received_ && c->alive_ && Clock::now() < until) {
    c->Receive(std::chrono::duration_cast<milliseconds>(until - Clock::now()));
  }
  if (!c->alive_) return absl::UnavailableError("closed during the preface");
  return c;
}

H2Connection::~H2Connection() {
  session_.reset();
  if (fd_ >= 0) ::close(fd_);
}

int32_t H2Connection::SubmitRequest(const std::vector<Header>& headers,
                                    std::shared_ptr<const std::string> body) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (const Header& h : headers) nva.push_back(Nv(h));
  nghttp2_data_provider provider{};
  provider.read_callback = &ReadBody;
  const int32_t id = nghttp2_submit_request(session_.get(), nullptr, nva.data(),
                                            nva.size(), &provider, nullptr);
  if (id > 0) bodies_[id] = Body{std::move(body), 0};
  return id;
}

void H2Connection::SubmitReset(int32_t stream_id) {
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id,
                            NGHTTP2_CANCEL);
}

void H2Connection::SubmitPing() {
  nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr);
}

int32_t H2Connection::remote_window() const {
  return nghttp2_session_get_remote_window_size(session_.get());
}

bool H2Connection::Serialize() {
  if (!alive_) return false;
  while (true) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n < 0) {
      Fail();
      return false;
    }
    if (n == 0) return true;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

bool H2Connection::Flush(milliseconds wait) {
  const auto until = Clock::now() + wait;
  while (alive_ && unsent_bytes() > 0) {
    const ssize_t n = ::send(fd_, out_.data() + out_offset_, unsent_bytes(),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_offset_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    Fail();
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > (1 << 20)) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  return alive_;
}

bool H2Connection::Receive(milliseconds wait) {
  if (!alive_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return alive_;
  char buf[64 * 1024];
  // At most 4 MiB per call, so that a busy server does not starve the
  // caller's sending.
  for (int reads = 0; alive_ && reads < 64; ++reads) {
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      Fail();
      break;
    }
    if (nghttp2_session_mem_recv(session_.get(),
                                 reinterpret_cast<const uint8_t*>(buf),
                                 static_cast<size_t>(n)) < 0) {
      Fail();
    }
  }
  if (alive_ && Serialize()) Flush(milliseconds(0));
  return alive_;
}

ssize_t H2Connection::ReadBody(nghttp2_session*, int32_t stream_id,
                               uint8_t* buf, size_t length,
                               uint32_t* data_flags, nghttp2_data_source*,
                               void* user_data) {
  auto* self = static_cast<H2Connection*>(user_data);
  auto it = self->bodies_.find(stream_id);
  if (it == self->bodies_.end() || it->second.data == nullptr) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  Body& body = it->second;
  const size_t n = std::min(length, body.data->size() - body.offset);
  std::memcpy(buf, body.data->data() + body.offset, n);
  body.offset += n;
  if (body.offset == body.data->size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int H2Connection::OnFrameSend(nghttp2_session*, const nghttp2_frame* frame,
                              void* user_data) {
  auto* self = static_cast<H2Connection*>(user_data);
  ++self->frames_sent_;
  if (frame->hd.type == NGHTTP2_HEADERS &&
      frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ++self->streams_sent_;
  }
  return 0;
}

int H2Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                              void* user_data) {
  auto* self = static_cast<H2Connection*>(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) self->goaway_received_ = true;
  if (frame->hd.type == NGHTTP2_SETTINGS &&
      (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
    self->settings_received_ = true;
  }
  return 0;
}

int H2Connection::OnHeader(nghttp2_session*, const nghttp2_frame*,
                           const uint8_t* name, size_t namelen,
                           const uint8_t* value, size_t valuelen, uint8_t,
                           void* user_data) {
  auto* self = static_cast<H2Connection*>(user_data);
  const std::string n(reinterpret_cast<const char*>(name), namelen);
  const std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == "grpc-status") {
    ++self->statuses_["grpc-status " + v];
  } else if (n == ":status" && v != "200") {
    ++self->statuses_["http " + v];
  }
  return 0;
}

int H2Connection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                                void* user_data) {
  static_cast<H2Connection*>(user_data)->bodies_.erase(stream_id);
  return 0;
}

}  // namespace token_authority::hardening

// Bytes of serialized replies handed to gRPC but not yet taken by their
// client, per connection and for the whole server. A client that stops
// reading (a "slow reader") leaves its replies in the server's memory until
// HTTP/2 flow control lets them out; this bounds how much it can pin.
#ifndef SERVER_REPLY_BACKLOG_H_
#define SERVER_REPLY_BACKLOG_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"

namespace token_authority::server {

class ReplyBacklog {
 public:
  // Replies smaller than this are not counted: a connection holds at most
  // max_concurrent_streams of them, which its stream limit bounds.
  static constexpr int64_t kCountedReplyBytes = int64_t{16} * 1024;

  // Both limits > 0.
  ReplyBacklog(int64_t per_connection_limit, int64_t total_limit);
  ReplyBacklog(const ReplyBacklog&) = delete;
  ReplyBacklog& operator=(const ReplyBacklog&) = delete;

  // Holds reserved bytes until destroyed (when gRPC is done with the call).
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();

   private:
    friend class ReplyBacklog;
    Reservation(ReplyBacklog* owner, std::string connection, int64_t bytes)
        : owner_(owner), connection_(std::move(connection)), bytes_(bytes) {}
    ReplyBacklog* owner_ = nullptr;
    std::string connection_;
    int64_t bytes_ = 0;
  };

  // RESOURCE_EXHAUSTED when `connection` (gRPC's peer string, one per
  // connection) is at its limit or the server at its total, so that a call
  // is refused before doing its work.
  absl::Status CheckRoom(absl::string_view connection) const;

  // Reserves `bytes` of reply for `connection` (nothing for a reply under
  // kCountedReplyBytes). RESOURCE_EXHAUSTED, saying which limit, when the
  // bytes already waiting plus `bytes` would exceed a limit; a reply larger
  // than a limit is still let through when nothing else is waiting there.
  absl::StatusOr<Reservation> Reserve(absl::string_view connection,
                                      int64_t bytes);

  // Bytes reserved now: on `connection`, in total.
  int64_t Pending(absl::string_view connection) const;
  int64_t total() const;

 private:
  void Release(const std::string& connection, int64_t bytes);

  const int64_t per_connection_limit_;
  const int64_t total_limit_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> by_connection_ ABSL_GUARDED_BY(mu_);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace token_authority::server

#endif  // SERVER_REPLY_BACKLOG_H_

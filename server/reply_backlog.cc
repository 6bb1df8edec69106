#include "server/reply_backlog.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace token_authority::server {
namespace {

absl::Status Exhausted(absl::string_view what, int64_t pending, int64_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "reply backlog: ", pending, " bytes of replies are waiting for ", what,
      " to read them (limit ", limit,
      "); read the replies already sent, then retry"));
}

}  // namespace

ReplyBacklog::ReplyBacklog(int64_t per_connection_limit, int64_t total_limit)
    : per_connection_limit_(per_connection_limit), total_limit_(total_limit) {}

ReplyBacklog::Reservation::Reservation(Reservation&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      connection_(std::move(other.connection_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

ReplyBacklog::Reservation& ReplyBacklog::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    if (owner_ != nullptr) owner_->Release(connection_, bytes_);
    owner_ = std::exchange(other.owner_, nullptr);
    connection_ = std::move(other.connection_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

ReplyBacklog::Reservation::~Reservation() {
  if (owner_ != nullptr) owner_->Release(connection_, bytes_);
}

absl::Status ReplyBacklog::CheckRoom(absl::string_view connection) const {
  MutexLock lock(&mu_);
  auto it = by_connection_.find(connection);
  if (it != by_connection_.end() && it->second >= per_connection_limit_) {
    return Exhausted("this connection", it->second, per_connection_limit_);
  }
  if (total_ >= total_limit_) {
    return Exhausted("their clients", total_, total_limit_);
  }
  return absl::OkStatus();
}

absl::StatusOr<ReplyBacklog::Reservation> ReplyBacklog::Reserve(
    absl::string_view connection, int64_t bytes) {
  if (bytes < kCountedReplyBytes) return Reservation();
  MutexLock lock(&mu_);
  int64_t& pending = by_connection_[connection];
  if (pending > 0 && pending + bytes > per_connection_limit_) {
    return Exhausted("this connection", pending, per_connection_limit_);
  }
  if (total_ > 0 && total_ + bytes > total_limit_) {
    if (pending == 0) by_connection_.erase(connection);
    return Exhausted("their clients", total_, total_limit_);
  }
  pending += bytes;
  total_ += bytes;
  return Reservation(this, std::string(connection), bytes);
}

void ReplyBacklog::Release(const std::string& connection, int64_t bytes) {
  MutexLock lock(&mu_);
  total_ -= bytes;
  auto it = by_connection_.find(connection);
  if (it == by_connection_.end()) return;
  it->second -= bytes;
  if (it->second <= 0) by_connection_.erase(it);
}

int64_t ReplyBacklog::Pending(absl::string_view connection) const {
  MutexLock lock(&mu_);
  auto it = by_connection_.find(connection);
  return it == by_connection_.end() ? 0 : it->second;
}

int64_t ReplyBacklog::total() const {
  MutexLock lock(&mu_);
  return total_;
}

}  // namespace token_authority::server

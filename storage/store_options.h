// The options both stores share (SqliteTokenStoreOptions and
// PostgresTokenStoreOptions name them alike), checked once. Internal to
// storage/.
#ifndef STORAGE_STORE_OPTIONS_H_
#define STORAGE_STORE_OPTIONS_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"

namespace token_authority::storage {

// InvalidArgument "<field>: <what>".
inline absl::Status BadOption(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Sets the clock and randomness `o` leaves null: the real clock and the
// secure random source.
template <typename Options>
void SetDefaultSources(Options* o) {
  if (o->clock == nullptr) o->clock = &Clock::Real();
  if (o->random == nullptr) o->random = &RandomSource::Secure();
}

// The shared options of `o`: InvalidArgument naming the first bad one.
template <typename Options>
absl::Status CheckSharedOptions(const Options& o) {
  if (o.retention <= absl::ZeroDuration()) {
    return BadOption("retention", "must be positive");
  }
  if (o.sweep_interval < absl::ZeroDuration()) {
    return BadOption("sweep_interval", "must not be negative");
  }
  if (o.touch_flush_interval <= absl::ZeroDuration()) {
    return BadOption("touch_flush_interval", "must be positive");
  }
  if (o.sweep_batch_size < 1 || o.sweep_batch_size > 10000) {
    return BadOption("sweep_batch_size", "must be between 1 and 10000");
  }
  if (o.max_batch_size < 1 || o.max_batch_size > 100000) {
    return BadOption("max_batch_size", "must be between 1 and 100000");
  }
  if (o.revoke_batch_size < 1 || o.revoke_batch_size > 100000) {
    return BadOption("revoke_batch_size", "must be between 1 and 100000");
  }
  if (o.read_pool_size < 1 || o.read_pool_size > 64) {
    return BadOption("read_pool_size", "must be between 1 and 64");
  }
  if (!o.key_encryption_key.has_value() && o.key_encryption_key_path.empty()) {
    return BadOption("key_encryption_key_path",
                     "required (or give key_encryption_key)");
  }
  return absl::OkStatus();
}

}  // namespace token_authority::storage

#endif  // STORAGE_STORE_OPTIONS_H_

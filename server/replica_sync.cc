#include "server/replica_sync.h"

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "base/status_macros.h"

namespace token_authority::server {

std::unique_ptr<ReplicaSync> ReplicaSync::Start(
    storage::PostgresTokenStore* store, TokenAuthority* authority,
    int64_t start_sequence, ReplicaSyncOptions options) {
  std::unique_ptr<ReplicaSync> sync(
      new ReplicaSync(store, authority, start_sequence, options));
  ReplicaSync* self = sync.get();
  sync->loop_.Start("ta-replica-sync", options.interval,
                    [self] { (void)self->SyncOnce(); });
  sync->listener_ = store->ListenForChanges([self] { self->loop_.Wake(); });
  return sync;
}

ReplicaSync::ReplicaSync(storage::PostgresTokenStore* store,
                         TokenAuthority* authority, int64_t start_sequence,
                         ReplicaSyncOptions options)
    : store_(store),
      authority_(authority),
      options_(options),
      last_sequence_(start_sequence) {}

ReplicaSync::~ReplicaSync() { Stop(); }

void ReplicaSync::Stop() {
  listener_.reset();
  loop_.Stop();
}

int64_t ReplicaSync::last_sequence() const {
  MutexLock lock(&mu_);
  return last_sequence_;
}

absl::Status ReplicaSync::SyncOnce() {
  MutexLock lock(&mu_);
  absl::Status st = authority_->revocation_feed().CatchUp();
  while (st.ok()) {
    absl::StatusOr<std::vector<storage::ChangeEvent>> changes =
        store_->ListChangesSince(last_sequence_, options_.batch_size);
    if (!changes.ok()) {
      st = changes.status();
      break;
    }
    if (changes->empty()) break;
    st = Apply(*changes);
    if (!st.ok()) break;
    last_sequence_ = changes->back().seq;
    if (static_cast<int>(changes->size()) < options_.batch_size) break;
  }
  Report(st);
  return st;
}

absl::Status ReplicaSync::Apply(
    const std::vector<storage::ChangeEvent>& changes) {
  absl::flat_hash_set<std::string> orgs_done;
  absl::flat_hash_set<std::string> keys_done;
  for (const storage::ChangeEvent& e : changes) {
    if (e.kind == storage::ChangeKind::kApiKey) {
      if (!keys_done.insert(e.entity_id).second) continue;
      TA_RETURN_IF_ERROR(authority_->RefreshApiKey(e.entity_id));
    } else {
      if (!orgs_done.insert(e.organization_id).second) continue;
      TA_RETURN_IF_ERROR(authority_->RefreshOrganization(e.organization_id));
    }
  }
  return absl::OkStatus();
}

void ReplicaSync::Report(const absl::Status& status) {
  if (status.ok() == !failing_) return;
  failing_ = !status.ok();
  if (failing_) {
    std::cerr << "replica sync: cannot read other replicas' changes (" << status
              << "); retrying every " << absl::FormatDuration(options_.interval)
              << "\n";
  } else {
    std::cerr << "replica sync: in step with the other replicas again\n";
  }
}

}  // namespace token_authority::server

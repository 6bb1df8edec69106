#include "client/local_verifier.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/thread_name.h"
#include "client/offline_decode.h"
#include "convert/proto_convert.h"
#include "token/validation.h"

namespace token_authority::client {

namespace v1 = ::tokenauthority::v1;

namespace {

std::string RevocationKey(absl::string_view organization_id,
                          absl::string_view token_id) {
  return absl::StrCat(organization_id, "\n", token_id);
}

bool MarksDisabled(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition ||
         status.code() == absl::StatusCode::kNotFound;
}

absl::Status ValidateOptions(const LocalVerifierOptions& o) {
  if (o.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leeway: must not be negative");
  }
  if (o.reconnect_initial_backoff <= absl::ZeroDuration() ||
      o.reconnect_max_backoff < o.reconnect_initial_backoff) {
    return absl::InvalidArgumentError(
        "reconnect_initial_backoff: must be positive and at most "
        "reconnect_max_backoff");
  }
  if (o.jwks_refresh_interval <= absl::ZeroDuration() ||
      o.unknown_key_refresh_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "jwks_refresh_interval: must be positive");
  }
  return absl::OkStatus();
}

// The set used for organisations the verifier has no keys of: every token
// gets as far as the key lookup and is refused there, as the server would
// refuse it for an unknown key.
// Lowercase hex SHA-256 (OrganizationStateEvent.jwks_sha256).
std::string HexSha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::shared_ptr<const token::KeySet> EmptyKeySet() {
  absl::StatusOr<token::KeySet> set = token::KeySet::Create("unknown", {});
  return std::make_shared<const token::KeySet>(*std::move(set));
}

}  // namespace

class LocalVerifier::Hooks : public token::VerifyHooks {
 public:
  explicit Hooks(const LocalVerifier* verifier) : v_(verifier) {}

  bool IsOrganizationDisabled(
      absl::string_view organization_id) const override {
    ReaderLock lock(&v_->keys_mu_);
    return v_->disabled_.contains(organization_id) ||
           v_->state_disabled_.contains(organization_id);
  }

  bool IsRevoked(const token::Claims& claims) const override {
    const std::string key =
        RevocationKey(claims.organization_id(), claims.token_id());
    ReaderLock lock(&v_->revoked_mu_);
    return v_->revoked_.contains(key);
  }

 private:
  const LocalVerifier* v_;
};

LocalVerifier::LocalVerifier(TokenAuthorityClient* client,
                             LocalVerifierOptions options)
    : client_(client),
      options_(options),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()),
      random_(options_.random != nullptr ? *options_.random
                                         : RandomSource::Secure()),
      verifier_(token::VerifierOptions{
          options_.leeway, options_.verify_cache_entries > 0
                               ? std::make_shared<token::VerifiedTokenCache>(
                                     options_.verify_cache_entries)
                               : nullptr}),
      hooks_(std::make_unique<Hooks>(this)),
      no_keys_(EmptyKeySet()) {}

absl::StatusOr<std::unique_ptr<LocalVerifier>> LocalVerifier::FromJwks(
    const std::map<std::string, std::string>& jwks_by_organization,
    LocalVerifierOptions options) {
  TA_RETURN_IF_ERROR(ValidateOptions(options));
  if (jwks_by_organization.empty()) {
    return absl::InvalidArgumentError(
        "organization_ids: at least one organisation is needed");
  }
  std::unique_ptr<LocalVerifier> v(new LocalVerifier(nullptr, options));
  for (const auto& [org, jwks] : jwks_by_organization) {
    TA_RETURN_IF_ERROR(v->InstallJwks(org, jwks));
    v->organizations_.push_back(org);
  }
  return v;
}

absl::StatusOr<std::unique_ptr<LocalVerifier>> LocalVerifier::Connect(
    TokenAuthorityClient* client, std::vector<std::string> organization_ids,
    LocalVerifierOptions options) {
  TA_RETURN_IF_ERROR(ValidateOptions(options));
  if (client == nullptr) {
    return absl::InvalidArgumentError("client: must not be null");
  }
  if (organization_ids.empty()) {
    return absl::InvalidArgumentError(
        "organization_ids: at least one organisation is needed");
  }
  for (const std::string& org : organization_ids) {
    if (absl::Status st = token::ValidateOrganizationId(org); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("organization_ids: ", st.message()));
    }
  }
  std::unique_ptr<LocalVerifier> v(new LocalVerifier(client, options));
  v->organizations_ = std::move(organization_ids);
  for (const std::string& org : v->organizations_) {
    absl::Status st = v->RefreshKeys(org);
    if (!st.ok() && !MarksDisabled(st)) return st;
  }
  v->watch_thread_ =
      StartNamedThread("ta-lv-watch", [p = v.get()] { p->WatchLoop(); });
  v->state_thread_ =
      StartNamedThread("ta-lv-states", [p = v.get()] { p->StateLoop(); });
  v->refresh_thread_ =
      StartNamedThread("ta-lv-jwks", [p = v.get()] { p->RefreshLoop(); });
  return v;
}

LocalVerifier::~LocalVerifier() { Stop(); }

void LocalVerifier::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->Cancel();
    if (state_stream_ != nullptr) state_stream_->Cancel();
  }
  cv_.SignalAll();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (state_thread_.joinable()) state_thread_.join();
  if (refresh_thread_.joinable()) refresh_thread_.join();
}

absl::Status LocalVerifier::InstallJwks(const std::string& organization_id,
                                        absl::string_view jwks_json) {
  if (absl::Status st = token::ValidateOrganizationId(organization_id);
      !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("organization_ids: ", st.message()));
  }
  // The same JWK Set as installed (the periodic refresh, mostly): keep its
  // key set, so that the tokens the verify cache holds for it stay valid (a
  // new set would be a new generation and check them all again).
  const std::string sha256 = HexSha256(jwks_json);
  bool unchanged;
  {
    ReaderLock lock(&keys_mu_);
    auto it = jwks_sha256_.find(organization_id);
    unchanged = it != jwks_sha256_.end() && it->second == sha256 &&
                keys_.contains(organization_id);
  }
  std::shared_ptr<const token::KeySet> shared;
  if (!unchanged) {
    absl::StatusOr<token::KeySet> set =
        token::KeySet::FromJwks(organization_id, jwks_json, clock_.Now());
    if (!set.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("jwks of organisation ",
                                                     organization_id, ": ",
                                                     set.status().message()));
    }
    shared = std::make_shared<const token::KeySet>(*std::move(set));
  }
  {
    WriterLock lock(&keys_mu_);
    if (shared != nullptr) {
      keys_[organization_id] = std::move(shared);
      jwks_sha256_[organization_id] = sha256;
    }
    disabled_.erase(organization_id);
  }
  // An organisation fetched for the first time joins the state stream: end
  // the open one so that StateLoop reconnects with it.
  MutexLock lock(&mu_);
  if (state_stream_ != nullptr && !state_watched_.contains(organization_id)) {
    state_rewatch_ = true;
    state_stream_->Cancel();
  }
  return absl::OkStatus();
}

absl::Status LocalVerifier::ApplyOrganizationState(
    const v1::OrganizationStateEvent& event) {
  const std::string& org = event.organization_id();
  bool refetch = false;
  {
    WriterLock lock(&keys_mu_);
    if (event.secure_enabled()) {
      state_disabled_.erase(org);
    } else {
      state_disabled_.insert(org);
    }
    auto it = jwks_sha256_.find(org);
    refetch = !event.jwks_sha256().empty() &&
              (it == jwks_sha256_.end() || it->second != event.jwks_sha256());
  }
  {
    MutexLock lock(&mu_);
    ++state_events_;
  }
  if (refetch && client_ != nullptr) return RefreshKeys(org);
  return absl::OkStatus();
}

absl::Status LocalVerifier::RefreshKeys(const std::string& organization_id) {
  if (client_ == nullptr) {
    return absl::FailedPreconditionError(
        "this verifier was built from JWK Sets and has no server");
  }
  v1::GetJwksRequest request;
  request.set_organization_id(organization_id);
  absl::StatusOr<v1::GetJwksResponse> response = client_->GetJwks(request);
  if (!response.ok()) {
    if (MarksDisabled(response.status())) {
      WriterLock lock(&keys_mu_);
      disabled_.insert(organization_id);
    }
    return response.status();
  }
  TA_RETURN_IF_ERROR(InstallJwks(organization_id, response->jwks_json()));
  MutexLock lock(&mu_);
  ++jwks_refreshes_;
  return absl::OkStatus();
}

std::shared_ptr<const token::KeySet> LocalVerifier::KeysFor(
    const std::string& organization_id) const {
  ReaderLock lock(&keys_mu_);
  auto it = keys_.find(organization_id);
  return it == keys_.end() ? nullptr : it->second;
}

void LocalVerifier::RequestRefresh(const std::string& organization_id) const {
  if (client_ == nullptr) return;
  const absl::Time now = Clock::Real().Now();
  MutexLock lock(&mu_);
  auto [it, inserted] =
      refresh_requested_.try_emplace(organization_id, absl::InfinitePast());
  if (now - it->second < options_.unknown_key_refresh_interval) return;
  it->second = now;
  pending_refresh_.insert(organization_id);
  cv_.SignalAll();
}

absl::StatusOr<token::VerifyResult> LocalVerifier::Verify(
    absl::string_view jwt, const token::PlaybackRequest& request) const {
  TA_RETURN_IF_ERROR(token::ValidatePlaybackRequest(request));
  const std::string& org = request.organization_id;
  std::shared_ptr<const token::KeySet> keys = KeysFor(org);
  if (keys == nullptr) {
    // As the server does for an organisation it does not have: what is
    // wrong with the token itself first (rules 1-5), then the organisation.
    token::VerifyResult r =
        verifier_.Verify(jwt, request, *no_keys_, clock_.Now());
    if (r.reason == token::DenyReason::kMalformed ||
        r.reason == token::DenyReason::kUnsupportedAlgorithm) {
      return r;
    }
    return token::VerifyResult::Deny(
        token::DenyReason::kOrganizationDisabled,
        hooks_->IsOrganizationDisabled(org)
            ? absl::StrCat("Secure playback is not enabled for organisation ",
                           org, ".")
            : absl::StrCat("This verifier does not know organisation \"",
                           absl::CHexEscape(org.substr(0, 64)), "\"."));
  }
  token::VerifyResult result =
      verifier_.Verify(jwt, request, *keys, clock_.Now(), hooks_.get());
  if (!result.allowed && result.reason == token::DenyReason::kUnknownKey &&
      !result.key_id.empty()) {
    RequestRefresh(org);  // perhaps a rotation
  }
  return result;
}

absl::StatusOr<v1::VerifyTokenResponse> LocalVerifier::Verify(
    const v1::VerifyTokenRequest& request) const {
  token::PlaybackRequest playback;
  playback.organization_id = request.organization_id();
  playback.stream_group_id = request.stream_group_id();
  playback.stream_name = request.stream_name();
  playback.client_ip = request.client_ip();
  playback.domain = request.domain();
  TA_ASSIGN_OR_RETURN(token::VerifyResult r, Verify(request.jwt(), playback));
  v1::VerifyTokenResponse out;
  out.set_allowed(r.allowed);
  out.set_reason(convert::ToProtoDenyReason(r.reason));
  out.set_detail(std::move(r.detail));
  out.set_token_id(std::move(r.token_id));
  return out;
}

void LocalVerifier::ApplyRevocation(const v1::RevocationEvent& event) {
  const absl::Time expires =
      event.has_expires_at() ? convert::FromProtoTimestamp(event.expires_at())
                             : absl::InfiniteFuture();
  const bool expired = expires + options_.leeway <= clock_.Now();
  WriterLock lock(&revoked_mu_);
  if (!expired) {
    revoked_[RevocationKey(event.organization_id(), event.token_id())] =
        expires;
  }
  last_sequence_ = std::max(last_sequence_, event.sequence());
}

size_t LocalVerifier::PruneRevocations() {
  const absl::Time now = clock_.Now();
  WriterLock lock(&revoked_mu_);
  size_t pruned = 0;
  for (auto it = revoked_.begin(); it != revoked_.end();) {
    if (it->second + options_.leeway <= now) {
      revoked_.erase(it++);
      ++pruned;
    } else {
      ++it;
    }
  }
  return pruned;
}

LocalVerifierStats LocalVerifier::stats() const {
  LocalVerifierStats s;
  {
    ReaderLock lock(&revoked_mu_);
    s.last_sequence = last_sequence_;
    s.revocations = revoked_.size();
  }
  MutexLock lock(&mu_);
  s.stream_connects = stream_connects_;
  s.stream_open = stream_ != nullptr;
  s.jwks_refreshes = jwks_refreshes_;
  if (const auto& cache = verifier_.options().cache; cache != nullptr) {
    const token::VerifiedTokenCache::Stats c = cache->GetStats();
    s.verify_cache_hits = c.hits;
    s.verify_cache_misses = c.misses;
  }
  s.last_stream_error = last_stream_error_;
  s.state_stream_connects = state_stream_connects_;
  s.state_stream_open = state_stream_ != nullptr;
  s.state_events = state_events_;
  s.last_state_stream_error = last_state_stream_error_;
  return s;
}

bool LocalVerifier::WaitOrStop(absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  MutexLock lock(&mu_);
  while (!stopping_) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return !stopping_;
}

absl::Duration LocalVerifier::Jitter(absl::Duration d) {
  uint8_t bytes[8];
  if (!random_.Fill(absl::MakeSpan(bytes)).ok()) return d;
  uint64_t r;
  std::memcpy(&r, bytes, sizeof(r));
  const double u = static_cast<double>(r >> 11) / 9007199254740992.0;
  return d * (0.8 + 0.4 * u);
}

void LocalVerifier::WatchLoop() {
  absl::Duration backoff = options_.reconnect_initial_backoff;
  while (true) {
    v1::WatchRevocationsRequest request;
    {
      ReaderLock lock(&revoked_mu_);
      request.set_since_sequence(last_sequence_);
    }
    absl::StatusOr<std::unique_ptr<RevocationStream>> opened =
        client_->WatchRevocations(request);
    absl::Status ended;
    bool healthy = false;
    if (opened.ok()) {
      std::unique_ptr<RevocationStream> stream = *std::move(opened);
      {
        MutexLock lock(&mu_);
        if (stopping_) return;  // the stream's destructor cancels it
        stream_ = stream.get();
        ++stream_connects_;
      }
      const absl::Time opened_at = Clock::Real().Now();
      v1::RevocationEvent event;
      while (stream->Next(&event)) {
        ApplyRevocation(event);
        healthy = true;
      }
      ended = stream->Finish();
      // A stream that stayed up a while was healthy even without events.
      if (Clock::Real().Now() - opened_at > absl::Seconds(10)) healthy = true;
      MutexLock lock(&mu_);
      stream_ = nullptr;
      last_stream_error_ = ended.ToString();
      if (stopping_) return;
    } else {
      ended = opened.status();
      MutexLock lock(&mu_);
      last_stream_error_ = ended.ToString();
    }
    if (healthy) backoff = options_.reconnect_initial_backoff;
    if (!WaitOrStop(Jitter(backoff))) return;
    if (!healthy) {
      backoff = std::min(backoff * 2, options_.reconnect_max_backoff);
    }
  }
}

std::vector<std::string> LocalVerifier::HeldOrganizations() const {
  std::vector<std::string> held;
  ReaderLock lock(&keys_mu_);
  for (const std::string& org : organizations_) {
    if (keys_.contains(org)) held.push_back(org);
  }
  return held;
}

bool LocalVerifier::HoldsUnwatched(
    const std::vector<std::string>& watched) const {
  ReaderLock lock(&keys_mu_);
  for (const std::string& org : organizations_) {
    if (keys_.contains(org) &&
        std::find(watched.begin(), watched.end(), org) == watched.end()) {
      return true;
    }
  }
  return false;
}

void LocalVerifier::StateLoop() {
  absl::Duration backoff = options_.reconnect_initial_backoff;
  while (true) {
    // Only organisations whose JWK Set is held: the server answers NOT_FOUND
    // for the whole stream if one of them does not exist.
    const std::vector<std::string> orgs = HeldOrganizations();
    absl::Status ended;
    bool healthy = false;
    if (orgs.empty()) {
      ended = absl::NotFoundError("no organisation's JWK Set is held yet");
    } else {
      v1::WatchOrganizationStatesRequest request;
      for (const std::string& org : orgs) request.add_organization_ids(org);
      absl::StatusOr<std::unique_ptr<OrganizationStateStream>> opened =
          client_->WatchOrganizationStates(request);
      if (opened.ok()) {
        std::unique_ptr<OrganizationStateStream> stream = *std::move(opened);
        {
          MutexLock lock(&mu_);
          if (stopping_) return;  // the stream's destructor cancels it
          state_stream_ = stream.get();
          state_watched_ = {orgs.begin(), orgs.end()};
          ++state_stream_connects_;
        }
        if (HoldsUnwatched(orgs)) {
          MutexLock lock(&mu_);
          state_rewatch_ = true;
          stream->Cancel();
        }
        const absl::Time opened_at = Clock::Real().Now();
        v1::OrganizationStateEvent event;
        while (stream->Next(&event)) {
          // A failed fetch is retried by the refresh thread.
          if (!ApplyOrganizationState(event).ok()) {
            RequestRefresh(event.organization_id());
          }
          healthy = true;
        }
        ended = stream->Finish();
        if (Clock::Real().Now() - opened_at > absl::Seconds(10)) healthy = true;
        MutexLock lock(&mu_);
        state_stream_ = nullptr;
        state_watched_.clear();
        last_state_stream_error_ = ended.ToString();
        if (stopping_) return;
      } else {
        ended = opened.status();
      }
    }
    {
      MutexLock lock(&mu_);
      last_state_stream_error_ = ended.ToString();
      // Cancelled to add an organisation: reconnect without backing off.
      if (state_rewatch_) healthy = true;
      state_rewatch_ = false;
    }
    // An older server without the RPC: keep working without it.
    if (absl::IsUnimplemented(ended)) return;
    if (healthy) backoff = options_.reconnect_initial_backoff;
    if (!WaitOrStop(Jitter(backoff))) return;
    if (!healthy) {
      backoff = std::min(backoff * 2, options_.reconnect_max_backoff);
    }
  }
}

void LocalVerifier::RefreshLoop() {
  absl::Time next_full = Clock::Real().Now() + options_.jwks_refresh_interval;
  while (true) {
    std::vector<std::string> todo;
    {
      MutexLock lock(&mu_);
      const absl::Time wake =
          std::min(next_full, Clock::Real().Now() + absl::Minutes(1));
      while (!stopping_ && pending_refresh_.empty()) {
        if (cv_.WaitWithDeadline(&mu_, wake)) break;
      }
      if (stopping_) return;
      if (!pending_refresh_.empty()) {
        todo.assign(pending_refresh_.begin(), pending_refresh_.end());
        pending_refresh_.clear();
      } else if (Clock::Real().Now() >= next_full) {
        todo = organizations_;
        next_full = Clock::Real().Now() + options_.jwks_refresh_interval;
      }
    }
    for (const std::string& org : todo) RefreshKeys(org).IgnoreError();
    PruneRevocations();
  }
}

}  // namespace token_authority::client

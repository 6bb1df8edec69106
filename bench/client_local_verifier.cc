// client_local_verifier: LocalVerifier verification (what an edge does per
// playback) beside raw OpenSSL verification of the same bytes with the same
// public key, and the ratio. Goal: LocalVerifier ES256 >= 0.85 x raw.
//
//   build-client/bench/client_local_verifier [--benchmark_min_time=1]
//
// LocalVerifier::Verify includes everything: peeking at nothing (the request
// names the organisation), the key-set lookup, the token core's rules (size,
// strict base64url, header and claims JSON, kid lookup, signature, times,
// target, ip, domain) and the revocation lookup in a set of 10,000 revoked
// tokens, reading the real clock. "raw" is EVP_DigestVerifyInit +
// EVP_DigestVerify with the public key parsed once, SHA-256 fetched once and
// the DER form of the ECDSA signature prepared beforehand. Single-threaded;
// rates are per CPU-second of the benchmark thread.
//
// The goal's LocalVerifier runs without its verified-token cache (every call
// checks the signature, like raw); BM_LocalVerifierCached shows the same
// token verified again with the cache on (the default), as an edge sees a
// page's shared token.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "benchmark/benchmark.h"
#include "client/local_verifier.h"
#include "convert/proto_convert.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/key_set.h"
#include "token/signing_key.h"

namespace ta = token_authority;
namespace tok = token_authority::token;

namespace {

constexpr char kOrg[] = "org-2f6c1b";

struct Fixture {
  std::unique_ptr<ta::client::LocalVerifier> verifier;  // no cache
  std::unique_ptr<ta::client::LocalVerifier> cached;    // default cache
  tok::PlaybackRequest request;
  std::string jwt;
  std::string signing_input;
  std::string der_signature;  // ES256: DER; EdDSA: as in the JWS
  EVP_PKEY* public_key = nullptr;
  bool ed = false;
};

Fixture& Get(tok::Algorithm alg) {
  static auto* const fixtures = new std::map<tok::Algorithm, Fixture>();
  auto it = fixtures->find(alg);
  if (it != fixtures->end()) return it->second;
  Fixture f;
  ta::FakeRandom random(11);
  const absl::Time now = ta::Clock::Real().Now();
  std::shared_ptr<const tok::SigningKey> key(
      *tok::SigningKey::Generate(alg, now, random));
  tok::KeySet keys =
      *tok::KeySet::Create(kOrg, {{key, tok::KeyState::kPrimary}});
  tok::ClaimsBuilder b;
  b.SetIssuer("https://tokens.example.net")
      .SetIssuedAt(now)
      .SetExpiresAt(now + absl::Hours(24 * 14))
      .SetOrganizationId(kOrg)
      .SetTarget(tok::Target::Streams({"live-cam-1", "live-cam-2"}))
      .SetDomain("*.example.com")
      .SetClientIp("203.0.113.0/24")
      .SetUserId("viewer-42")
      .SetTag("summer-campaign");
  f.jwt = keys.Sign(*b.Build(random))->jwt;
  ta::client::LocalVerifierOptions uncached;
  uncached.verify_cache_entries = 0;
  f.verifier = *ta::client::LocalVerifier::FromJwks({{kOrg, keys.ToJwksJson()}},
                                                    uncached);
  f.cached = *ta::client::LocalVerifier::FromJwks({{kOrg, keys.ToJwksJson()}});
  // A realistic revocation set.
  for (int i = 0; i < 10000; ++i) {
    tokenauthority::v1::RevocationEvent e;
    e.set_sequence(i + 1);
    e.set_organization_id(kOrg);
    e.set_token_id(*tok::NewTokenId(random));
    *e.mutable_expires_at() =
        ta::convert::ToProtoTimestamp(now + absl::Hours(24));
    f.verifier->ApplyRevocation(e);
    f.cached->ApplyRevocation(e);
  }
  f.request.organization_id = kOrg;
  f.request.stream_name = "live-cam-2";
  f.request.client_ip = "203.0.113.77";
  f.request.domain = "player.example.com";

  f.signing_input = f.jwt.substr(0, f.jwt.rfind('.'));
  const std::string signature =
      *tok::Base64UrlDecode(f.jwt.substr(f.jwt.rfind('.') + 1));
  f.der_signature = signature;
  if (alg == tok::Algorithm::kEs256) {
    ECDSA_SIG* sig = ECDSA_SIG_new();
    const auto* s = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(s, 32, nullptr),
                   BN_bin2bn(s + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &der);
    f.der_signature.assign(reinterpret_cast<char*>(der),
                           static_cast<size_t>(len));
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }
  // The public half of the same key, as a verifier holds it.
  const std::string material = *key->ExportPrivateKey();
  const unsigned char* p =
      reinterpret_cast<const unsigned char*>(material.data());
  EVP_PKEY* priv =
      d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(material.size()));
  unsigned char* spki = nullptr;
  const int spki_len = i2d_PUBKEY(priv, &spki);
  const unsigned char* q = spki;
  f.public_key = d2i_PUBKEY(nullptr, &q, spki_len);
  OPENSSL_free(spki);
  EVP_PKEY_free(priv);
  f.ed = alg == tok::Algorithm::kEdDsa;
  return fixtures->emplace(alg, std::move(f)).first->second;
}

const EVP_MD* Sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

bool RawVerify(const Fixture& f) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, f.ed ? nullptr : Sha256(), nullptr,
                           f.public_key) == 1 &&
      EVP_DigestVerify(
          ctx, reinterpret_cast<const unsigned char*>(f.der_signature.data()),
          f.der_signature.size(),
          reinterpret_cast<const unsigned char*>(f.signing_input.data()),
          f.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// `cached`: the verifier with the verify cache (same token every call).
void BM_LocalVerifier(benchmark::State& state, tok::Algorithm alg,
                      bool cached) {
  Fixture& f = Get(alg);
  ta::client::LocalVerifier& verifier = cached ? *f.cached : *f.verifier;
  for (auto _ : state) {
    absl::StatusOr<tok::VerifyResult> r = verifier.Verify(f.jwt, f.request);
    if (!r.ok() || !r->allowed) {
      state.SkipWithError(r.ok() ? r->detail.c_str() : "not verified");
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawVerify(benchmark::State& state, tok::Algorithm alg) {
  Fixture& f = Get(alg);
  for (auto _ : state) {
    const bool ok = RawVerify(f);
    if (!ok) state.SkipWithError("raw verify failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      // One run, or the mean of --benchmark_repetitions (which then wins).
      const bool mean =
          r.run_type == Run::RT_Aggregate && r.aggregate_name == "mean";
      if (r.run_type != Run::RT_Iteration && !mean) continue;
      auto it = r.counters.find("items_per_second");
      if (it == r.counters.end()) continue;
      // Rates per CPU-second of the benchmark thread (a shared machine).
      const std::string name = r.run_name.str();
      if (mean || rate_.count(name) == 0) rate_[name] = it->second.value;
    }
  }
  double Rate(const std::string& prefix) const {
    for (const auto& [k, v] : rate_) {
      if (k.rfind(prefix, 0) == 0) return v;
    }
    return 0;
  }
  void PrintRatios() const {
    std::printf("\n%-6s %18s %14s %7s\n", "alg", "LocalVerifier/s",
                "raw verify/s", "ratio");
    for (const char* a : {"ES256", "EdDSA"}) {
      const double lv = Rate(absl::StrCat("BM_LocalVerifier/", a));
      const double rv = Rate(absl::StrCat("BM_RawVerify/", a));
      const double cv = Rate(absl::StrCat("BM_LocalVerifierCached/", a));
      std::printf(
          "%-6s %18.0f %14.0f %7.3f   (same token again, cached: "
          "%.0f/s)\n",
          a, lv, rv, rv > 0 ? lv / rv : 0.0, cv);
    }
    const double lv = Rate("BM_LocalVerifier/ES256");
    const double rv = Rate("BM_RawVerify/ES256");
    std::printf(
        "\ngoal: LocalVerifier ES256 >= 0.85 x raw OpenSSL verify: %s\n",
        rv > 0 && lv / rv >= 0.85 ? "met" : "NOT met");
  }

 private:
  std::map<std::string, double> rate_;
};

}  // namespace

int main(int argc, char** argv) {
  for (tok::Algorithm alg : {tok::Algorithm::kEs256, tok::Algorithm::kEdDsa}) {
    const std::string a(tok::AlgorithmName(alg));
    // Interleaved, so that drifts of a shared machine hit both alike.
    benchmark::RegisterBenchmark(("BM_LocalVerifier/" + a).c_str(),
                                 BM_LocalVerifier, alg, false);
    benchmark::RegisterBenchmark(("BM_RawVerify/" + a).c_str(), BM_RawVerify,
                                 alg);
    benchmark::RegisterBenchmark(("BM_LocalVerifierCached/" + a).c_str(),
                                 BM_LocalVerifier, alg, true);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}

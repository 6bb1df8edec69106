// token_bench: the token core's encode+sign and decode+verify per algorithm,
// beside raw OpenSSL sign/verify of the same bytes, with the ratios.
//
//   build-token/bench/token_bench [--benchmark_min_time=1]
//
// "raw" is what a careful caller of OpenSSL 3 would write: EVP_DigestSign /
// EVP_DigestVerify with a key parsed once and SHA-256 fetched once (ECDSA
// verify with the DER signature prepared beforehand); HMAC through an
// EVP_MAC fetched once, a fresh EVP_MAC_CTX per call. "core" includes
// everything the verifier does: size and segment checks, strict base64url,
// header and claims JSON, key lookup, signature, time/target/ip/domain rules.
// Single-threaded; rates are per CPU-second of the benchmark thread. Goals:
// decode+verify >= 0.85 x raw verify for ES256, EdDSA and RS256; HS256
// decode+verify >= 500k/s.
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/random.h"
#include "benchmark/benchmark.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/jws.h"
#include "token/key_set.h"
#include "token/verifier.h"

namespace ta = token_authority;
namespace tok = token_authority::token;

namespace {

const absl::Time kNow = absl::FromUnixSeconds(1750000000);
constexpr tok::Algorithm kAlgs[] = {
    tok::Algorithm::kEs256, tok::Algorithm::kRs256, tok::Algorithm::kEdDsa,
    tok::Algorithm::kHs256};

struct Fixture {
  std::shared_ptr<const tok::SigningKey> key;
  std::unique_ptr<tok::KeySet> keys;
  tok::Claims claims;
  std::string jwt;
  std::string signing_input;
  std::string signature;      // as in the JWS
  std::string raw_signature;  // as OpenSSL takes it (DER for ECDSA)
  EVP_PKEY* pkey = nullptr;   // the same key, for the raw baseline
  std::string secret;         // HS256
};

tok::Claims MakeClaims() {
  tok::ClaimsBuilder b;
  ta::FakeRandom random(5);
  return *b.SetIssuer("https://tokens.example.net")
              .SetIssuedAt(kNow)
              .SetExpiresAt(kNow + absl::Hours(24 * 14))
              .SetOrganizationId("org-2f6c1b")
              .SetTarget(tok::Target::Streams({"live-cam-1", "live-cam-2"}))
              .SetDomain("*.example.com")
              .SetClientIp("203.0.113.0/24")
              .SetUserId("viewer-42")
              .SetTag("summer-campaign")
              .Build(random);
}

Fixture& Get(tok::Algorithm alg) {
  static auto* const fixtures = new std::map<tok::Algorithm, Fixture>();
  auto it = fixtures->find(alg);
  if (it != fixtures->end()) return it->second;
  Fixture f{nullptr, nullptr, MakeClaims(), "", "", "", "", nullptr, ""};
  ta::FakeRandom random(9);
  f.key = std::shared_ptr<const tok::SigningKey>(
      *tok::SigningKey::Generate(alg, kNow, random));
  f.keys = std::make_unique<tok::KeySet>(
      *tok::KeySet::Create("org-2f6c1b", {{f.key, tok::KeyState::kPrimary}}));
  f.jwt = f.keys->Sign(f.claims)->jwt;
  f.signing_input = f.jwt.substr(0, f.jwt.rfind('.'));
  f.signature = *tok::Base64UrlDecode(f.jwt.substr(f.jwt.rfind('.') + 1));
  f.raw_signature = f.signature;
  std::string material = *f.key->ExportPrivateKey();
  if (alg == tok::Algorithm::kHs256) {
    f.secret = material;
  } else {
    const unsigned char* p =
        reinterpret_cast<const unsigned char*>(material.data());
    f.pkey =
        d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(material.size()));
  }
  if (alg == tok::Algorithm::kEs256) {
    ECDSA_SIG* sig = ECDSA_SIG_new();
    const auto* s = reinterpret_cast<const unsigned char*>(f.signature.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(s, 32, nullptr),
                   BN_bin2bn(s + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig, &der);
    f.raw_signature.assign(reinterpret_cast<char*>(der),
                           static_cast<size_t>(len));
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }
  return fixtures->emplace(alg, std::move(f)).first->second;
}

const EVP_MD* Sha256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
EVP_MAC* Hmac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

bool RawHmac(const Fixture& f, unsigned char out[32]) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(Hmac());
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  size_t len = 0;
  bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(f.secret.data()),
                   f.secret.size(), params) == 1 &&
      EVP_MAC_update(
          ctx, reinterpret_cast<const unsigned char*>(f.signing_input.data()),
          f.signing_input.size()) == 1 &&
      EVP_MAC_final(ctx, out, &len, 32) == 1;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

bool RawVerify(const Fixture& f) {
  if (f.pkey == nullptr) {
    unsigned char mac[32];
    return RawHmac(f, mac) && CRYPTO_memcmp(mac, f.signature.data(), 32) == 0;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ed = EVP_PKEY_is_a(f.pkey, "ED25519");
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, ed ? nullptr : Sha256(), nullptr,
                           f.pkey) == 1 &&
      EVP_DigestVerify(
          ctx, reinterpret_cast<const unsigned char*>(f.raw_signature.data()),
          f.raw_signature.size(),
          reinterpret_cast<const unsigned char*>(f.signing_input.data()),
          f.signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

bool RawSign(const Fixture& f, std::string* sig) {
  if (f.pkey == nullptr) {
    unsigned char mac[32];
    if (!RawHmac(f, mac)) return false;
    sig->assign(reinterpret_cast<char*>(mac), 32);
    return true;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ed = EVP_PKEY_is_a(f.pkey, "ED25519");
  size_t len = 0;
  bool ok = EVP_DigestSignInit(ctx, nullptr, ed ? nullptr : Sha256(), nullptr,
                               f.pkey) == 1 &&
            EVP_DigestSign(
                ctx, nullptr, &len,
                reinterpret_cast<const unsigned char*>(f.signing_input.data()),
                f.signing_input.size()) == 1;
  if (ok) {
    sig->resize(len);
    ok = EVP_DigestSign(
             ctx, reinterpret_cast<unsigned char*>(sig->data()), &len,
             reinterpret_cast<const unsigned char*>(f.signing_input.data()),
             f.signing_input.size()) == 1;
    sig->resize(len);
  }
  EVP_MD_CTX_free(ctx);
  return ok;
}

tok::PlaybackRequest Request() {
  tok::PlaybackRequest r;
  r.organization_id = "org-2f6c1b";
  r.stream_name = "live-cam-2";
  r.client_ip = "203.0.113.77";
  r.domain = "player.example.com";
  return r;
}

void BM_CoreEncodeSign(benchmark::State& state, tok::Algorithm alg) {
  Fixture& f = Get(alg);
  for (auto _ : state) {
    auto t = f.keys->Sign(f.claims);
    if (!t.ok()) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawSign(benchmark::State& state, tok::Algorithm alg) {
  Fixture& f = Get(alg);
  std::string sig;
  for (auto _ : state) {
    if (!RawSign(f, &sig)) state.SkipWithError("raw sign failed");
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CoreDecodeVerify(benchmark::State& state, tok::Algorithm alg) {
  Fixture& f = Get(alg);
  const tok::TokenVerifier verifier;
  const tok::PlaybackRequest request = Request();
  const absl::Time now = kNow + absl::Hours(1);
  for (auto _ : state) {
    tok::VerifyResult r = verifier.Verify(f.jwt, request, *f.keys, now);
    if (!r.allowed) state.SkipWithError(r.detail.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawVerify(benchmark::State& state, tok::Algorithm alg) {
  Fixture& f = Get(alg);
  for (auto _ : state) {
    bool ok = RawVerify(f);
    if (!ok) state.SkipWithError("raw verify failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}

// Where the HS256 time goes.
void BM_PartSignatureOnly_HS256(benchmark::State& state) {
  Fixture& f = Get(tok::Algorithm::kHs256);
  for (auto _ : state)
    benchmark::DoNotOptimize(f.key->Verify(f.signing_input, f.signature));
  state.SetItemsProcessed(state.iterations());
}
void BM_PartParseClaims(benchmark::State& state) {
  const std::string json = Get(tok::Algorithm::kHs256).claims.ToJson();
  for (auto _ : state) benchmark::DoNotOptimize(tok::ParseClaims(json));
  state.SetItemsProcessed(state.iterations());
}
void BM_PartParseHeader(benchmark::State& state) {
  Fixture& f = Get(tok::Algorithm::kHs256);
  const std::string header =
      *tok::Base64UrlDecode(f.jwt.substr(0, f.jwt.find('.')));
  for (auto _ : state) benchmark::DoNotOptimize(tok::ParseJwsHeader(header));
  state.SetItemsProcessed(state.iterations());
}
void BM_PartBase64Decode(benchmark::State& state) {
  Fixture& f = Get(tok::Algorithm::kHs256);
  const std::string payload =
      f.jwt.substr(f.jwt.find('.') + 1, f.jwt.rfind('.') - f.jwt.find('.') - 1);
  std::string out;
  for (auto _ : state)
    benchmark::DoNotOptimize(tok::Base64UrlDecodeTo(payload, &out));
  state.SetItemsProcessed(state.iterations());
}

// Collects ops/s per benchmark to print the ratios at the end.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      // CPU time of the benchmark thread: the machine is shared, and the
      // goals are per core.
      const double seconds = r.cpu_accumulated_time;
      if (seconds > 0)
        rate_[r.benchmark_name()] = static_cast<double>(r.iterations) / seconds;
    }
  }
  void PrintRatios() const {
    std::printf("\n%-8s %14s %14s %7s   %14s %14s %7s\n", "alg",
                "core enc+sign/s", "raw sign/s", "ratio", "core dec+ver/s",
                "raw verify/s", "ratio");
    for (tok::Algorithm alg : kAlgs) {
      const std::string a(tok::AlgorithmName(alg));
      const double cs = Rate("CoreEncodeSign/" + a), rs = Rate("RawSign/" + a);
      const double cv = Rate("CoreDecodeVerify/" + a),
                   rv = Rate("RawVerify/" + a);
      std::printf("%-8s %14.0f %14.0f %7.3f   %14.0f %14.0f %7.3f\n", a.c_str(),
                  cs, rs, rs > 0 ? cs / rs : 0.0, cv, rv,
                  rv > 0 ? cv / rv : 0.0);
    }
    const double hs = Rate("CoreDecodeVerify/HS256");
    std::printf(
        "\ngoals: ES256/EdDSA/RS256 decode+verify >= 0.85 x raw verify: %s; "
        "HS256 decode+verify >= 500000/s: %s (%.0f/s)\n",
        Goal085() ? "met" : "NOT met", hs >= 500000 ? "met" : "NOT met", hs);
  }

 private:
  double Rate(const std::string& name) const {
    for (const auto& [k, v] : rate_) {
      if (k.rfind("BM_" + name, 0) == 0) return v;
    }
    return 0;
  }
  bool Goal085() const {
    for (const char* a : {"ES256", "EdDSA", "RS256"}) {
      const double cv = Rate(std::string("CoreDecodeVerify/") + a);
      const double rv = Rate(std::string("RawVerify/") + a);
      if (rv <= 0 || cv / rv < 0.85) return false;
    }
    return true;
  }
  std::map<std::string, double> rate_;
};

}  // namespace

int main(int argc, char** argv) {
  for (tok::Algorithm alg : kAlgs) {
    const std::string a(tok::AlgorithmName(alg));
    benchmark::RegisterBenchmark(("BM_CoreEncodeSign/" + a).c_str(),
                                 BM_CoreEncodeSign, alg);
    benchmark::RegisterBenchmark(("BM_RawSign/" + a).c_str(), BM_RawSign, alg);
    benchmark::RegisterBenchmark(("BM_CoreDecodeVerify/" + a).c_str(),
                                 BM_CoreDecodeVerify, alg);
    benchmark::RegisterBenchmark(("BM_RawVerify/" + a).c_str(), BM_RawVerify,
                                 alg);
  }
  // Two threads verifying with the same key at once, as the server's gRPC
  // threads do: items/s over wall time shows whether OpenSSL serialises them
  // (2 threads on 2 idle cores should give ~2x the one-thread rate). The
  // fixtures are built first: Get() is not thread-safe.
  for (tok::Algorithm alg : {tok::Algorithm::kEs256, tok::Algorithm::kHs256}) {
    const std::string a(tok::AlgorithmName(alg));
    Get(alg);
    benchmark::RegisterBenchmark(("BM_CoreDecodeVerify2T/" + a).c_str(),
                                 BM_CoreDecodeVerify, alg)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_RawVerify2T/" + a).c_str(), BM_RawVerify,
                                 alg)
        ->Threads(2)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_PartSignatureOnly_HS256",
                               BM_PartSignatureOnly_HS256);
  benchmark::RegisterBenchmark("BM_PartParseClaims", BM_PartParseClaims);
  benchmark::RegisterBenchmark("BM_PartParseHeader", BM_PartParseHeader);
  benchmark::RegisterBenchmark("BM_PartBase64Decode", BM_PartBase64Decode);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}

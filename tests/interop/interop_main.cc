// token_interop: the C++ half of the PyJWT interoperability test.
//
//   token_interop sign DIR    generates one key per algorithm (ES256, RS256,
//                             EdDSA, HS256), signs a token with each and writes
//                             DIR/core_jwks.json (public keys),
//                             DIR/core_tokens.json
//                             ({"ES256": jwt, ...}, plus the expected claims)
//                             and DIR/core_hs256.jwk (the HMAC secret as an
//                             "oct" JWK, mode 0600: passed privately, never in
//                             the JWKS).
//   token_interop verify DIR  reads DIR/py_jwks.json, DIR/py_hs256.jwk and
//                             DIR/py_tokens.json written by PyJWT and verifies
//                             every token with the core; also checks that a
//                             tampered copy of each is refused. Exit 0 iff all
//                             behave.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/random.h"
#include "nlohmann/json.hpp"
#include "token/base64url.h"
#include "token/deny_reason.h"
#include "token/jwk.h"
#include "token/key_set.h"
#include "token/token_spec.h"
#include "token/verifier.h"

namespace ta = token_authority;
namespace tok = token_authority::token;

namespace {

constexpr char kOrg[] = "interop-org";

bool WriteFile(const std::string& path, const std::string& data, bool secret) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out << data;
  out.close();
  if (secret) chmod(path.c_str(), 0600);
  return static_cast<bool>(out);
}

bool ReadFile(const std::string& path, std::string* data) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *data = ss.str();
  return true;
}

int Sign(const std::string& dir) {
  const absl::Time now = ta::Clock::Real().Now();
  std::vector<tok::KeySetEntry> entries;
  std::map<std::string, std::shared_ptr<const tok::SigningKey>> by_alg;
  for (tok::Algorithm alg : {tok::Algorithm::kEs256, tok::Algorithm::kRs256,
                             tok::Algorithm::kEdDsa, tok::Algorithm::kHs256}) {
    auto key = tok::SigningKey::Generate(alg, now, ta::RandomSource::Secure());
    if (!key.ok()) {
      std::cerr << "generate " << tok::AlgorithmName(alg) << ": "
                << key.status() << "\n";
      return 1;
    }
    std::shared_ptr<const tok::SigningKey> shared(*std::move(key));
    by_alg[std::string(tok::AlgorithmName(alg))] = shared;
    entries.push_back({shared, tok::KeyState::kActive});
  }
  auto keys = tok::KeySet::Create(kOrg, entries);
  if (!keys.ok()) {
    std::cerr << "key set: " << keys.status() << "\n";
    return 1;
  }
  nlohmann::json tokens = nlohmann::json::object();
  int n = 0;
  for (const auto& [alg, key] : by_alg) {
    tok::TokenSpec spec;
    if (n % 3 == 0) spec.target = tok::Target::Streams({"cam-1", "cam-2"});
    if (n % 3 == 1) spec.target = tok::Target::StreamGroup("group-7");
    if (n % 3 == 2) spec.target = tok::Target::Organization();
    ++n;
    spec.lifetime = absl::Hours(1);
    spec.domain = "*.example.com";
    spec.client_ip = "203.0.113.0/24";
    spec.user_id = "viewer \xe2\x9c\x93";  // non-ASCII survives
    spec.tag = "interop";
    auto claims =
        tok::ClaimsFromSpec(spec, tok::TokenLimits{}, now, "token-authority",
                            kOrg, ta::RandomSource::Secure());
    if (!claims.ok()) {
      std::cerr << "claims: " << claims.status() << "\n";
      return 1;
    }
    // Sign with this very key (not the set's primary).
    auto one = tok::KeySet::Create(kOrg, {{key, tok::KeyState::kPrimary}});
    auto signed_token = one->Sign(*claims);
    if (!signed_token.ok()) {
      std::cerr << "sign: " << signed_token.status() << "\n";
      return 1;
    }
    tokens[alg] = {{"jwt", signed_token->jwt},
                   {"kid", key->kid()},
                   {"claims", nlohmann::json::parse(claims->ToJson())}};
  }
  const auto& hs = by_alg["HS256"];
  auto secret = hs->ExportPrivateKey();
  nlohmann::json oct = {{"kty", "oct"},
                        {"kid", hs->kid()},
                        {"alg", "HS256"},
                        {"k", tok::Base64UrlEncode(*secret)}};
  if (!WriteFile(dir + "/core_jwks.json", keys->ToJwksJson(), false) ||
      !WriteFile(dir + "/core_tokens.json", tokens.dump(2), false) ||
      !WriteFile(dir + "/core_hs256.jwk", oct.dump(), true)) {
    std::cerr << "cannot write to " << dir << "\n";
    return 1;
  }
  std::cout << "core signed " << tokens.size()
            << " tokens (ES256, EdDSA, HS256, RS256)\n";
  return 0;
}

int Verify(const std::string& dir) {
  std::string jwks, oct, tokens_text;
  if (!ReadFile(dir + "/py_jwks.json", &jwks) ||
      !ReadFile(dir + "/py_hs256.jwk", &oct) ||
      !ReadFile(dir + "/py_tokens.json", &tokens_text)) {
    std::cerr << "missing PyJWT output in " << dir << "\n";
    return 1;
  }
  const absl::Time now = ta::Clock::Real().Now();
  auto public_keys = tok::ParseJwks(jwks, now);
  if (!public_keys.ok()) {
    std::cerr << "PyJWT's JWKS: " << public_keys.status() << "\n";
    return 1;
  }
  auto hmac = tok::SigningKey::FromJwk(oct, now);
  if (!hmac.ok()) {
    std::cerr << "PyJWT's HS256 secret: " << hmac.status() << "\n";
    return 1;
  }
  std::vector<tok::KeySetEntry> entries;
  for (auto& k : *public_keys) entries.push_back({k, tok::KeyState::kActive});
  entries.push_back({std::shared_ptr<const tok::SigningKey>(*std::move(hmac)),
                     tok::KeyState::kActive});
  auto keys = tok::KeySet::Create(kOrg, entries);
  if (!keys.ok()) {
    std::cerr << "key set: " << keys.status() << "\n";
    return 1;
  }
  nlohmann::json tokens = nlohmann::json::parse(tokens_text, nullptr, false);
  if (!tokens.is_object()) {
    std::cerr << "py_tokens.json is not an object\n";
    return 1;
  }
  tok::TokenVerifier verifier;
  int failures = 0, checked = 0;
  for (const auto& [alg, entry] : tokens.items()) {
    if (!entry.is_object() || !entry.contains("jwt") ||
        !entry["jwt"].is_string() || !entry.contains("stream") ||
        !entry["stream"].is_string()) {
      std::cerr << alg << ": malformed entry\n";
      ++failures;
      continue;
    }
    const std::string jwt = entry["jwt"].get<std::string>();
    tok::PlaybackRequest request;
    request.organization_id = kOrg;
    request.stream_name = entry["stream"].get<std::string>();
    request.stream_group_id = "group-7";
    request.client_ip = "::ffff:198.51.100.23";
    request.domain = "Player.Example.com";
    tok::VerifyResult r = verifier.Verify(jwt, request, *keys, now);
    ++checked;
    std::cout << "core verifies PyJWT " << alg << ": "
              << (r.allowed ? "allowed" : tok::DenyReasonName(r.reason)) << " ("
              << r.detail << ")\n";
    if (!r.allowed || !r.algorithm.has_value() ||
        tok::AlgorithmName(*r.algorithm) != alg) {
      ++failures;
      continue;
    }
    // A tampered copy (one signature character changed) must be refused.
    std::string tampered = jwt;
    const size_t pos = tampered.rfind('.') + 5;
    tampered[pos] = tampered[pos] == 'A' ? 'B' : 'A';
    tok::VerifyResult bad = verifier.Verify(tampered, request, *keys, now);
    if (bad.allowed || bad.reason != tok::DenyReason::kBadSignature) {
      std::cerr << alg << ": tampered token not refused as BAD_SIGNATURE ("
                << tok::DenyReasonName(bad.reason) << ")\n";
      ++failures;
    }
  }
  if (checked != 4) {
    std::cerr << "expected 4 PyJWT tokens, got " << checked << "\n";
    ++failures;
  }
  std::cout << "core checked " << checked << " PyJWT tokens, " << failures
            << " failures\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "sign") return Sign(argv[2]);
  if (argc == 3 && std::string(argv[1]) == "verify") return Verify(argv[2]);
  std::cerr << "usage: token_interop sign|verify DIR\n";
  return 2;
}

// token_selfcheck: generates an ES256 key, signs a token, verifies it and
// prints the JWK Set and the verdict. Exit status 0 iff the token verified and
// a tampered copy was refused.
#include <cstdio>
#include <string>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/random.h"
#include "token/deny_reason.h"
#include "token/key_set.h"
#include "token/time_util.h"
#include "token/token_spec.h"
#include "token/verifier.h"

namespace ta = token_authority;
namespace tok = token_authority::token;

int main() {
  const absl::Time now = ta::Clock::Real().Now();
  auto key = tok::SigningKey::Generate(tok::Algorithm::kEs256, now,
                                       ta::RandomSource::Secure());
  if (!key.ok()) {
    std::fprintf(stderr, "key generation failed: %s\n",
                 std::string(key.status().message()).c_str());
    return 1;
  }
  const std::string org = "selfcheck-org";
  auto keys = tok::KeySet::Create(
      org, {{std::shared_ptr<const tok::SigningKey>(*std::move(key)),
             tok::KeyState::kPrimary}});
  if (!keys.ok()) {
    std::fprintf(stderr, "key set: %s\n",
                 std::string(keys.status().message()).c_str());
    return 1;
  }
  tok::TokenSpec spec;
  spec.target = tok::Target::Streams({"stream-1", "stream-2"});
  spec.lifetime = absl::Hours(1);
  spec.domain = "*.example.com";
  spec.tag = "selfcheck";
  auto claims = tok::ClaimsFromSpec(spec, tok::TokenLimits{}, now,
                                    "token-authority-selfcheck", org,
                                    ta::RandomSource::Secure());
  if (!claims.ok()) {
    std::fprintf(stderr, "claims: %s\n",
                 std::string(claims.status().message()).c_str());
    return 1;
  }
  auto signed_token = keys->Sign(*claims);
  if (!signed_token.ok()) {
    std::fprintf(stderr, "signing: %s\n",
                 std::string(signed_token.status().message()).c_str());
    return 1;
  }
  tok::TokenVerifier verifier;
  tok::PlaybackRequest request;
  request.organization_id = org;
  request.stream_name = "stream-2";
  request.domain = "player.example.com";
  tok::VerifyResult ok =
      verifier.Verify(signed_token->jwt, request, *keys, now);

  std::string tampered = signed_token->jwt;
  tampered[tampered.size() / 2] =
      tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  tok::VerifyResult bad = verifier.Verify(tampered, request, *keys, now);

  std::printf("JWKS: %s\n", keys->ToJwksJson().c_str());
  std::printf("kid: %s  alg: ES256  expires: %s\n",
              signed_token->key_id.c_str(),
              tok::FormatRfc3339(claims->expires_at()).c_str());
  std::printf("token: %s\n", signed_token->jwt.c_str());
  std::printf("verify: allowed=%s reason=%s detail=%s token_id=%s\n",
              ok.allowed ? "true" : "false",
              std::string(tok::DenyReasonName(ok.reason)).c_str(),
              ok.detail.c_str(), ok.token_id.c_str());
  std::printf("tampered: allowed=%s reason=%s detail=%s\n",
              bad.allowed ? "true" : "false",
              std::string(tok::DenyReasonName(bad.reason)).c_str(),
              bad.detail.c_str());
  const bool pass = ok.allowed && !bad.allowed;
  std::printf("selfcheck: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

// libFuzzer target: JWK Set and JWK parsing by the token core (ParseJwks,
// KeySet::FromJwks, SigningKey::FromJwk, JwkThumbprint). Properties:
//  - a JWK Set never yields a key that can sign (no private material);
//  - every parsed key's public JWK parses back to the same kid and
//    algorithm, and a JWK Set written from the parsed keys parses back to
//    the same kids;
//  - ParseJwks and KeySet::FromJwks agree on success (which also catches a
//    randomised key check: the RSA finding in
//    tests/hardening/fuzz_findings_test.cc came from here).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_common.h"
#include "token/algorithm.h"
#include "token/jwk.h"
#include "token/key_set.h"
#include "token/signing_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;        // NOLINT
  using namespace token_authority::fuzz;  // NOLINT
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  const auto keys = token::ParseJwks(input, kNow);
  const auto set = token::KeySet::FromJwks(kOrganization, input, kNow);
  if (keys.ok() != set.ok()) {
    std::fprintf(stderr, "ParseJwks: %s; KeySet::FromJwks: %s\n",
                 keys.status().ToString().c_str(),
                 set.status().ToString().c_str());
  }
  FUZZ_CHECK(keys.ok() == set.ok());
  if (keys.ok()) {
    std::vector<const token::SigningKey*> raw;
    for (const auto& key : *keys) {
      FUZZ_CHECK(key != nullptr);
      FUZZ_CHECK(!key->can_sign());
      FUZZ_CHECK(token::IsAsymmetric(key->algorithm()));
      FUZZ_CHECK(set->Find(key->kid()) != nullptr);
      const absl::StatusOr<std::string> jwk = key->PublicJwkJson();
      FUZZ_CHECK(jwk.ok());
      const auto back = token::SigningKey::FromJwk(*jwk, kNow);
      FUZZ_CHECK(back.ok());
      FUZZ_CHECK((*back)->kid() == key->kid());
      FUZZ_CHECK((*back)->algorithm() == key->algorithm());
      // Verification with a foreign key never crashes and never succeeds
      // for garbage.
      FUZZ_CHECK(!key->Verify("e30.e30", "not a signature"));
      raw.push_back(key.get());
    }
    const std::string rewritten = token::ToJwksJson(raw);
    const auto again = token::ParseJwks(rewritten, kNow);
    if (!again.ok()) {
      std::fprintf(stderr, "rewritten JWK Set %s: %s\n", rewritten.c_str(),
                   again.status().ToString().c_str());
    }
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->size() == keys->size());
    for (size_t i = 0; i < keys->size(); ++i) {
      FUZZ_CHECK((*again)[i]->kid() == (*keys)[i]->kid());
    }
  }

  const auto one = token::SigningKey::FromJwk(input, kNow);
  if (one.ok() && token::IsAsymmetric((*one)->algorithm())) {
    const absl::StatusOr<std::string> jwk = (*one)->PublicJwkJson();
    FUZZ_CHECK(jwk.ok());
    const auto back = token::SigningKey::FromJwk(*jwk, kNow);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK((*back)->kid() == (*one)->kid());
    const absl::StatusOr<std::string> thumb = (*one)->Thumbprint();
    FUZZ_CHECK(thumb.ok());
    const absl::StatusOr<std::string> thumb_of_jwk = token::JwkThumbprint(*jwk);
    FUZZ_CHECK(thumb_of_jwk.ok() && *thumb_of_jwk == *thumb);
  }
  (void)token::JwkThumbprint(input);
  return 0;
}

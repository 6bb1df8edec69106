// Fixed keys and time for the fuzz targets, so that a crash input replays
// the same way on every run and seeds made by make_seeds verify.
//
// THROWAWAY TEST KEYS: the ES256, EdDSA and HS256 keys are the published
// examples of RFC 7515 (A.3, A.1) and RFC 8037 (A.1); the RSA key was
// generated for these fuzz targets only. Never use them for anything else.
#include "tests/fuzz/fuzz_common.h"

#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "token/signing_key.h"

namespace token_authority::fuzz {
namespace {

constexpr char kEs256Jwk[] =
    R"({"kty":"EC","crv":"P-256",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",)"
    R"("d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"})";
constexpr char kEdDsaJwk[] =
    R"({"kty":"OKP","crv":"Ed25519",)"
    R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
    R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
constexpr char kHs256Jwk[] =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
constexpr char kRsaPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC+MDBzuEX6BcCV\n"
    "uSyS0Q3nVpTtg9vBjlItHIMvTu4SbZzZ+SbcjoWGfD2E/BMflsWuFJ2W+id+XbZT\n"
    "ClUXgG4jsIOTG3nGRJ6c8YOPQhs+CXwu6VCQrhGsJdJai0X/amRgdJw7UjTzCIvt\n"
    "1HMoKQ0Pah5uxzyrA/YiQCOFoQjC13rFtqKk8Lfyas1rgqHa5UiyWUv8Wr9xeWhy\n"
    "s7w5TOB+gYW2MaubHBZdU3mLWtGWGwKNH89+ZTwBNuVTw/oI3B4Guvg3Olt4ICGc\n"
    "lxw2CUMyTn3wwBhKfv43YdihpAHO+KtaJpF7OM1QZXj09irdQQe7+EZN+GtEwXCn\n"
    "wEfnvEnxAgMBAAECggEABnerzCGb8pPDv+utP/xfM0ra02VgoZlCAuH1dZRC7QpA\n"
    "c1qhR06K7J74thce3NwDEqeFkOLmmSndZ39CU8Nkq27HGKduaY8/kBF38nUSaVaH\n"
    "/C3ntRXQSMj7+WODULtY2L1aazuBTLLxlDe9Z0QXGzs19/krP1sKAZHqC1Mlsb90\n"
    "S8eEsjafolyJL7qLeW2qQS7pskCwlkO9AFYKevEKufo8IfP36toYRu+clEdv7CxQ\n"
    "uJhhOZzr41RfAUbkZQOcFN4w8c60lG/UU5HEscbt88dUujqAeoWxWsanikJIYWMg\n"
    "HWvUsJwkZZFokh4fR10+9N2UcXUoVRPpLrPRN5rHSQKBgQDzJIiCfH+so1rWShAv\n"
    "3fZ4iBwzrgsdtyW5B9Tau9eusWqCqZLFWa2p5ptjRaaruwTi6G2hd3C5qjmGKp0B\n"
    "C4SvNtILezXapArPh96j9g8dGhgyauMNwtaYB3zhZKw6ZtS4Gai7nyuiAc3w6TBu\n"
    "+8VEnrjPcyJeQ3ZsPqYC0R3SaQKBgQDIPs1D3rdj5z6KC+WbW7oU43IbQlWuSFM5\n"
    "UtRVftVrzsnkt3ZhQgTFvf5mQyy5DDzGW3hDbB+gw//YlsrMmn8JjsMcfcx9IuTU\n"
    "e7fv1nSotJo6+ZT+lKz+ZGN1LFxnDiPOblhKBxbU7hh4aAwpGBYjVT4M5fAqIEPv\n"
    "775XPyO6SQKBgQCVVsIVy1wr8CWx6smobN+expLz1xlyxfQAguPk+W0PGl9+I6NH\n"
    "Xb6B1WdpgPVPE058BCCaBR+SmhA87N2EL8vuRnCaprG8Ofd94kkIUfCUgluMVARj\n"
    "hmGB/U9hrRDvygsrjG8L1kbZedxA9SlPcYqHjCmdGW1pkmwhLhWPM1vqyQKBgBbu\n"
    "YjFAgv3U0GucmymkYnXb6ghHG2q+65Dn9FrqEGStJJ+lhs/ycHt4m3Z4gNmcFiWc\n"
    "+fO2oRSW/Wh/NDAkDSI6EAvmOBGoek3+8PxtMaTUMclJJY/V1M25D06uytIeY2lT\n"
    "Z5bqoum1bmXzfFkEYhyfuWBewJcCZOVILiLtnxjJAoGABJBhWjyyg496fdwpeePp\n"
    "7b4+bQgmqrlUaiBamDbmlB92LhQPO3lG4qGO4Jul38ZlzF97EHnhujrpyyRsV8ya\n"
    "WZnEleLbq+mdsquculJhKhzhFFcwVV9EzgaOv13TQOfxE1205AA8aAhQKupRhIT2\n"
    "Hh8zee3mrBrV9kB/Xh5tu9k=\n"
    "-----END PRIVATE KEY-----\n";

std::shared_ptr<const token::SigningKey> MustKey(
    absl::StatusOr<std::unique_ptr<const token::SigningKey>> key) {
  if (!key.ok()) {
    std::fprintf(stderr, "fuzz key: %s\n", key.status().ToString().c_str());
    std::abort();
  }
  return std::move(*key);
}

}  // namespace

const FuzzKeys& Keys() {
  static const FuzzKeys* const keys = [] {
    auto* k = new FuzzKeys();
    const absl::Time created = absl::FromUnixSeconds(1700000000);
    k->es256 = MustKey(token::SigningKey::FromJwk(kEs256Jwk, created));
    k->rs256 = MustKey(token::SigningKey::FromPrivateKey(
        token::Algorithm::kRs256, kRsaPem, created));
    k->eddsa = MustKey(token::SigningKey::FromJwk(kEdDsaJwk, created));
    k->hs256 = MustKey(token::SigningKey::FromJwk(kHs256Jwk, created));
    std::vector<token::KeySetEntry> entries = {
        {k->es256, token::KeyState::kPrimary},
        {k->rs256, token::KeyState::kActive},
        {k->eddsa, token::KeyState::kActive},
        {k->hs256, token::KeyState::kActive},
    };
    absl::StatusOr<token::KeySet> set =
        token::KeySet::Create(kOrganization, std::move(entries));
    if (!set.ok()) {
      std::fprintf(stderr, "fuzz key set: %s\n",
                   set.status().ToString().c_str());
      std::abort();
    }
    k->set = std::make_unique<token::KeySet>(std::move(*set));
    return k;
  }();
  return *keys;
}

}  // namespace token_authority::fuzz

// Writes the seed corpora of the fuzz targets into <dir>/<target>/ (the
// committed tests/fuzz/corpus/ was made by it): tokens signed by the fixed
// fuzz keys and the RFC 7515 / RFC 8037 example tokens, JWK Sets, serialized
// TokenSpec protos, page paths and page tokens. Deterministic except for the
// ES256 signatures (ECDSA is randomised).
//
//   make_seeds tests/fuzz/corpus
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/random.h"
#include "storage/page_token.h"
#include "tests/fuzz/fuzz_common.h"
#include "token/base64url.h"
#include "token/claims.h"
#include "token/jwk.h"
#include "token/key_set.h"
#include "token/target.h"
#include "tokenauthority/v1/types.pb.h"

namespace token_authority::fuzz {
namespace {

int g_failures = 0;

void Write(const std::string& dir, const std::string& target,
           const std::vector<std::string>& seeds) {
  const std::string d = absl::StrCat(dir, "/", target);
  ::mkdir(dir.c_str(), 0755);
  ::mkdir(d.c_str(), 0755);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(absl::StrCat(d, "/seed-", i), std::ios::binary);
    out << seeds[i];
    if (!out) ++g_failures;
  }
  std::printf("%s: %zu seeds\n", target.c_str(), seeds.size());
}

std::string SignWith(const token::SigningKey& key, const token::Claims& c) {
  const std::string header =
      absl::StrCat("{\"alg\":\"", token::AlgorithmName(key.algorithm()),
                   "\",\"typ\":\"JWT\",\"kid\":\"", key.kid(), "\"}");
  const std::string input = absl::StrCat(token::Base64UrlEncode(header), ".",
                                         token::Base64UrlEncode(c.ToJson()));
  absl::StatusOr<std::string> sig = key.Sign(input);
  if (!sig.ok()) ++g_failures;
  return absl::StrCat(input, ".", token::Base64UrlEncode(sig.value_or("")));
}

std::vector<std::string> JwtSeeds() {
  const FuzzKeys& k = Keys();
  std::vector<token::Claims> claims;
  FakeRandom random(42);
  const std::vector<token::Target> targets = {
      token::Target::StreamGroup("grp"),
      token::Target::Streams({"cam1", "cam2"}), token::Target::Organization()};
  for (size_t i = 0; i < targets.size(); ++i) {
    token::ClaimsBuilder b;
    b.SetIssuer("token-authority")
        .SetIssuedAt(kNow - absl::Minutes(5))
        .SetExpiresAt(kNow + absl::Hours(1))
        .SetOrganizationId(kOrganization)
        .SetTarget(targets[i]);
    if (i == 1) b.SetClientIp("203.0.113.0/24").SetDomain("*.example.com");
    if (i == 2) b.SetUserId("user-7").SetTag("campaign");
    absl::StatusOr<token::Claims> c = b.Build(random);
    if (!c.ok()) {
      ++g_failures;
      continue;
    }
    claims.push_back(*c);
  }
  std::vector<std::string> seeds;
  for (const token::SigningKey* key :
       {k.es256.get(), k.rs256.get(), k.eddsa.get(), k.hs256.get()}) {
    for (const token::Claims& c : claims) seeds.push_back(SignWith(*key, c));
  }
  // RFC 7515 A.1 (HS256) and A.3 (ES256), RFC 8037 A.4 (EdDSA): the same
  // keys as the fuzz key set, without "kid".
  seeds.push_back(
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
      "bS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  seeds.push_back(
      "eyJhbGciOiJFUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNv"
      "bS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"
      "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  seeds.push_back(
      "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-"
      "09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7s"
      "VvpAr_MuM0KAg");
  // Raw claims and headers, for the direct parsers.
  for (const token::Claims& c : claims) seeds.push_back(c.ToJson());
  seeds.push_back(absl::StrCat("{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"",
                               k.es256->kid(), "\",\"crit\":[\"exp\"]}"));
  seeds.push_back("{\"alg\":\"none\"}");
  return seeds;
}

std::vector<std::string> JwksSeeds() {
  const FuzzKeys& k = Keys();
  std::vector<std::string> seeds;
  seeds.push_back(k.set->ToJwksJson());
  for (const token::SigningKey* key :
       {k.es256.get(), k.rs256.get(), k.eddsa.get()}) {
    absl::StatusOr<std::string> jwk = key->PublicJwkJson();
    if (!jwk.ok()) ++g_failures;
    seeds.push_back(jwk.value_or(""));
    seeds.push_back(absl::StrCat("{\"keys\":[", jwk.value_or(""), "]}"));
  }
  seeds.push_back(
      R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})");
  seeds.push_back(R"({"keys":[]})");
  seeds.push_back(
      R"({"keys":[{"kty":"EC","crv":"P-256","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  return seeds;
}

std::vector<std::string> SpecSeeds() {
  std::vector<std::string> seeds;
  auto add = [&](const tokenauthority::v1::TokenSpec& s) {
    seeds.push_back(s.SerializeAsString());
  };
  tokenauthority::v1::TokenSpec s;
  s.mutable_target()->set_stream_group_id("grp-1");
  add(s);
  s.mutable_lifetime()->set_seconds(3600);
  s.set_client_ip("203.0.113.0/24");
  s.set_domain("*.example.com");
  s.set_user_id("user-7");
  s.set_tag("campaign");
  add(s);
  tokenauthority::v1::TokenSpec t;
  t.mutable_target()->mutable_stream_names()->add_names("cam1");
  t.mutable_target()->mutable_stream_names()->add_names("cam2");
  t.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow) + 86400);
  t.mutable_not_before()->set_seconds(absl::ToUnixSeconds(kNow) + 60);
  add(t);
  tokenauthority::v1::TokenSpec o;
  o.mutable_target()->set_organization(true);
  o.mutable_lifetime()->set_seconds(1);
  o.mutable_lifetime()->set_nanos(500000000);
  o.set_client_ip("2001:db8::/32");
  add(o);
  tokenauthority::v1::TokenSpec bad;
  bad.mutable_target()->set_organization(false);
  bad.mutable_lifetime()->set_seconds(-5);
  bad.mutable_expires_at()->set_seconds(1);
  bad.set_domain("exa mple.com");
  add(bad);
  return seeds;
}

std::vector<std::string> PagePathSeeds() {
  return {"playout/abc-123",
          "/stream/abc-123",
          "stream/abc-123/code-snippets",
          "stream/new/abc-123",
          "webcaster/abc-123/",
          "https://dash.example.com/stream/abc%2D123?x=1#top",
          "dash.example.com/playout/abc-123",
          "settings/abc"};
}

std::vector<std::string> PageTokenSeeds() {
  const std::string binding = storage::PageBinding({"fuzz-org", "tag=x"});
  std::vector<std::string> seeds;
  seeds.push_back(
      storage::EncodePageToken(storage::PageKind::kTokens, binding,
                               storage::EncodeInt64Pair(1767225600000000, 42)));
  seeds.push_back(storage::EncodePageToken(storage::PageKind::kAuditEvents,
                                           binding,
                                           storage::EncodeInt64Pair(7, -1)));
  seeds.push_back(storage::EncodePageToken(storage::PageKind::kOrganizations,
                                           binding, "org-17"));
  seeds.push_back(std::string("\x01", 1) + binding + "payload");
  return seeds;
}

}  // namespace
}  // namespace token_authority::fuzz

int main(int argc, char** argv) {
  using namespace token_authority::fuzz;  // NOLINT
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus dir>\n");
    return 2;
  }
  const std::string dir = argv[1];
  Write(dir, "fuzz_jwt", JwtSeeds());
  Write(dir, "fuzz_jwks", JwksSeeds());
  Write(dir, "fuzz_token_spec", SpecSeeds());
  Write(dir, "fuzz_page_path", PagePathSeeds());
  Write(dir, "fuzz_page_token", PageTokenSeeds());
  return g_failures == 0 ? 0 : 1;
}

// Regression tests for what the fuzz targets (tests/fuzz/) found. Each test
// replays a minimised finding deterministically. Failing tests name a bug in
// another layer that is still open.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/dialog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "token/jwk.h"
#include "token/signing_key.h"

namespace token_authority {
namespace {

using ::token_authority::testing::IsOk;

// fuzz_jwks, crash-c85ab283...: an RSA JWK whose modulus (2048 bits) has the
// small factors 1009, 14951 and 37963, so it is no RSA modulus.
constexpr char kBadModulusJwk[] =
    R"({"kty":"RSA","n":"vjAwc7hF-gXAlbksktEN51aU7YPbwY5SLRyDL07uEm2c2fkm3I6Fhnw9hPwTH5bFrhSdlvonfl22UwpVF4BuI7CDkxt5xkSenPGDj0IbPgl8LulQkK4RrCXSWotF_2pkYHScO1I08wiL7dRDoCzNkK2ebsc8qwP2IkAjhaEIwtd6xbaipPC38mrNa4Kh2uVIsllL_Fq_cXlocrO8OUzgfoGFtjGrmxwWXVN5i1rRlhsCjR_PfmU8ATblU8P6CNweBrr4NzpbeCAhnJccNglDMk598MAYSn7-N1HYoaQBzvirWiaRezjNUGV49PYq3UEHu_hGTfhrRMFwp8BH57xJ8Q","e":"AQAB","alg":"RS256","use":"sig"})";

// BUG (token/signing_key.cc, RsaFromJwk): the only validation of an RSA
// public key is EVP_PKEY_public_check, whose SP 800-56B modulus test in
// OpenSSL 3.0 runs Miller-Rabin with RANDOM bases and refuses the key only
// when a base happens to reveal a factor. The same JWK (and any JWK Set
// holding it) is therefore accepted on some attempts and refused on others:
// ParseJwks/KeySet::FromJwks/SigningKey::FromJwk are not deterministic, and
// a key that is no RSA modulus at all is often accepted. Expected: refused,
// every time (e.g. reject moduli with a small prime factor deterministically
// before the OpenSSL check).
TEST(FuzzFindingsTest, RsaJwkWithAFactoredModulusIsRefusedEveryTime) {
  const absl::Time t = absl::FromUnixSeconds(1700000000);
  int accepted = 0;
  constexpr int kAttempts = 200;
  for (int i = 0; i < kAttempts; ++i) {
    if (token::SigningKey::FromJwk(kBadModulusJwk, t).ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 0) << "accepted " << accepted << " of " << kAttempts
                         << " times";
  const std::string jwks = absl::StrCat("{\"keys\":[", kBadModulusJwk, "]}");
  int parsed = 0;
  for (int i = 0; i < kAttempts; ++i) {
    if (token::ParseJwks(jwks, t).ok()) ++parsed;
  }
  EXPECT_EQ(parsed, 0) << "JWK Set accepted " << parsed << " of " << kAttempts
                       << " times";
}

// BUG (client/dialog.cc, PagePath): ParsePagePath accepts percent-encoded
// stream ids holding '#', '?', '/' or '%' (and the id "new" for a stream
// page), but PagePath writes them back unencoded, so the "canonical" path
// names another page or stream, or does not parse at all. fuzz_page_path,
// crash-5900f506...: "webcaster/+webcasterabc-%23/". Expected: PagePath
// percent-encodes what the parser would otherwise read as syntax, so that
// ParsePagePath(PagePath(x)) == x for every accepted x.
TEST(FuzzFindingsTest, PagePathRoundTripsEveryAcceptedPath) {
  for (const char* path :
       {"webcaster/+webcasterabc-%23/", "stream/a%3Fb", "playout/a%2Fb",
        "stream/a%2541", "stream/new", "stream/%6Eew/code-snippets",
        "stream/new/new", "stream/abc%23/code-snippets"}) {
    SCOPED_TRACE(path);
    const absl::StatusOr<client::PageLocation> loc =
        client::ParsePagePath(path);
    if (!loc.ok()) continue;  // refusing is fine
    const std::string canonical = client::PagePath(*loc);
    const absl::StatusOr<client::PageLocation> again =
        client::ParsePagePath(canonical);
    ASSERT_THAT(again, IsOk()) << "canonical path " << canonical;
    EXPECT_EQ(again->page, loc->page) << canonical;
    EXPECT_EQ(again->stream_id, loc->stream_id) << canonical;
  }
}

}  // namespace
}  // namespace token_authority

#include "token/jws.h"

#include <string>

#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/token_test_util.h"
#include "token/base64url.h"

namespace token_authority::token {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SignRaw;
using ::token_authority::testing::StatusIs;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// RFC 7515 Appendix A.1 (HS256) and A.3 (ES256).
constexpr char kA1Jwk[] =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"})";
constexpr char kA1Jws[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS"
    "9pc"
    "19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kA3Jwk[] =
    R"({"kty":"EC","crv":"P-256",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr char kA3Jws[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS"
    "9pc"
    "19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"
    "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqP"
    "P3-Kg6NU1Q";
constexpr char kRfcPayload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n "
    "\"http://example.com/is_root\":true}";

TEST(JwsTest, Rfc7515A1Hs256) {
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(kA1Jwk, kNow));
  ASSERT_OK_AND_ASSIGN(VerifiedJws v, VerifyJws(kA1Jws, *key));
  EXPECT_EQ(v.header_json, "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}");
  EXPECT_EQ(v.header.typ, "JWT");
  EXPECT_EQ(v.payload, kRfcPayload);
  // HMAC is deterministic: signing the RFC's input reproduces its signature.
  const std::string input(kA1Jws, std::string(kA1Jws).rfind('.'));
  ASSERT_OK_AND_ASSIGN(std::string sig, key->Sign(input));
  EXPECT_EQ(Base64UrlEncode(sig),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  std::string tampered = kA1Jws;
  tampered[tampered.size() - 3] = 'A';
  EXPECT_THAT(VerifyJws(tampered, *key),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(JwsTest, Rfc7515A3Es256) {
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(kA3Jwk, kNow));
  ASSERT_OK_AND_ASSIGN(VerifiedJws v, VerifyJws(kA3Jws, *key));
  EXPECT_EQ(v.header_json, "{\"alg\":\"ES256\"}");
  EXPECT_EQ(v.payload, kRfcPayload);
}

TEST(JwsTest, AlgorithmMustMatchKey) {
  ASSERT_OK_AND_ASSIGN(auto hs, SigningKey::FromJwk(kA1Jwk, kNow));
  ASSERT_OK_AND_ASSIGN(auto es, SigningKey::FromJwk(kA3Jwk, kNow));
  EXPECT_THAT(VerifyJws(kA1Jws, *es),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("HS256")));
  EXPECT_THAT(VerifyJws(kA3Jws, *hs),
              StatusIs(absl::StatusCode::kUnimplemented));
}

TEST(JwsTest, EncodeWritesStandardHeader) {
  FakeRandom random;
  ASSERT_OK_AND_ASSIGN(auto key,
                       SigningKey::Generate(Algorithm::kEs256, kNow, random));
  ASSERT_OK_AND_ASSIGN(std::string jwt, EncodeJws("{\"a\":1}", *key));
  ASSERT_OK_AND_ASSIGN(JwsSegments seg, SplitJws(jwt));
  ASSERT_OK_AND_ASSIGN(std::string header, Base64UrlDecode(seg.header_b64));
  EXPECT_EQ(header, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"" +
                        key->kid() + "\"}");
  ASSERT_OK_AND_ASSIGN(VerifiedJws v, VerifyJws(jwt, *key));
  EXPECT_EQ(v.payload, "{\"a\":1}");
  EXPECT_EQ(v.header.kid, key->kid());
}

TEST(JwsTest, SplitRules) {
  ASSERT_OK_AND_ASSIGN(JwsSegments s, SplitJws("aa.bb.cc"));
  EXPECT_EQ(s.header_b64, "aa");
  EXPECT_EQ(s.payload_b64, "bb");
  EXPECT_EQ(s.signature_b64, "cc");
  EXPECT_EQ(s.signing_input, "aa.bb");
  ASSERT_OK_AND_ASSIGN(JwsSegments empty_payload, SplitJws("aa..cc"));
  EXPECT_EQ(empty_payload.payload_b64, "");
  for (const char* bad : {"", "aa", "aa.bb", "aa.bb.cc.dd", "a.b.c.d.e",
                          ".bb.cc", "aa.bb.", "...."}) {
    EXPECT_THAT(SplitJws(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  std::string big(kMaxTokenBytes + 1, 'a');
  big[10] = '.';
  big[20] = '.';
  EXPECT_THAT(SplitJws(big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8192")));
  std::string max(kMaxTokenBytes, 'a');
  max[10] = '.';
  max[20] = '.';
  EXPECT_TRUE(SplitJws(max).ok());
}

TEST(JwsTest, HeaderParsing) {
  ASSERT_OK_AND_ASSIGN(
      JwsHeader h,
      ParseJwsHeader(
          R"({"alg":"ES256","kid":"k","typ":"JWT","crit":["exp"],"jku":"https://x","x5c":[]})"));
  EXPECT_EQ(h.alg, "ES256");
  EXPECT_TRUE(h.has_kid);
  EXPECT_EQ(h.kid, "k");
  EXPECT_TRUE(h.has_crit);
  EXPECT_THAT(h.crit, ElementsAre("exp"));
  EXPECT_THAT(h.key_source_members, ElementsAre("jku", "x5c"));
  const std::pair<const char*, const char*> kBad[] = {
      {"[]", "JSON object"},
      {"{}", "no \"alg\""},
      {R"({"alg":1})", "must be a string"},
      {R"({"alg":"ES256","kid":5})", "\"kid\" must be a string"},
      {R"({"alg":"ES256","crit":[]})", "non-empty array"},
      {R"({"alg":"ES256","crit":"exp"})", "non-empty array"},
      {R"({"alg":"ES256","crit":[1]})", "strings only"},
      {R"({"alg":"ES256","alg":"HS256"})", "duplicate"},
      {"{\"alg\":\"ES256\"", "not valid JSON"},
  };
  for (const auto& [json, why] : kBad) {
    EXPECT_THAT(ParseJwsHeader(json),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)))
        << json;
  }
}

TEST(JwsTest, VerifyJwsRefusesCritAndKeySources) {
  ASSERT_OK_AND_ASSIGN(auto key, SigningKey::FromJwk(kA1Jwk, kNow));
  EXPECT_THAT(
      VerifyJws(SignRaw(R"({"alg":"HS256","crit":["x"],"x":1})", "p", *key),
                *key),
      StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("crit")));
  EXPECT_THAT(
      VerifyJws(SignRaw(R"({"alg":"HS256","jwk":{}})", "p", *key), *key),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jwk")));
  EXPECT_THAT(
      VerifyJws("e30.cA.AA==", *key),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("signature")));
}

TEST(TrimPastedTokenTest, WhitespaceAndBearer) {
  EXPECT_EQ(TrimPastedToken("  a.b.c\n"), "a.b.c");
  EXPECT_EQ(TrimPastedToken("Bearer a.b.c"), "a.b.c");
  EXPECT_EQ(TrimPastedToken(" bEaReR   a.b.c "), "a.b.c");
  EXPECT_EQ(TrimPastedToken("Bearer"), "Bearer");   // no token after it
  EXPECT_EQ(TrimPastedToken("Bearer "), "Bearer");  // the word alone
  EXPECT_EQ(TrimPastedToken("Bearerx.y.z"), "Bearerx.y.z");
  EXPECT_EQ(TrimPastedToken(""), "");
}

}  // namespace
}  // namespace token_authority::token

#include "token/verifier.h"

#include <openssl/bn.h>
#include <openssl/ec.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/token/token_test_util.h"
#include "token/base64url.h"
#include "token/jws.h"

namespace token_authority::token {
namespace {

using ::testing::HasSubstr;
using testing::HeaderFor;
using ::testing::Not;
using testing::SignRaw;

const absl::Time kT = absl::FromUnixSeconds(1750000000);  // iat = nbf
const absl::Time kExp = kT + absl::Hours(1);

std::shared_ptr<const SigningKey> Key(Algorithm alg, uint64_t seed = 1) {
  FakeRandom random(seed);
  auto k = SigningKey::Generate(alg, kT, random);
  EXPECT_TRUE(k.ok()) << k.status();
  return std::shared_ptr<const SigningKey>(*std::move(k));
}

struct Keys {
  std::shared_ptr<const SigningKey> es = Key(Algorithm::kEs256);
  std::shared_ptr<const SigningKey> rs = Key(Algorithm::kRs256);
  std::shared_ptr<const SigningKey> ed = Key(Algorithm::kEdDsa);
  std::shared_ptr<const SigningKey> hs = Key(Algorithm::kHs256, 11);
  std::shared_ptr<const SigningKey> retired = Key(Algorithm::kEs256, 2);
  std::shared_ptr<const SigningKey> other_org = Key(Algorithm::kEs256, 3);
};

const Keys& K() {
  static const Keys* const kKeys = new Keys();
  return *kKeys;
}

class FixedHooks : public VerifyHooks {
 public:
  bool disabled = false;
  std::string revoked_jti;
  mutable int calls = 0;
  bool IsOrganizationDisabled(absl::string_view) const override {
    ++calls;
    return disabled;
  }
  bool IsRevoked(const Claims& c) const override {
    ++calls;
    return c.token_id() == revoked_jti;
  }
};

// Every VerifierTest runs twice: without a cache, and with a verified-token
// cache through which each V() verifies twice (the second time from the
// cache when the first passed rules 1-10) and expects the same verdict.
class VerifierTest : public ::testing::TestWithParam<bool> {
 protected:
  VerifierTest()
      : verifier_(VerifierOptions{
            absl::Seconds(60),
            GetParam() ? std::make_shared<VerifiedTokenCache>(64) : nullptr}) {
    auto a = KeySet::Create("org-a", {{K().es, KeyState::kPrimary},
                                      {K().rs, KeyState::kActive},
                                      {K().ed, KeyState::kActive},
                                      {K().hs, KeyState::kActive},
                                      {K().retired, KeyState::kRetired}});
    EXPECT_TRUE(a.ok()) << a.status();
    org_a_ = std::make_unique<KeySet>(*a);
    auto b = KeySet::Create("org-b", {{K().other_org, KeyState::kPrimary}});
    EXPECT_TRUE(b.ok()) << b.status();
    org_b_ = std::make_unique<KeySet>(*b);
    request_.organization_id = "org-a";
    request_.stream_group_id = "grp";
    request_.stream_name = "s1";
    request_.client_ip = "203.0.113.7";
    request_.domain = "www.example.com";
  }

  ClaimsBuilder Base(std::string org = "org-a") {
    ClaimsBuilder b;
    b.SetIssuer("https://tokens.example")
        .SetTokenId("AAECAwQFBgcICQoLDA0ODw")
        .SetIssuedAt(kT)
        .SetExpiresAt(kExp)
        .SetOrganizationId(std::move(org))
        .SetTarget(Target::Streams({"s1", "s2"}));
    return b;
  }

  std::string Sign(const ClaimsBuilder& b, const SigningKey& key) {
    auto c = b.Build();
    EXPECT_TRUE(c.ok()) << c.status();
    auto jwt = EncodeJws(c->ToJson(), key);
    EXPECT_TRUE(jwt.ok()) << jwt.status();
    return *jwt;
  }
  std::string Good() { return Sign(Base(), *K().es); }

  VerifyResult V(absl::string_view jwt, absl::Time now = kT + absl::Minutes(1),
                 const VerifyHooks* hooks = nullptr) {
    return Verify(jwt, *org_a_, now, hooks);
  }

  // Options with `leeway` and, in the cached runs, a cache of their own.
  VerifierOptions WithLeeway(absl::Duration leeway) {
    return VerifierOptions{
        leeway,
        GetParam() ? std::make_shared<VerifiedTokenCache>(64) : nullptr};
  }

  VerifyResult Verify(absl::string_view jwt, const KeySet& keys,
                      absl::Time now = kT + absl::Minutes(1),
                      const VerifyHooks* hooks = nullptr) {
    VerifyResult first = verifier_.Verify(jwt, request_, keys, now, hooks);
    if (verifier_.options().cache == nullptr) return first;
    VerifyResult again = verifier_.Verify(jwt, request_, keys, now, hooks);
    EXPECT_EQ(again.allowed, first.allowed);
    EXPECT_EQ(again.reason, first.reason);
    EXPECT_EQ(again.detail, first.detail);
    EXPECT_EQ(again.token_id, first.token_id);
    EXPECT_EQ(again.key_id, first.key_id);
    EXPECT_EQ(again.algorithm, first.algorithm);
    EXPECT_EQ(again.claims.has_value(), first.claims.has_value());
    if (again.claims.has_value() && first.claims.has_value()) {
      EXPECT_EQ(again.claims->ToJson(), first.claims->ToJson());
    }
    return again;
  }

  TokenVerifier verifier_;
  std::unique_ptr<KeySet> org_a_, org_b_;
  PlaybackRequest request_;
};

#define EXPECT_DENIED(result, why)                                          \
  do {                                                                      \
    const VerifyResult& r_ = (result);                                      \
    EXPECT_FALSE(r_.allowed);                                               \
    EXPECT_EQ(DenyReasonName(r_.reason), DenyReasonName(why)) << r_.detail; \
  } while (0)

// ---------------------------------------------------------------- allowed

TEST_P(VerifierTest, AllowsEveryAlgorithm) {
  for (const SigningKey* key :
       {K().es.get(), K().rs.get(), K().ed.get(), K().hs.get()}) {
    SCOPED_TRACE(AlgorithmName(key->algorithm()));
    VerifyResult r = V(Sign(Base(), *key));
    EXPECT_TRUE(r.allowed) << r.detail;
    EXPECT_EQ(r.reason, DenyReason::kUnspecified);
    EXPECT_EQ(r.token_id, "AAECAwQFBgcICQoLDA0ODw");
    EXPECT_EQ(r.key_id, key->kid());
    EXPECT_EQ(r.algorithm, key->algorithm());
    ASSERT_TRUE(r.claims.has_value());
    EXPECT_EQ(r.claims->organization_id(), "org-a");
    EXPECT_FALSE(r.detail.empty());
  }
}

TEST_P(VerifierTest, AllowsWithEveryRestrictionSatisfied) {
  VerifyResult r =
      V(Sign(Base().SetClientIp("203.0.113.0/24").SetDomain("*.example.com"),
             *K().es));
  EXPECT_TRUE(r.allowed) << r.detail;
}

// ------------------------------------------------------------ 1-6 MALFORMED

TEST_P(VerifierTest, OversizedTokenRefusedBeforeParsing) {
  // A correctly signed token whose size is exactly at and just over 8 KiB.
  // Smallest padding that makes the token at least `min_size` bytes long.
  auto make = [&](size_t min_size) {
    const std::string base = Base().Build()->ToJson();
    size_t pad = (min_size - 600) * 3 / 4;
    while (true) {
      std::string payload = base;
      payload.insert(payload.size() - 1,
                     ",\"pad\":\"" + std::string(pad, 'p') + "\"");
      std::string jwt = SignRaw(HeaderFor(*K().hs), payload, *K().hs);
      if (jwt.size() >= min_size) return jwt;
      ++pad;
    }
  };
  std::string at = make(kMaxTokenBytes - 1);
  ASSERT_LE(at.size(), kMaxTokenBytes);
  ASSERT_GE(at.size(), kMaxTokenBytes - 1);
  EXPECT_TRUE(V(at).allowed) << V(at).detail;
  std::string over = make(kMaxTokenBytes + 1);
  ASSERT_GT(over.size(), kMaxTokenBytes);
  VerifyResult r = V(over);
  EXPECT_DENIED(r, DenyReason::kMalformed);
  EXPECT_THAT(r.detail, HasSubstr("8192"));
  EXPECT_TRUE(r.token_id.empty());
  // Garbage over the limit is refused the same way (no parsing happened).
  EXPECT_THAT(V(std::string(kMaxTokenBytes + 1, '{')).detail,
              HasSubstr("8192"));
}

TEST_P(VerifierTest, SegmentCount) {
  const std::string jwt = Good();
  const size_t d2 = jwt.rfind('.');
  for (const std::string& bad :
       {std::string(), std::string("abc"), jwt.substr(0, d2), jwt + ".x",
        jwt + "." + jwt, std::string("..."), jwt.substr(jwt.find('.'))}) {
    EXPECT_DENIED(V(bad), DenyReason::kMalformed);
  }
  EXPECT_DENIED(V(jwt.substr(0, d2 + 1)), DenyReason::kMalformed);  // empty sig
  EXPECT_THAT(V(jwt.substr(0, d2 + 1)).detail, HasSubstr("empty"));
}

TEST_P(VerifierTest, StrictBase64Url) {
  const std::string jwt = Good();
  const size_t d1 = jwt.find('.'), d2 = jwt.rfind('.');
  const std::string h = jwt.substr(0, d1), p = jwt.substr(d1 + 1, d2 - d1 - 1),
                    s = jwt.substr(d2 + 1);
  // Padding in any segment.
  EXPECT_DENIED(V(h + "==." + p + "." + s), DenyReason::kMalformed);
  EXPECT_DENIED(V(h + "." + p + "=." + s), DenyReason::kMalformed);
  EXPECT_DENIED(V(h + "." + p + "." + s + "=="), DenyReason::kMalformed);
  // Standard alphabet / foreign characters.
  EXPECT_DENIED(V(h + "." + p + "." +
                  absl::StrReplaceAll(s, {{"-", "+"}, {"_", "/"}}) + "+/"),
                DenyReason::kMalformed);
  EXPECT_DENIED(V(h + " ." + p + "." + s), DenyReason::kMalformed);
  EXPECT_DENIED(V(h + "." + p + "\n." + s), DenyReason::kMalformed);
  // Non-canonical trailing bits: the 64-byte ES256 signature is 86 chars
  // (86 % 4 == 2): its last char carries 4 unused bits.
  ASSERT_EQ(s.size(), 86u);
  std::string noncanon = s;
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  noncanon.back() = alphabet[alphabet.find(s.back()) | 1];
  ASSERT_NE(noncanon, s);
  VerifyResult r = V(h + "." + p + "." + noncanon);
  EXPECT_DENIED(r, DenyReason::kMalformed);
  EXPECT_THAT(r.detail, HasSubstr("non-canonical"));
}

TEST_P(VerifierTest, HeaderMustBeAJsonObject) {
  const std::string payload = Base().Build()->ToJson();
  for (const std::string& header :
       {std::string("not json"), std::string("[\"ES256\"]"),
        std::string("\"x\""),
        std::string("{\"alg\":\"ES256\",\"alg\":\"ES256\",\"kid\":\"k\"}"),
        std::string("{\"kid\":\"k\"}"), std::string("{\"alg\":256}"),
        std::string(40, '[') + std::string(40, ']'),
        "{\"alg\":\"ES256\",\"x\":" + std::string(40, '[') +
            std::string(40, ']') + "}",
        std::string("{\"alg\":\"ES256\"")}) {
    SCOPED_TRACE(header);
    EXPECT_DENIED(V(SignRaw(header, payload, *K().es)), DenyReason::kMalformed);
  }
}

TEST_P(VerifierTest, CritAndKeySourceMembersAndTyp) {
  const std::string payload = Base().Build()->ToJson();
  const std::string kid = K().es->kid();
  auto header = [&](const std::string& extra) {
    return "{\"alg\":\"ES256\",\"kid\":\"" + kid + "\"" + extra + "}";
  };
  VerifyResult crit =
      V(SignRaw(header(",\"crit\":[\"exp\"]"), payload, *K().es));
  EXPECT_DENIED(crit, DenyReason::kMalformed);
  EXPECT_THAT(crit.detail, HasSubstr("crit"));
  EXPECT_DENIED(
      V(SignRaw(header(",\"crit\":[\"b64\"],\"b64\":false"), payload, *K().es)),
      DenyReason::kMalformed);
  for (const char* m : {"jku", "x5u"}) {
    VerifyResult r = V(
        SignRaw(header(absl::StrCat(",\"", m, "\":\"https://evil.example/k\"")),
                payload, *K().es));
    EXPECT_DENIED(r, DenyReason::kMalformed);
    EXPECT_THAT(r.detail, HasSubstr(m));
  }
  const std::string jwk = *K().es->PublicJwkJson();
  EXPECT_DENIED(V(SignRaw(header(",\"jwk\":" + jwk), payload, *K().es)),
                DenyReason::kMalformed);
  EXPECT_DENIED(V(SignRaw(header(",\"x5c\":[\"MIIB\"]"), payload, *K().es)),
                DenyReason::kMalformed);
  EXPECT_DENIED(V(SignRaw(header(",\"typ\":\"at+jwt\""), payload, *K().es)),
                DenyReason::kMalformed);
  EXPECT_TRUE(V(SignRaw(header(",\"typ\":\"jwt\""), payload, *K().es)).allowed);
  EXPECT_TRUE(
      V(SignRaw(header(""), payload, *K().es)).allowed);  // typ optional
  EXPECT_TRUE(
      V(SignRaw(header(",\"cty\":\"x\",\"ext\":{\"a\":[1]}"), payload, *K().es))
          .allowed);  // unknown non-critical members ignored
}

TEST_P(VerifierTest, MalformedClaimsAfterAValidSignature) {
  const std::string hdr = HeaderFor(*K().es);
  const std::string good = Base().Build()->ToJson();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string p = absl::StrReplaceAll(good, {{from, to}});
    EXPECT_NE(p, good) << from;
    return SignRaw(hdr, p, *K().es);
  };
  const std::string cases[] = {
      with("\"exp\":1750003600", "\"exp\":\"1750003600\""),
      with("\"exp\":1750003600", "\"exp\":1750003600.5"),
      with("\"streams\":[\"s1\",\"s2\"]", "\"streams\":{\"s1\":true}"),
      with("\"streams\":[\"s1\",\"s2\"]",
           "\"streams\":[\"s1\",\"s2\"],\"groupid\":\"g\""),
      with("\"jti\":", "\"jti\":\"dup\",\"jti\":"),
      with("\"org\":\"org-a\"", "\"org\":\"org-a\",\"org\":\"org-a\""),
      with(",\"nbf\":1750000000", ""),
      with("{", "["),
      SignRaw(hdr, "not json", *K().es),
      SignRaw(hdr, "", *K().es),
      SignRaw(hdr,
              "{\"a\":" + std::string(50, '[') + std::string(50, ']') + "}",
              *K().es),
  };
  for (const std::string& jwt : cases) {
    VerifyResult r = V(jwt);
    EXPECT_DENIED(r, DenyReason::kMalformed);
    EXPECT_THAT(r.detail, HasSubstr("claims"));
    EXPECT_TRUE(r.token_id.empty());
  }
}

// -------------------------------------------------- UNSUPPORTED_ALGORITHM

TEST_P(VerifierTest, AlgNoneInEveryCasing) {
  const std::string payload = Base().Build()->ToJson();
  for (const char* none : {"none", "None", "NONE", "nOnE", "NoNe"}) {
    const std::string header = absl::StrCat(
        "{\"alg\":\"", none, "\",\"kid\":\"", K().es->kid(), "\"}");
    const std::string input = testing::SigningInput(header, payload);
    for (const std::string& jwt :
         {input + ".", input + ".AAAA", input + "." + Base64UrlEncode("sig")}) {
      VerifyResult r = V(jwt);
      EXPECT_DENIED(r, DenyReason::kUnsupportedAlgorithm);
      EXPECT_THAT(r.detail, HasSubstr("none"));
    }
  }
}

TEST_P(VerifierTest, UnknownAlgorithmsAndOtherCasings) {
  const std::string payload = Base().Build()->ToJson();
  for (const char* alg : {"es256", "Es256", "HS512", "ES384", "PS256", "RS512",
                          "ED25519", "EDDSA", "", "ES256 ", "ES256\\u0000"}) {
    SCOPED_TRACE(alg);
    EXPECT_DENIED(V(SignRaw(absl::StrCat("{\"alg\":\"", alg, "\",\"kid\":\"",
                                         K().es->kid(), "\"}"),
                            payload, *K().es)),
                  DenyReason::kUnsupportedAlgorithm);
  }
}

TEST_P(VerifierTest, AlgorithmConfusionHs256WithPublicKeyAsSecret) {
  const std::string payload = Base().Build()->ToJson();
  for (const SigningKey* victim : {K().es.get(), K().rs.get(), K().ed.get()}) {
    // The attacker HMACs with the public key text (JWK or PEM-like bytes).
    const std::string secret = *victim->PublicJwkJson();
    auto fake = SigningKey::FromPrivateKey(Algorithm::kHs256, secret, kT);
    ASSERT_TRUE(fake.ok());
    const std::string header = absl::StrCat(
        "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"", victim->kid(), "\"}");
    VerifyResult r = V(SignRaw(header, payload, **fake));
    EXPECT_DENIED(r, DenyReason::kUnsupportedAlgorithm);
    EXPECT_THAT(r.detail, HasSubstr("algorithms must match"));
  }
  // And the reverse: an ES256 header naming the HMAC key.
  VerifyResult r = V(SignRaw(HeaderFor(*K().hs, "ES256"), payload, *K().es));
  EXPECT_DENIED(r, DenyReason::kUnsupportedAlgorithm);
}

// -------------------------------------------------------------- UNKNOWN_KEY

TEST_P(VerifierTest, UnknownKeys) {
  const std::string payload = Base().Build()->ToJson();
  EXPECT_DENIED(
      V(SignRaw("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload, *K().es)),
      DenyReason::kUnknownKey);
  EXPECT_DENIED(
      V(SignRaw("{\"alg\":\"ES256\",\"kid\":\"\"}", payload, *K().es)),
      DenyReason::kUnknownKey);
  for (const char* kid : {"nope", "../../etc/passwd", "' OR '1'='1' --",
                          "kid\\\"; DROP TABLE keys;--", "%00", "\\u0000"}) {
    VerifyResult r =
        V(SignRaw(absl::StrCat("{\"alg\":\"ES256\",\"kid\":\"", kid, "\"}"),
                  payload, *K().es));
    EXPECT_DENIED(r, DenyReason::kUnknownKey);
  }
  // A kid with control characters is escaped in the detail.
  VerifyResult r = V(SignRaw("{\"alg\":\"ES256\",\"kid\":\"a\\nb\\u001b[31m\"}",
                             payload, *K().es));
  EXPECT_DENIED(r, DenyReason::kUnknownKey);
  EXPECT_THAT(r.detail, Not(HasSubstr("\n")));
  EXPECT_THAT(r.detail, Not(HasSubstr("\x1b")));
  // A kid that is not a string is malformed.
  EXPECT_DENIED(V(SignRaw("{\"alg\":\"ES256\",\"kid\":7}", payload, *K().es)),
                DenyReason::kMalformed);
}

TEST_P(VerifierTest, RetiredAndForeignKeys) {
  VerifyResult r = V(Sign(Base(), *K().retired));
  EXPECT_DENIED(r, DenyReason::kUnknownKey);
  EXPECT_THAT(r.detail, HasSubstr("retired"));
  // Organisation B's token, checked for organisation A: A has no such key.
  EXPECT_DENIED(V(Sign(Base("org-b"), *K().other_org)),
                DenyReason::kUnknownKey);
  // Signed with B's key but claiming A: looked up in A's set -> unknown key.
  EXPECT_DENIED(V(Sign(Base("org-a"), *K().other_org)),
                DenyReason::kUnknownKey);
}

// ------------------------------------------------------------ BAD_SIGNATURE

TEST_P(VerifierTest, TamperedHeaderPayloadOrSignature) {
  const std::string jwt = Good();
  const size_t d1 = jwt.find('.'), d2 = jwt.rfind('.');
  const std::string h = jwt.substr(0, d1), p = jwt.substr(d1 + 1, d2 - d1 - 1),
                    s = jwt.substr(d2 + 1);
  // Payload re-encoded with another stream, old signature kept.
  std::string claims = *Base64UrlDecode(p);
  std::string forged = absl::StrReplaceAll(claims, {{"\"s2\"", "\"s3\""}});
  EXPECT_DENIED(V(h + "." + Base64UrlEncode(forged) + "." + s),
                DenyReason::kBadSignature);
  // Header with a harmless change (typ casing), old signature kept.
  std::string header = *Base64UrlDecode(h);
  EXPECT_DENIED(
      V(Base64UrlEncode(absl::StrReplaceAll(header, {{"JWT", "jwt"}})) + "." +
        p + "." + s),
      DenyReason::kBadSignature);
  // One signature bit flipped.
  std::string sig = *Base64UrlDecode(s);
  sig[10] ^= 0x01;
  EXPECT_DENIED(V(h + "." + p + "." + Base64UrlEncode(sig)),
                DenyReason::kBadSignature);
  // Truncated / extended signatures.
  EXPECT_DENIED(V(h + "." + p + "." + Base64UrlEncode(sig.substr(0, 63))),
                DenyReason::kBadSignature);
  EXPECT_DENIED(
      V(h + "." + p + "." + Base64UrlEncode(*Base64UrlDecode(s) + "x")),
      DenyReason::kBadSignature);
  // Same for HS256.
  const std::string hjwt = Sign(Base(), *K().hs);
  std::string hsig = *Base64UrlDecode(hjwt.substr(hjwt.rfind('.') + 1));
  hsig[0] ^= 0x80;
  EXPECT_DENIED(V(hjwt.substr(0, hjwt.rfind('.') + 1) + Base64UrlEncode(hsig)),
                DenyReason::kBadSignature);
}

TEST_P(VerifierTest, EcdsaScalarRangeAndDerForm) {
  const std::string jwt = Good();
  const std::string input = jwt.substr(0, jwt.rfind('.'));
  const std::string sig = *Base64UrlDecode(jwt.substr(jwt.rfind('.') + 1));
  const std::string n =
      *Base64UrlDecode("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
  const std::string zero(32, '\0');
  for (const std::string& bad :
       {zero + sig.substr(32), sig.substr(0, 32) + zero, zero + zero,
        n + sig.substr(32), sig.substr(0, 32) + n, std::string(64, '\xff')}) {
    EXPECT_DENIED(V(input + "." + Base64UrlEncode(bad)),
                  DenyReason::kBadSignature);
  }
  // r and s as DER.
  ECDSA_SIG* es = ECDSA_SIG_new();
  ECDSA_SIG_set0(
      es,
      BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32,
                nullptr),
      BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32,
                nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(es, &der);
  const std::string der_sig(reinterpret_cast<char*>(der),
                            static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(es);
  EXPECT_DENIED(V(input + "." + Base64UrlEncode(der_sig)),
                DenyReason::kBadSignature);
  // The original still verifies.
  EXPECT_TRUE(V(jwt).allowed);
}

// ----------------------------------------------------- EXPIRED / NOT_YET_VALID

TEST_P(VerifierTest, ExpiryBoundaryWithDefaultLeeway) {
  const std::string jwt = Good();
  EXPECT_EQ(verifier_.options().leeway, absl::Seconds(60));
  EXPECT_TRUE(V(jwt, kExp - absl::Nanoseconds(1)).allowed);
  EXPECT_TRUE(V(jwt, kExp).allowed);
  EXPECT_TRUE(V(jwt, kExp + absl::Seconds(59)).allowed);
  EXPECT_TRUE(V(jwt, kExp + absl::Seconds(60) - absl::Nanoseconds(1)).allowed);
  VerifyResult r = V(jwt, kExp + absl::Seconds(60));
  EXPECT_DENIED(r, DenyReason::kExpired);
  EXPECT_THAT(r.detail, HasSubstr("2025-06-15T16:06:40Z"));
  EXPECT_EQ(r.token_id, "AAECAwQFBgcICQoLDA0ODw");  // known once signed
  EXPECT_DENIED(V(jwt, kExp + absl::Hours(100)), DenyReason::kExpired);
}

TEST_P(VerifierTest, ExpiryBoundaryWithoutLeeway) {
  TokenVerifier strict(WithLeeway(absl::ZeroDuration()));
  const std::string jwt = Good();
  EXPECT_TRUE(strict.Verify(jwt, request_, *org_a_, kExp - absl::Nanoseconds(1))
                  .allowed);
  EXPECT_DENIED(strict.Verify(jwt, request_, *org_a_, kExp),
                DenyReason::kExpired);
  // A negative leeway is treated as zero.
  TokenVerifier negative(WithLeeway(-absl::Hours(1)));
  EXPECT_EQ(negative.options().leeway, absl::ZeroDuration());
  EXPECT_TRUE(
      negative.Verify(jwt, request_, *org_a_, kExp - absl::Seconds(1)).allowed);
}

TEST_P(VerifierTest, NotBeforeBoundary) {
  const absl::Time nbf = kT + absl::Minutes(10);
  const std::string jwt = Sign(Base().SetNotBefore(nbf), *K().es);
  EXPECT_DENIED(V(jwt, nbf - absl::Seconds(60) - absl::Nanoseconds(1)),
                DenyReason::kNotYetValid);
  EXPECT_TRUE(V(jwt, nbf - absl::Seconds(60)).allowed);
  EXPECT_TRUE(V(jwt, nbf).allowed);
  TokenVerifier strict(WithLeeway(absl::ZeroDuration()));
  EXPECT_DENIED(
      strict.Verify(jwt, request_, *org_a_, nbf - absl::Nanoseconds(1)),
      DenyReason::kNotYetValid);
  EXPECT_TRUE(strict.Verify(jwt, request_, *org_a_, nbf).allowed);
  TokenVerifier wide(WithLeeway(absl::Minutes(5)));
  EXPECT_TRUE(
      wide.Verify(jwt, request_, *org_a_, nbf - absl::Minutes(5)).allowed);
  EXPECT_DENIED(wide.Verify(jwt, request_, *org_a_,
                            nbf - absl::Minutes(5) - absl::Nanoseconds(1)),
                DenyReason::kNotYetValid);
}

// ---------------------------------------------- REVOKED / ORG_DISABLED hooks

TEST_P(VerifierTest, HooksDecideRevocationAndOrganisationState) {
  const std::string jwt = Good();
  FixedHooks hooks;
  EXPECT_TRUE(V(jwt, kT, &hooks).allowed);
  hooks.revoked_jti = "AAECAwQFBgcICQoLDA0ODw";
  VerifyResult r = V(jwt, kT, &hooks);
  EXPECT_DENIED(r, DenyReason::kRevoked);
  EXPECT_EQ(r.token_id, "AAECAwQFBgcICQoLDA0ODw");
  // Revoked wins over expired (the token is refused for the stronger reason).
  EXPECT_DENIED(V(jwt, kExp + absl::Hours(24 * 1), &hooks),
                DenyReason::kRevoked);
  // A disabled organisation wins over revocation.
  hooks.disabled = true;
  r = V(jwt, kT, &hooks);
  EXPECT_DENIED(r, DenyReason::kOrganizationDisabled);
  EXPECT_THAT(r.detail, HasSubstr("org-a"));
  // The default hooks allow everything.
  VerifyHooks none;
  EXPECT_TRUE(V(jwt, kT, &none).allowed);
}

TEST_P(VerifierTest, HooksAreNotConsultedForUnauthenticTokens) {
  FixedHooks hooks;
  hooks.disabled = true;
  std::string jwt = Good();
  jwt.back() = jwt.back() == 'A' ? 'Q' : 'A';
  EXPECT_DENIED(V(jwt, kT, &hooks), DenyReason::kBadSignature);
  EXPECT_EQ(hooks.calls, 0);
}

TEST_P(VerifierTest, RevokedTokenReencodedIsStillRevoked) {
  FixedHooks hooks;
  hooks.revoked_jti = "AAECAwQFBgcICQoLDA0ODw";
  // Same claims, different valid encodings: member order, whitespace,
  // escaped characters, another key of the organisation.
  const std::string payload = Base().Build()->ToJson();
  const std::string spaced =
      absl::StrReplaceAll(payload, {{",", " , "}, {":", " : "}});
  const std::string escaped = absl::StrReplaceAll(
      payload,
      {{"\"AAECAwQFBgcICQoLDA0ODw\"", "\"\\u0041AECAwQFBgcICQoLDA0ODw\""}});
  for (const std::string& jwt :
       {SignRaw(HeaderFor(*K().es), spaced, *K().es),
        SignRaw(HeaderFor(*K().es), escaped, *K().es),
        SignRaw("{\"kid\":\"" + K().ed->kid() + "\",\"alg\":\"EdDSA\"}",
                payload, *K().ed),
        Sign(Base(), *K().hs)}) {
    EXPECT_DENIED(V(jwt, kT, &hooks), DenyReason::kRevoked);
  }
}

// ---------------------------------------------------------- TARGET_MISMATCH

TEST_P(VerifierTest, TargetCoverage) {
  const std::string streams = Good();
  request_.stream_name = "s3";
  VerifyResult r = V(streams);
  EXPECT_DENIED(r, DenyReason::kTargetMismatch);
  EXPECT_THAT(r.detail, HasSubstr("s3"));
  request_.stream_name = "";
  EXPECT_DENIED(V(streams), DenyReason::kTargetMismatch);
  request_.stream_name = "s2";
  EXPECT_TRUE(V(streams).allowed);

  const std::string group =
      Sign(Base().SetTarget(Target::StreamGroup("grp")), *K().es);
  EXPECT_TRUE(V(group).allowed);
  request_.stream_group_id = "other";
  EXPECT_DENIED(V(group), DenyReason::kTargetMismatch);
  request_.stream_group_id = "";
  EXPECT_DENIED(V(group), DenyReason::kTargetMismatch);

  const std::string org =
      Sign(Base().SetTarget(Target::Organization()), *K().es);
  request_.stream_name = "";
  EXPECT_TRUE(V(org).allowed);
}

TEST_P(VerifierTest, OrganisationScoping) {
  // Request for organisation B, checked with B's keys, token of A: unknown key.
  request_.organization_id = "org-b";
  EXPECT_DENIED(Verify(Good(), *org_b_, kT), DenyReason::kUnknownKey);
  // Token signed with B's key but claiming A, checked for B: the claim does
  // not match the keys' organisation.
  VerifyResult r = Verify(Sign(Base("org-a"), *K().other_org), *org_b_, kT);
  EXPECT_DENIED(r, DenyReason::kTargetMismatch);
  EXPECT_THAT(r.detail, HasSubstr("org-a"));
  // B's own token passes for B.
  EXPECT_TRUE(Verify(Sign(Base("org-b"), *K().other_org), *org_b_, kT).allowed);
  // A request naming A but checked with B's keys (a caller mistake) is refused.
  request_.organization_id = "org-a";
  EXPECT_DENIED(Verify(Sign(Base("org-b"), *K().other_org), *org_b_, kT),
                DenyReason::kTargetMismatch);
  // A request naming no organisation matches none: the token's own "org"
  // is never taken in its place, even with the key set that signed it.
  request_.organization_id = "";
  const std::string wide =
      Sign(Base().SetTarget(Target::Organization()), *K().es);
  for (const std::string& jwt : {Good(), wide}) {
    VerifyResult unnamed = V(jwt);
    EXPECT_DENIED(unnamed, DenyReason::kTargetMismatch);
    EXPECT_EQ(unnamed.detail, "The playback request names no organisation.");
  }
}

TEST(ValidatePlaybackRequestTest, OrganisationIsRequired) {
  PlaybackRequest request;
  request.stream_name = "s1";
  const absl::Status s = ValidatePlaybackRequest(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("organization_id: required"));
  request.organization_id = "org-a";
  EXPECT_TRUE(ValidatePlaybackRequest(request).ok());
}

// ------------------------------------------------------------- IP_MISMATCH

TEST_P(VerifierTest, IpBinding) {
  const std::string exact = Sign(Base().SetClientIp("203.0.113.7"), *K().es);
  const std::string net = Sign(Base().SetClientIp("203.0.113.0/24"), *K().es);
  const std::string v6 = Sign(Base().SetClientIp("2001:db8::/32"), *K().es);
  EXPECT_TRUE(V(exact).allowed);
  EXPECT_TRUE(V(net).allowed);
  request_.client_ip = "::ffff:203.0.113.7";  // v4-mapped counts as v4
  EXPECT_TRUE(V(exact).allowed);
  EXPECT_TRUE(V(net).allowed);
  request_.client_ip = "203.0.113.8";
  EXPECT_DENIED(V(exact), DenyReason::kIpMismatch);
  EXPECT_TRUE(V(net).allowed);
  request_.client_ip = "203.0.114.1";
  VerifyResult r = V(net);
  EXPECT_DENIED(r, DenyReason::kIpMismatch);
  EXPECT_THAT(r.detail, HasSubstr("203.0.113.0/24"));
  request_.client_ip = "2001:db8:1::5";
  EXPECT_TRUE(V(v6).allowed);
  EXPECT_DENIED(V(net), DenyReason::kIpMismatch);
  request_.client_ip = "2001:0DB8:0000:0000::0005";  // compared as numbers
  EXPECT_TRUE(V(v6).allowed);
  request_.client_ip = "2001:db9::1";
  EXPECT_DENIED(V(v6), DenyReason::kIpMismatch);
  request_.client_ip = "";
  EXPECT_DENIED(V(exact), DenyReason::kIpMismatch);
  request_.client_ip = "not-an-ip";
  EXPECT_DENIED(V(exact), DenyReason::kIpMismatch);
  request_.client_ip = "203.0.113.7:443";
  EXPECT_DENIED(V(exact), DenyReason::kIpMismatch);
  // Tokens without an ip claim ignore the request's address.
  EXPECT_TRUE(V(Good()).allowed);
}

// --------------------------------------------------------- DOMAIN_MISMATCH

TEST_P(VerifierTest, DomainBinding) {
  const std::string exact = Sign(Base().SetDomain("example.com"), *K().es);
  const std::string wild = Sign(Base().SetDomain("*.example.com"), *K().es);
  request_.domain = "EXAMPLE.com";
  EXPECT_TRUE(V(exact).allowed);
  EXPECT_DENIED(V(wild),
                DenyReason::kDomainMismatch);  // apex is not a subdomain
  request_.domain = "player.example.com";
  EXPECT_DENIED(V(exact), DenyReason::kDomainMismatch);
  EXPECT_TRUE(V(wild).allowed);
  request_.domain = "a.b.example.com";
  EXPECT_TRUE(V(wild).allowed);
  request_.domain = "evil-example.com";
  EXPECT_DENIED(V(wild), DenyReason::kDomainMismatch);
  EXPECT_DENIED(V(exact), DenyReason::kDomainMismatch);
  request_.domain = "example.com.evil.net";
  EXPECT_DENIED(V(exact), DenyReason::kDomainMismatch);
  request_.domain = "";
  VerifyResult r = V(exact);
  EXPECT_DENIED(r, DenyReason::kDomainMismatch);
  EXPECT_THAT(r.detail, HasSubstr("names no domain"));
  EXPECT_TRUE(V(Good()).allowed);
}

// ------------------------------------------------------------ rule order

TEST_P(VerifierTest, FirstFailedRuleIsReported) {
  request_.stream_name = "unknown";
  request_.client_ip = "198.51.100.1";
  request_.domain = "evil.net";
  const std::string all_wrong =
      Sign(Base().SetClientIp("203.0.113.7").SetDomain("example.com"), *K().es);
  EXPECT_DENIED(V(all_wrong, kExp + absl::Hours(24 * 1)), DenyReason::kExpired);
  EXPECT_DENIED(V(all_wrong, kT), DenyReason::kTargetMismatch);
  request_.stream_name = "s1";
  EXPECT_DENIED(V(all_wrong, kT), DenyReason::kIpMismatch);
  request_.client_ip = "203.0.113.7";
  EXPECT_DENIED(V(all_wrong, kT), DenyReason::kDomainMismatch);
  // A bad signature beats expiry and target.
  std::string broken = all_wrong;
  broken.back() = broken.back() == 'A' ? 'Q' : 'A';
  EXPECT_DENIED(V(broken, kExp + absl::Hours(24 * 1)),
                DenyReason::kBadSignature);
  // An unknown algorithm beats a missing kid.
  EXPECT_DENIED(V(SignRaw("{\"alg\":\"XX\"}", "{}", *K().es)),
                DenyReason::kUnsupportedAlgorithm);
}

TEST_P(VerifierTest, DetailsNeverContainTheToken) {
  const std::string jwt = Sign(Base().SetDomain("example.com"), *K().es);
  request_.domain = "other.com";
  for (absl::Time now : {kT, kExp + absl::Hours(24 * 1)}) {
    VerifyResult r = V(jwt, now);
    EXPECT_FALSE(r.allowed);
    EXPECT_THAT(r.detail, Not(HasSubstr(jwt.substr(jwt.rfind('.') + 1))));
    EXPECT_THAT(r.detail, Not(HasSubstr(jwt.substr(0, 20))));
  }
}

INSTANTIATE_TEST_SUITE_P(Cache, VerifierTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Cached" : "Uncached";
                         });

// ------------------------------------------------- the verified-token cache

class CachedVerifierTest : public VerifierTest {};

TEST_P(CachedVerifierTest, SecondCallIsAHitAndContextRulesStillRun) {
  const VerifiedTokenCache& cache = *verifier_.options().cache;
  const std::string jwt = Good();
  EXPECT_TRUE(verifier_.Verify(jwt, request_, *org_a_, kT).allowed);
  EXPECT_EQ(cache.GetStats().misses, 1);
  EXPECT_EQ(cache.GetStats().inserts, 1);
  EXPECT_TRUE(verifier_.Verify(jwt, request_, *org_a_, kT).allowed);
  EXPECT_EQ(cache.GetStats().hits, 1);
  // From the cache, the time, the request and the hooks still decide.
  EXPECT_DENIED(verifier_.Verify(jwt, request_, *org_a_, kExp + absl::Hours(1)),
                DenyReason::kExpired);
  FixedHooks hooks;
  hooks.revoked_jti = "AAECAwQFBgcICQoLDA0ODw";
  EXPECT_DENIED(verifier_.Verify(jwt, request_, *org_a_, kT, &hooks),
                DenyReason::kRevoked);
  hooks.revoked_jti.clear();
  hooks.disabled = true;
  EXPECT_DENIED(verifier_.Verify(jwt, request_, *org_a_, kT, &hooks),
                DenyReason::kOrganizationDisabled);
  PlaybackRequest other = request_;
  other.stream_name = "s9";
  EXPECT_DENIED(verifier_.Verify(jwt, other, *org_a_, kT),
                DenyReason::kTargetMismatch);
  EXPECT_EQ(cache.GetStats().hits, 5);
}

TEST_P(CachedVerifierTest, OnlyTokensThatPassedRulesOneToTenAreCached) {
  const VerifiedTokenCache& cache = *verifier_.options().cache;
  std::string tampered = Good();
  tampered[tampered.size() - 2] =
      tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_DENIED(verifier_.Verify(tampered, request_, *org_a_, kT),
                DenyReason::kBadSignature);
  EXPECT_DENIED(
      verifier_.Verify(Sign(Base(), *K().retired), request_, *org_a_, kT),
      DenyReason::kUnknownKey);
  EXPECT_EQ(cache.GetStats().inserts, 0);
  // A denial by a context rule still caches the signature check.
  EXPECT_DENIED(
      verifier_.Verify(Good(), request_, *org_a_, kExp + absl::Hours(1)),
      DenyReason::kExpired);
  EXPECT_EQ(cache.GetStats().inserts, 1);
}

TEST_P(CachedVerifierTest, ANewKeySetGenerationMisses) {
  const VerifiedTokenCache& cache = *verifier_.options().cache;
  const std::string jwt = Good();
  EXPECT_TRUE(verifier_.Verify(jwt, request_, *org_a_, kT).allowed);
  // The primary key retired (a new set): the cached check no longer counts.
  auto rotated = KeySet::Create(
      "org-a", {{K().es, KeyState::kRetired}, {K().rs, KeyState::kPrimary}});
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(rotated->generation(), org_a_->generation());
  EXPECT_DENIED(verifier_.Verify(jwt, request_, *rotated, kT),
                DenyReason::kUnknownKey);
  EXPECT_EQ(cache.GetStats().hits, 0);
  // A copy of a set is the same set.
  KeySet copy = *org_a_;
  EXPECT_TRUE(verifier_.Verify(jwt, request_, copy, kT).allowed);
  EXPECT_EQ(cache.GetStats().hits, 1);
}

TEST_P(CachedVerifierTest, TokensOverTheCacheLimitAreCheckedInFullEachTime) {
  const VerifiedTokenCache& cache = *verifier_.options().cache;
  // Many long stream names: a valid token over the cache's 2 KiB.
  std::vector<std::string> streams = {"s1"};
  for (int i = 0; i < 20; ++i) streams.push_back(std::string(120, 'a' + i));
  const std::string big =
      Sign(Base().SetTarget(Target::Streams(streams)), *K().es);
  ASSERT_GT(big.size(), VerifiedTokenCache::kMaxCachedTokenBytes);
  ASSERT_LE(big.size(), kMaxTokenBytes);
  for (int i = 0; i < 2; ++i) {
    VerifyResult r = verifier_.Verify(big, request_, *org_a_, kT);
    EXPECT_TRUE(r.allowed) << r.detail;
    ASSERT_TRUE(r.claims.has_value());
    EXPECT_EQ(r.claims->target().stream_names().size(), streams.size());
  }
  EXPECT_EQ(cache.GetStats().inserts, 0);
  EXPECT_EQ(cache.GetStats().hits, 0);
  EXPECT_EQ(cache.GetStats().size, 0);
  // A tampered long token is still refused.
  std::string tampered = big;
  tampered[tampered.size() - 2] =
      tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_DENIED(verifier_.Verify(tampered, request_, *org_a_, kT),
                DenyReason::kBadSignature);
  // A token under the limit is cached.
  const std::string small = Good();
  ASSERT_LE(small.size(), VerifiedTokenCache::kMaxCachedTokenBytes);
  EXPECT_TRUE(verifier_.Verify(small, request_, *org_a_, kT).allowed);
  EXPECT_EQ(cache.GetStats().inserts, 1);
}

INSTANTIATE_TEST_SUITE_P(Cache, CachedVerifierTest, ::testing::Values(true));

}  // namespace
}  // namespace token_authority::token

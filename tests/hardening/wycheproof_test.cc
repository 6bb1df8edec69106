// Runs the Project Wycheproof vectors (tests/data/wycheproof/, Apache-2.0)
// against the token core's verifier primitive, SigningKey::Verify, on the
// raw message bytes of every case.
//
// ECDSA P-256/SHA-256 (P1363, i.e. JWS ES256 R||S) and Ed25519: each group's
// public key is imported three ways (SPKI DER, SPKI PEM, JWK; for the few
// ECDSA groups without "publicKeyJwk" the JWK is built from wx/wy) and every
// case is verified under all three keys, which must agree. `valid` cases must
// verify, `invalid` ones must be refused. `acceptable` cases (none in these
// files today) may go either way, but the three imports must agree; they are
// listed in the output.
//
// HMAC-SHA256: a JWS HS256 signature is always the full 32-byte tag and the
// core refuses secrets below kMinHmacSecretBytes (32 bytes). The file has
// groups the core cannot express as HS256, handled like this:
// - tagSize 128 (truncated tags): a JWS verifier must refuse any tag that is
//   not 32 bytes, so Verify(msg, tag) must be false for `valid` and
//   `invalid` cases alike. The HMAC itself is still checked: the first 16
//   bytes of the core's Sign(msg) equal the vector's tag exactly for the
//   `valid` cases and never for the `invalid` ones.
// - keySize 128 (16-byte keys): counted as "refused" only because the core
//   refuses to import the key (FromPrivateKey and FromJwk both return
//   InvalidArgument); the test asserts that refusal. If the core ever
//   accepted such a key, the case would be verified like any other (and the
//   import would be flagged as a failure: the core promises to refuse it).
// Keys of 32 bytes or more are imported twice (raw secret via
// FromPrivateKey, JWK "oct" via FromJwk).
//
// The test prints how many cases ran per file and asserts the counts
// (262 ECDSA, 151 Ed25519, 174 HMAC).
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "token/algorithm.h"
#include "token/signing_key.h"

namespace token_authority::token {
namespace {

using Json = nlohmann::json;

constexpr int kExpectedEcdsaCases = 262;
constexpr int kExpectedEd25519Cases = 151;
constexpr int kExpectedHmacCases = 174;

const absl::Time kCreatedAt = absl::FromUnixSeconds(1700000000);

std::string DataPath(const std::string& file) {
  return std::string(TA_WYCHEPROOF_DIR) + "/" + file;
}

// Reads and parses one vector file; a parse failure is reported as a test
// failure and yields a discarded value.
Json LoadVectors(const std::string& file) {
  std::ifstream in(DataPath(file), std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot open " << DataPath(file);
    return Json(Json::value_t::discarded);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Json doc = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("testGroups") ||
      !doc["testGroups"].is_array() || !doc.contains("numberOfTests") ||
      !doc["numberOfTests"].is_number_integer()) {
    ADD_FAILURE() << DataPath(file) << ": not a Wycheproof vector file";
    return Json(Json::value_t::discarded);
  }
  return doc;
}

// Strict hex decoding (even length, [0-9a-fA-F] only).
bool HexDecode(const std::string& hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>((hi << 4) | lo));
  }
  return true;
}

std::string StringMember(const Json& obj, const char* name) {
  if (!obj.is_object() || !obj.contains(name) || !obj[name].is_string()) {
    return "";
  }
  return obj[name].get<std::string>();
}

// One vector case in a form independent of the file's schema.
struct Case {
  int64_t tc_id = 0;
  std::string comment;
  std::string flags;
  std::string result;  // "valid", "invalid" or "acceptable"
  std::string msg;     // decoded bytes
  std::string sig;     // decoded signature or tag
  std::string key;     // decoded key (HMAC only)
};

// Decodes tests[i]; a malformed case is a test failure.
bool DecodeCase(const Json& t, const char* sig_member, Case* c) {
  if (!t.is_object() || !t.contains("tcId") || !t["tcId"].is_number_integer()) {
    ADD_FAILURE() << "case without tcId: " << t.dump();
    return false;
  }
  c->tc_id = t["tcId"].get<int64_t>();
  c->comment = StringMember(t, "comment");
  c->result = StringMember(t, "result");
  std::vector<std::string> flags;
  if (t.contains("flags") && t["flags"].is_array()) {
    for (const Json& f : t["flags"]) {
      if (f.is_string()) flags.push_back(f.get<std::string>());
    }
  }
  c->flags = absl::StrJoin(flags, ",");
  if (c->result != "valid" && c->result != "invalid" &&
      c->result != "acceptable") {
    ADD_FAILURE() << "tcId " << c->tc_id << ": unknown result '" << c->result
                  << "'";
    return false;
  }
  if (!HexDecode(StringMember(t, "msg"), &c->msg) ||
      !HexDecode(StringMember(t, sig_member), &c->sig)) {
    ADD_FAILURE() << "tcId " << c->tc_id << ": bad hex";
    return false;
  }
  if (t.contains("key") && !HexDecode(StringMember(t, "key"), &c->key)) {
    ADD_FAILURE() << "tcId " << c->tc_id << ": bad key hex";
    return false;
  }
  return true;
}

std::string Describe(const Case& c) {
  return absl::StrCat("tcId ", c.tc_id, " (",
                      c.comment.empty() ? "-" : c.comment, "; flags ", c.flags,
                      ")");
}

struct Tally {
  int declared = -1;  // the file's numberOfTests
  int ran = 0;
  int valid_verified = 0;
  int invalid_refused = 0;
  int refused_by_policy = 0;            // HMAC: key below the core's minimum
  int truncated_checked = 0;            // HMAC: truncated tag, refused as JWS
  std::vector<std::string> acceptable;  // "tcId N: accepted|refused"
  std::vector<std::string> failures;    // precise descriptions

  std::string Summary(const std::string& file) const {
    std::string s = absl::StrCat(
        "[wycheproof] ", file, ": ", ran, " cases ran; ", valid_verified,
        " valid verified, ", invalid_refused, " invalid refused");
    if (truncated_checked > 0) {
      absl::StrAppend(&s, ", ", truncated_checked,
                      " truncated-tag cases refused as JWS HS256 (HMAC "
                      "prefix checked)");
    }
    if (refused_by_policy > 0) {
      absl::StrAppend(&s, ", ", refused_by_policy,
                      " refused (key below 256 bits, import refused)");
    }
    absl::StrAppend(
        &s, ", ", acceptable.size(), " acceptable",
        acceptable.empty()
            ? ""
            : absl::StrCat(" [", absl::StrJoin(acceptable, "; "), "]"),
        ", ", failures.size(), " failures");
    return s;
  }
};

// A P-256 JWK built from the group's "publicKey" wx/wy (big-endian hex,
// possibly with a leading 00 byte): a few ECDSA groups of the file carry no
// "publicKeyJwk". Empty if the coordinates are missing or too long.
std::string EcJwkFromCoordinates(const Json& group) {
  if (!group.contains("publicKey")) return "";
  std::string x, y;
  if (!HexDecode(StringMember(group["publicKey"], "wx"), &x) ||
      !HexDecode(StringMember(group["publicKey"], "wy"), &y)) {
    return "";
  }
  auto fixed32 = [](std::string v) -> std::string {
    while (v.size() > 32 && v[0] == '\0') v.erase(0, 1);
    if (v.size() > 32) return "";
    return std::string(32 - v.size(), '\0') + v;
  };
  x = fixed32(x);
  y = fixed32(y);
  if (x.empty() || y.empty()) return "";
  return Json{{"kty", "EC"},
              {"crv", "P-256"},
              {"x", absl::WebSafeBase64Escape(x)},
              {"y", absl::WebSafeBase64Escape(y)}}
      .dump();
}

// Asymmetric files (ECDSA P1363, Ed25519): three imports per group, every
// case verified under each.
Tally RunAsymmetricFile(const std::string& file, Algorithm alg) {
  Tally tally;
  Json doc = LoadVectors(file);
  if (doc.is_discarded()) return tally;
  tally.declared = doc["numberOfTests"].get<int>();
  for (const Json& group : doc["testGroups"]) {
    std::string der;
    if (!HexDecode(StringMember(group, "publicKeyDer"), &der)) {
      tally.failures.push_back("group without publicKeyDer");
      continue;
    }
    std::string pem = StringMember(group, "publicKeyPem");
    std::string jwk = group.contains("publicKeyJwk")
                          ? group["publicKeyJwk"].dump()
                          : EcJwkFromCoordinates(group);
    if (jwk.empty()) {
      tally.failures.push_back("group without publicKeyJwk or wx/wy");
    }

    struct Import {
      const char* how;
      absl::StatusOr<std::unique_ptr<const SigningKey>> key;
    };
    std::vector<Import> imports;
    imports.push_back({"FromPublicKey(DER)",
                       SigningKey::FromPublicKey(alg, der, kCreatedAt)});
    imports.push_back({"FromPublicKey(PEM)",
                       SigningKey::FromPublicKey(alg, pem, kCreatedAt)});
    imports.push_back({"FromJwk", SigningKey::FromJwk(jwk, kCreatedAt)});
    bool keys_ok = true;
    for (const Import& imp : imports) {
      if (!imp.key.ok()) {
        tally.failures.push_back(
            absl::StrCat(imp.how, " refused the group key ", jwk, ": ",
                         imp.key.status().ToString()));
        keys_ok = false;
      } else if ((*imp.key)->algorithm() != alg) {
        tally.failures.push_back(
            absl::StrCat(imp.how, " gave algorithm ",
                         AlgorithmName((*imp.key)->algorithm()), " for ", jwk));
        keys_ok = false;
      }
    }

    for (const Json& t : group["tests"]) {
      Case c;
      if (!DecodeCase(t, "sig", &c)) continue;
      ++tally.ran;
      if (!keys_ok) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": not run, the group key was refused"));
        continue;
      }
      std::vector<bool> verdicts;
      for (const Import& imp : imports) {
        verdicts.push_back((*imp.key)->Verify(c.msg, c.sig));
      }
      bool agree = verdicts[0] == verdicts[1] && verdicts[1] == verdicts[2];
      if (!agree) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": imports disagree (DER ", verdicts[0],
                         ", PEM ", verdicts[1], ", JWK ", verdicts[2], ")"));
        continue;
      }
      bool verified = verdicts[0];
      if (c.result == "valid") {
        if (verified) {
          ++tally.valid_verified;
        } else {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": expected valid (verifies), got refused"));
        }
      } else if (c.result == "invalid") {
        if (!verified) {
          ++tally.invalid_refused;
        } else {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": expected invalid (refused), got verified"));
        }
      } else {
        tally.acceptable.push_back(absl::StrCat(
            "tcId ", c.tc_id, ": ", verified ? "accepted" : "refused"));
      }
    }
  }
  return tally;
}

TEST(WycheproofTest, EcdsaP256Sha256P1363) {
  const std::string file = "ecdsa_secp256r1_sha256_p1363_test.json";
  Tally tally = RunAsymmetricFile(file, Algorithm::kEs256);
  std::cout << tally.Summary(file) << std::endl;
  for (const std::string& f : tally.failures) ADD_FAILURE() << f;
  EXPECT_EQ(tally.ran, kExpectedEcdsaCases);
  EXPECT_EQ(tally.ran, tally.declared);
  EXPECT_EQ(tally.valid_verified + tally.invalid_refused +
                static_cast<int>(tally.acceptable.size()),
            tally.ran);
}

TEST(WycheproofTest, Ed25519) {
  const std::string file = "ed25519_test.json";
  Tally tally = RunAsymmetricFile(file, Algorithm::kEdDsa);
  std::cout << tally.Summary(file) << std::endl;
  for (const std::string& f : tally.failures) ADD_FAILURE() << f;
  EXPECT_EQ(tally.ran, kExpectedEd25519Cases);
  EXPECT_EQ(tally.ran, tally.declared);
  EXPECT_EQ(tally.valid_verified + tally.invalid_refused +
                static_cast<int>(tally.acceptable.size()),
            tally.ran);
}

TEST(WycheproofTest, HmacSha256) {
  const std::string file = "hmac_sha256_test.json";
  Tally tally;
  Json doc = LoadVectors(file);
  ASSERT_FALSE(doc.is_discarded());
  for (const Json& group : doc["testGroups"]) {
    if (!group.contains("tagSize") || !group["tagSize"].is_number_integer()) {
      ADD_FAILURE() << "group without tagSize";
      continue;
    }
    const size_t tag_bytes = group["tagSize"].get<size_t>() / 8;
    for (const Json& t : group["tests"]) {
      Case c;
      if (!DecodeCase(t, "tag", &c)) continue;
      ++tally.ran;
      if (c.sig.size() != tag_bytes) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": tag is not tagSize bits"));
        continue;
      }
      const std::string jwk =
          Json{{"kty", "oct"}, {"k", absl::WebSafeBase64Escape(c.key)}}.dump();
      auto raw =
          SigningKey::FromPrivateKey(Algorithm::kHs256, c.key, kCreatedAt);
      auto from_jwk = SigningKey::FromJwk(jwk, kCreatedAt);

      if (c.key.size() < kMinHmacSecretBytes) {
        // Not expressible as HS256: counted as refused only because the core
        // refuses the key, on both import paths.
        bool raw_refused =
            raw.status().code() == absl::StatusCode::kInvalidArgument;
        bool jwk_refused =
            from_jwk.status().code() == absl::StatusCode::kInvalidArgument;
        if (raw_refused && jwk_refused) {
          ++tally.refused_by_policy;
        } else {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": a ", c.key.size(),
              "-byte HMAC key must be refused (InvalidArgument); got "
              "FromPrivateKey ",
              raw.status().ToString(), ", FromJwk ",
              from_jwk.status().ToString()));
        }
        continue;
      }
      if (!raw.ok() || !from_jwk.ok()) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": a ", c.key.size(),
                         "-byte HMAC key was refused: FromPrivateKey ",
                         raw.status().ToString(), ", FromJwk ",
                         from_jwk.status().ToString()));
        continue;
      }
      if ((*raw)->algorithm() != Algorithm::kHs256 ||
          (*from_jwk)->algorithm() != Algorithm::kHs256) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": key not imported as HS256"));
        continue;
      }
      const bool raw_verdict = (*raw)->Verify(c.msg, c.sig);
      const bool jwk_verdict = (*from_jwk)->Verify(c.msg, c.sig);
      if (raw_verdict != jwk_verdict) {
        tally.failures.push_back(
            absl::StrCat(Describe(c), ": imports disagree (raw ", raw_verdict,
                         ", JWK ", jwk_verdict, ")"));
        continue;
      }
      absl::StatusOr<std::string> full = (*raw)->Sign(c.msg);
      if (!full.ok() || full->size() != 32) {
        tally.failures.push_back(absl::StrCat(
            Describe(c), ": Sign failed or gave a tag that is not 32 bytes: ",
            full.status().ToString()));
        continue;
      }
      const bool tag_matches = full->compare(0, tag_bytes, c.sig) == 0;

      if (tag_bytes != 32) {
        // Truncated tag: a JWS HS256 verifier refuses it whatever its
        // value; the HMAC computation is checked through Sign's prefix.
        if (raw_verdict) {
          tally.failures.push_back(
              absl::StrCat(Describe(c), ": expected a ", tag_bytes,
                           "-byte tag to be refused as HS256, got verified"));
        } else if (c.result == "valid" && !tag_matches) {
          tally.failures.push_back(
              absl::StrCat(Describe(c),
                           ": expected Sign(msg) to start with the valid tag, "
                           "it does not"));
        } else if (c.result == "invalid" && tag_matches) {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": Sign(msg) starts with an invalid tag"));
        } else if (c.result == "acceptable") {
          tally.acceptable.push_back(absl::StrCat(
              "tcId ", c.tc_id, ": ", tag_matches ? "matches" : "differs"));
        } else {
          ++tally.truncated_checked;
        }
        continue;
      }
      if (c.result == "valid") {
        if (raw_verdict && tag_matches) {
          ++tally.valid_verified;
        } else {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": expected valid (verifies), got ",
              raw_verdict ? "verified" : "refused", ", Sign(msg) ",
              tag_matches ? "equals" : "differs from", " the tag"));
        }
      } else if (c.result == "invalid") {
        if (!raw_verdict && !tag_matches) {
          ++tally.invalid_refused;
        } else {
          tally.failures.push_back(absl::StrCat(
              Describe(c), ": expected invalid (refused), got ",
              raw_verdict ? "verified" : "refused", ", Sign(msg) ",
              tag_matches ? "equals" : "differs from", " the tag"));
        }
      } else {
        tally.acceptable.push_back(absl::StrCat(
            "tcId ", c.tc_id, ": ", raw_verdict ? "accepted" : "refused"));
      }
    }
  }
  std::cout << tally.Summary(file) << std::endl;
  for (const std::string& f : tally.failures) ADD_FAILURE() << f;
  EXPECT_EQ(tally.ran, kExpectedHmacCases);
  EXPECT_EQ(tally.ran, doc["numberOfTests"].get<int>());
  EXPECT_EQ(tally.valid_verified + tally.invalid_refused +
                tally.truncated_checked + tally.refused_by_policy +
                static_cast<int>(tally.acceptable.size()),
            tally.ran);
}

}  // namespace
}  // namespace token_authority::token

// The attack-suite fixture: the REAL server in-process (tests/testing/
// test_server.h, fake clock, no background maintenance) with two
// organisations, and a copy of every signing key of both read back from the
// server's store, so that a test can forge any token with the server's own
// keys and check it against
//   - the token core: TokenVerifier::Verify with a KeySet built from those
//     keys (same states, same leeway, same clock), and token::DecodeToken;
//   - the server: TokenService.VerifyToken (a service-wide verifier key) and
//     TokenService.DecodeToken (the organisation's issuer key) over gRPC.
// Deny() asserts the same DenyReason (and the same detail sentence) from the
// core and the server, and counts the case; main prints the total as
// "attack cases run: N".
#ifndef TESTS_HARDENING_ATTACK_FIXTURE_H_
#define TESTS_HARDENING_ATTACK_FIXTURE_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/random.h"
#include "gtest/gtest.h"
#include "tests/testing/test_server.h"
#include "token/algorithm.h"
#include "token/decoder.h"
#include "token/deny_reason.h"
#include "token/key_set.h"
#include "token/signing_key.h"
#include "token/verifier.h"

namespace token_authority::hardening {

namespace v1 = ::tokenauthority::v1;

// Attack cases run so far in this process (every Deny() call).
int AttackCasesRun();

// What DecodeToken must say about a refused token.
enum class DecodeCheck {
  // The core decoder lists a problem of the expected reason, and the
  // server's DecodeToken lists that problem's sentence.
  kProblem,
  // The server's DecodeToken says REVOKED (the core decoder cannot know).
  kRevoked,
  // Not a property of the token (depends on the playback request).
  kNone,
};

// Revocations and disabled organisations as the core sees them.
class TestHooks : public token::VerifyHooks {
 public:
  bool IsOrganizationDisabled(absl::string_view organization_id) const override;
  bool IsRevoked(const token::Claims& claims) const override;
  std::set<std::string> revoked;
  std::set<std::string> disabled;
};

// base64url without padding, and a compact JWS of exactly these bytes.
std::string B64(absl::string_view data);
std::string SignRaw(absl::string_view header_json,
                    absl::string_view payload_json,
                    const token::SigningKey& key);
// header_b64 "." payload_b64 "." B64(sign(header_b64 "." payload_b64)),
// for segments that are deliberately not canonical base64url.
std::string SignSegments(absl::string_view header_b64,
                         absl::string_view payload_b64,
                         const token::SigningKey& key);
// {"alg":<key's alg or `alg`>,"typ":"JWT","kid":<key's kid>}
std::string HeaderFor(const token::SigningKey& key, absl::string_view alg = "");

class AttackTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kDefaultLeeway = absl::Seconds(60);

  void SetUp() override;
  // Stops the current server (if any) and starts a fresh one with `leeway`,
  // organisations A and B (issuer keys), a service-wide verifier key, and
  // A's keys rotated so that A holds one key of every algorithm (ES256 first
  // key, RS256, EdDSA, HS256, then a new ES256 primary).
  void StartServer(absl::Duration leeway);
  // Re-reads both organisations' keys from the store.
  void ReloadKeys();

  absl::Time Now() const;
  void SetNow(absl::Time t);

  // A new token id (22 base64url characters).
  std::string NewJti();
  // A claims JSON for `org` valid from now - 10 s for an hour, for stream
  // "cam1" unless `target` (a JSON member such as "\"groupid\":\"g\"") is
  // given; `extra` members are appended (",\"x\":1").
  std::string Claims(const std::string& org, absl::string_view target = "",
                     absl::string_view extra = "", std::string jti = "");
  std::string Claims(const std::string& org, int64_t iat, int64_t nbf,
                     int64_t exp, absl::string_view target = "",
                     absl::string_view extra = "", std::string jti = "");
  // A good token of organisation A for "cam1", signed by A's primary key.
  std::string GoodToken();

  // The playback of "cam1" in organisation `org` (A by default).
  token::PlaybackRequest Playback(const std::string& org = "");

  const token::KeySet& Keys(const std::string& org) const;
  // The newest non-retired key of `alg` in `org`.
  const token::SigningKey& KeyOf(const std::string& org,
                                 token::Algorithm alg) const;
  const token::SigningKey& Primary(const std::string& org) const;
  // Any key (also retired) of `org` by kid.
  const token::SigningKey& KeyByKid(const std::string& kid) const;

  // Asserts that the core and the server refuse `jwt` for `request` with
  // `want` (and the same detail), that DecodeToken agrees per `decode`, and
  // counts the case. `keys_org` names the core's key set (default: the
  // request's organisation, or the token's "org" claim when the request
  // names none, as the server does).
  void Deny(const std::string& name, const std::string& jwt,
            token::DenyReason want, DecodeCheck decode = DecodeCheck::kProblem,
            const token::PlaybackRequest* request = nullptr,
            const std::string& keys_org = "");
  // Counts a case checked by hand (not through Deny()).
  void CountCase();
  // Asserts that the core and the server both allow `jwt` (not counted).
  void Allow(const std::string& name, const std::string& jwt,
             const token::PlaybackRequest* request = nullptr);

  // The server's verdict over gRPC; the grpc status code if the call failed.
  absl::StatusOr<v1::VerifyTokenResponse> ServerVerify(
      const std::string& jwt, const token::PlaybackRequest& request);
  absl::StatusOr<v1::DecodeTokenResponse> ServerDecode(const std::string& jwt,
                                                       const std::string& org);

  // Issues a token through the server for A ("cam1", lifetime 1 h).
  v1::IssueTokenResponse IssueA();
  void RevokeA(const std::string& token_id);
  void RotateA(token::Algorithm alg);

  std::unique_ptr<testing::TestServer> server_;
  testing::OrgCredentials a_, b_, verifier_;
  absl::Duration leeway_ = kDefaultLeeway;
  std::unique_ptr<token::TokenVerifier> core_;
  TestHooks hooks_;
  std::map<std::string, token::KeySet> key_sets_;
  std::map<std::string, std::shared_ptr<const token::SigningKey>> by_kid_;
  FakeRandom random_{20240601};
};

}  // namespace token_authority::hardening

#endif  // TESTS_HARDENING_ATTACK_FIXTURE_H_

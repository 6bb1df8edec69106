// LocalVerifier::Verify for requests that name their organisation, in the
// shape the client tests compare: the verdict itself (a failed status fails
// the calling test and yields an empty, denied result).
#ifndef TESTS_CLIENT_VERDICT_H_
#define TESTS_CLIENT_VERDICT_H_

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/local_verifier.h"
#include "gtest/gtest.h"

namespace token_authority::client {

inline token::VerifyResult Verdict(const LocalVerifier& verifier,
                                   absl::string_view jwt,
                                   const token::PlaybackRequest& request) {
  absl::StatusOr<token::VerifyResult> r = verifier.Verify(jwt, request);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : token::VerifyResult{};
}

inline tokenauthority::v1::VerifyTokenResponse Verdict(
    const LocalVerifier& verifier,
    const tokenauthority::v1::VerifyTokenRequest& request) {
  auto r = verifier.Verify(request);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : tokenauthority::v1::VerifyTokenResponse{};
}

}  // namespace token_authority::client

#endif  // TESTS_CLIENT_VERDICT_H_

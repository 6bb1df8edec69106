// Decoding a token without the server (tokenctl decode --jwks FILE), in the
// shape of DecodeToken's answer so that the same overview serves both.
#ifndef CLIENT_OFFLINE_DECODE_H_
#define CLIENT_OFFLINE_DECODE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::client {

// The organisation named by the token's "org" claim, read without checking
// anything else; empty when the payload cannot be read or has no "org"
// string. Thread-safe; never fails.
std::string PeekOrganization(absl::string_view jwt);

// Decodes `jwt` with the token core (token::DecodeToken) at `now`. With a
// non-empty `jwks_json` (an RFC 7517 JWK Set, e.g. from GetJwks) the
// signature is checked and the "org" claim compared with `organization_id`
// (empty: the token's own "org"); without one the signature is not checked
// and signature_valid is false. The answer's state is INVALID when a JWK
// Set was given and the signature does not verify with it (as DecodeToken
// answers), else ACTIVE, NOT_YET_VALID or EXPIRED from the token's times
// (revocations are not known offline; UNSPECIFIED when the times cannot be
// read); problems lists every problem.
// InvalidArgumentError only when `jwks_json` is not a valid JWK Set.
absl::StatusOr<tokenauthority::v1::DecodeTokenResponse> DecodeTokenOffline(
    absl::string_view jwt, absl::string_view jwks_json,
    absl::string_view organization_id, absl::Time now,
    absl::Duration leeway = absl::Seconds(60));

}  // namespace token_authority::client

#endif  // CLIENT_OFFLINE_DECODE_H_

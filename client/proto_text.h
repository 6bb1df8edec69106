// The API's enum values and targets in words, for people (tokenctl, the
// dialogs). The conversions themselves are in convert/proto_convert.h. Pure
// functions; thread-safe.
#ifndef CLIENT_PROTO_TEXT_H_
#define CLIENT_PROTO_TEXT_H_

#include <string>

#include "tokenauthority/v1/types.pb.h"

namespace token_authority::client {

// For people: "ES256", "active", "revoked", "admin", "primary", ... Unset
// values print "unspecified".
std::string AlgorithmText(tokenauthority::v1::Algorithm alg);
std::string TokenStateText(tokenauthority::v1::TokenState state);
std::string DenyReasonText(tokenauthority::v1::DenyReason reason);
std::string ApiKeyRoleText(tokenauthority::v1::ApiKeyRole role);
std::string SigningKeyStateText(tokenauthority::v1::SigningKeyState state);

// For people: "entire stream group abc", "streams a, b",
// "entire organisation", or "none" for an empty target.
std::string DescribeTarget(const tokenauthority::v1::Target& target);

}  // namespace token_authority::client

#endif  // CLIENT_PROTO_TEXT_H_

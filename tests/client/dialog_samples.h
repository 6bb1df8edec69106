// A sample IssueToken answer for the dialog tests (dialog_test.cc,
// dialog_overview_test.cc).
#ifndef TESTS_CLIENT_DIALOG_SAMPLES_H_
#define TESTS_CLIENT_DIALOG_SAMPLES_H_

#include "absl/time/time.h"
#include "convert/proto_convert.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::client {

// An entire-stream-group token of org-1 issued at `now` for 14 days, with
// every optional field set.
inline tokenauthority::v1::IssueTokenResponse SampleIssued(absl::Time now) {
  tokenauthority::v1::IssueTokenResponse r;
  tokenauthority::v1::Token* t = r.mutable_token();
  t->set_id("Zm9vYmFyYmF6cXV4cXV1eA");
  t->set_organization_id("org-1");
  t->mutable_target()->set_stream_group_id("grp-1");
  *t->mutable_issued_at() = convert::ToProtoTimestamp(now);
  *t->mutable_not_before() = convert::ToProtoTimestamp(now);
  *t->mutable_expires_at() =
      convert::ToProtoTimestamp(now + absl::Hours(24 * 14));
  t->set_client_ip("203.0.113.0/24");
  t->set_domain("*.example.com");
  t->set_user_id("viewer-42");
  t->set_tag("spring");
  t->set_key_id("kid-abc");
  t->set_algorithm(tokenauthority::v1::ALGORITHM_ES256);
  t->set_state(tokenauthority::v1::TOKEN_STATE_ACTIVE);
  r.set_jwt("eyJh.eyJi.c2ln");
  r.set_security_config("security: { jwtoken: \"eyJh.eyJi.c2ln\" }");
  return r;
}

}  // namespace token_authority::client

#endif  // TESTS_CLIENT_DIALOG_SAMPLES_H_

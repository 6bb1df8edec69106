// The call log lines no handler of ours writes: calls of the services gRPC
// serves by itself (grpc.health.v1.Health, server reflection), of methods
// nobody serves, and of our own methods whose request never reached the
// handler (too large, unparsable, invalid UTF-8 in a string field). A server
// interceptor writes the same line as every other call (organisation "-").
// It also gives an unparsable request the status it deserves: gRPC 1.51's
// callback API answers UNIMPLEMENTED with no message; the interceptor turns
// that into INVALID_ARGUMENT saying the request could not be parsed.
#ifndef SERVER_CALL_LOG_INTERCEPTOR_H_
#define SERVER_CALL_LOG_INTERCEPTOR_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "server/call_log.h"

namespace token_authority::server {

// Whether `method` (e.g. "/grpc.health.v1.Health/Check") belongs to a
// service whose handlers log their calls themselves (package
// tokenauthority); the interceptor logs those only when the handler did not
// run.
bool LoggedByHandler(const char* method);

// The factory to hand to ServerBuilder::experimental().SetInterceptorCreators.
// `log` is not owned and must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallLogInterceptorFactory(CallLog* log);

}  // namespace token_authority::server

#endif  // SERVER_CALL_LOG_INTERCEPTOR_H_

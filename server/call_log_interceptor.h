// Call log lines for the services gRPC serves by itself (grpc.health.v1.Health
// and server reflection), which run no handler of ours: a server interceptor
// writes the same line as every other call (organisation "-"). The project's
// own services log from their handlers and are not intercepted.
#ifndef SERVER_CALL_LOG_INTERCEPTOR_H_
#define SERVER_CALL_LOG_INTERCEPTOR_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "server/call_log.h"

namespace token_authority::server {

// Whether calls of `method` (e.g. "/grpc.health.v1.Health/Check") are logged
// by the interceptor: every method outside package tokenauthority.
bool LoggedByInterceptor(const char* method);

// The factory to hand to ServerBuilder::experimental().SetInterceptorCreators.
// `log` is not owned and must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallLogInterceptorFactory(CallLog* log);

}  // namespace token_authority::server

#endif  // SERVER_CALL_LOG_INTERCEPTOR_H_

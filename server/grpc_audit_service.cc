// AuditService adapter.
#include <utility>

#include "base/status_macros.h"
#include "server/early_release_allocator.h"
#include "server/grpc_services.h"
#include "server/proto_conversion.h"
#include "tokenauthority/v1/audit_service.grpc.pb.h"

namespace token_authority::server {
namespace {

class AuditServiceImpl final : public v1::AuditService::CallbackService {
 public:
  explicit AuditServiceImpl(const ServiceDeps& deps) : deps_(deps) {
    // Replies that can be large: their messages are freed once serialized
    // (a client that does not read pins only the bytes).
    SetMessageAllocatorFor_ListAuditEvents(&list_audit_events_messages_);
  }

  grpc::ServerUnaryReactor* ListAuditEvents(
      grpc::CallbackServerContext* context,
      const v1::ListAuditEventsRequest* request,
      v1::ListAuditEventsResponse* response) override {
    return RunUnary(
        deps_, context, response, "AuditService/ListAuditEvents",
        Execution::kListing,
        [this, request, response](const Caller& caller,
                                  CallInfo&) -> absl::Status {
          TA_ASSIGN_OR_RETURN(storage::AuditFilter filter, FromProto(*request));
          TA_ASSIGN_OR_RETURN(
              storage::Page<storage::AuditEvent> page,
              deps_.authority->ListAuditEvents(
                  caller, filter,
                  PageFromProto(request->page_size(), request->page_token())));
          for (const storage::AuditEvent& e : page.items) {
            ToProto(e, response->add_events());
          }
          response->set_next_page_token(page.next_page_token);
          return absl::OkStatus();
        });
  }

 private:
  const ServiceDeps deps_;
  EarlyReleaseAllocator<v1::ListAuditEventsRequest, v1::ListAuditEventsResponse>
      list_audit_events_messages_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAuditService(const ServiceDeps& deps) {
  return std::make_unique<AuditServiceImpl>(deps);
}

}  // namespace token_authority::server

// EarlyReleaseAllocator: a unary method's request and response messages
// freed as soon as gRPC has serialized the reply, instead of when the call is
// done.
//
// gRPC's callback API keeps a unary call's messages until the call is done,
// and a call is done only when its reply has left the process. A client that
// stops reading (a "slow reader") therefore pins every reply it asked for,
// and not only its bytes: a ListTokens page of 1,000 rows is ~170 KB on the
// wire but ~1 MB as a message. Set for a method (the generated
// SetMessageAllocatorFor_<Method>), this allocator's messages are emptied by
// ReleaseMessagesEarly() once Finish has returned (gRPC serializes the reply
// inside Finish, server_callback_handlers.h: SendMessagePtr + PerformOps,
// with interceptors that proceed synchronously, as the call log's does), so
// such a call keeps only the reply's bytes.
//
//   static EarlyReleaseAllocator<ListTokensRequest, ListTokensResponse> a;
//   service.SetMessageAllocatorFor_ListTokens(&a);
//   ...
//   EarlyReleasable* messages =
//       EarlyReleasableMessages(context->GetRpcAllocatorState());
//   reactor->Finish(status);            // serializes the reply
//   ReleaseMessagesEarly(messages);     // every path that Finishes must call
//
// The holder has two owners, gRPC (Release, when the call is done) and the
// code that finishes the call (ReleaseMessagesEarly): whichever comes second
// deletes it, so neither order frees memory the other still uses. Every call
// of a method with this allocator must reach ReleaseMessagesEarly exactly
// once (RunUnary and RunUnaryAsync do, on every path), or its holder leaks.
// Thread-safe.
#ifndef SERVER_EARLY_RELEASE_ALLOCATOR_H_
#define SERVER_EARLY_RELEASE_ALLOCATOR_H_

#include <atomic>

#include "grpcpp/support/message_allocator.h"

namespace token_authority::server {

// The part of a holder that code outside gRPC drops.
class EarlyReleasable {
 public:
  virtual void ReleaseEarly() = 0;

 protected:
  ~EarlyReleasable() = default;
};

// The EarlyReleaseAllocator holder of a call's messages, or nullptr for
// gRPC's default holder (and for nullptr). Ask before Finish: gRPC frees its
// default holder when the call is done, which can be before Finish returns.
inline EarlyReleasable* EarlyReleasableMessages(
    grpc::RpcAllocatorState* state) {
  return dynamic_cast<EarlyReleasable*>(state);
}

// Empties and drops `messages` (from EarlyReleasableMessages); nothing for
// nullptr.
inline void ReleaseMessagesEarly(EarlyReleasable* messages) {
  if (messages != nullptr) messages->ReleaseEarly();
}

template <typename Request, typename Response>
class EarlyReleaseAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response>,
                       public EarlyReleasable {
   public:
    Holder() {
      this->set_request(&request_);
      this->set_response(&response_);
    }
    void Release() override { Unref(); }
    void ReleaseEarly() override {
      // Swapping with empty messages frees their memory (Clear() would keep
      // repeated fields' elements for reuse); the pointers gRPC holds stay
      // valid.
      Request().Swap(&request_);
      Response().Swap(&response_);
      Unref();
    }

   private:
    ~Holder() = default;
    void Unref() {
      if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
    std::atomic<int> refs_{2};
    Request request_;
    Response response_;
  };
};

}  // namespace token_authority::server

#endif  // SERVER_EARLY_RELEASE_ALLOCATOR_H_

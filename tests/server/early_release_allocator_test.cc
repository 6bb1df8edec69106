#include "server/early_release_allocator.h"

#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "tokenauthority/v1/token_service.pb.h"

namespace token_authority::server {
namespace {

namespace v1 = ::tokenauthority::v1;
using Allocator =
    EarlyReleaseAllocator<v1::ListTokensRequest, v1::ListTokensResponse>;
using Holder =
    grpc::MessageHolder<v1::ListTokensRequest, v1::ListTokensResponse>;

// A page as ListTokens fills it.
void Fill(Holder* h) {
  h->request()->set_page_size(1000);
  for (int i = 0; i < 1000; ++i) {
    v1::Token* t = h->response()->add_tokens();
    t->set_id("token-" + std::to_string(i));
    t->set_tag("a tag long enough to live on the heap, not inline");
  }
}

TEST(EarlyReleaseAllocatorTest,
     ReleaseEarlyEmptiesTheMessagesAndKeepsThemValid) {
  Allocator allocator;
  Holder* h = allocator.AllocateMessages();
  Fill(h);
  v1::ListTokensResponse* response = h->response();
  const std::string serialized = response->SerializeAsString();
  ASSERT_GT(serialized.size(), 10000u);

  ReleaseMessagesEarly(EarlyReleasableMessages(h));
  // The pointers gRPC holds still point at (now empty) messages...
  EXPECT_EQ(h->response(), response);
  EXPECT_EQ(response->tokens_size(), 0);
  EXPECT_EQ(h->request()->page_size(), 0);
  // ...whose memory is given back: no element kept for reuse.
  EXPECT_EQ(response->tokens().ClearedCount(), 0);
  // gRPC's Release, when the call is done, deletes the holder (ASan reports
  // a leak if it does not, a use after free if it did so too early).
  h->Release();
}

TEST(EarlyReleaseAllocatorTest, GrpcMayReleaseFirst) {
  // The call can be done (its reply sent, OnDone run) before the thread that
  // finished it gets to ReleaseMessagesEarly.
  Allocator allocator;
  Holder* h = allocator.AllocateMessages();
  Fill(h);
  EarlyReleasable* messages = EarlyReleasableMessages(h);
  ASSERT_NE(messages, nullptr);
  h->Release();
  EXPECT_EQ(h->response()->tokens_size(), 1000);  // still ours to drop
  ReleaseMessagesEarly(messages);
}

TEST(EarlyReleaseAllocatorTest, BothOwnersOnTwoThreads) {
  Allocator allocator;
  for (int i = 0; i < 200; ++i) {
    Holder* h = allocator.AllocateMessages();
    Fill(h);
    std::thread grpc_side([h] { h->Release(); });
    ReleaseMessagesEarly(EarlyReleasableMessages(h));
    grpc_side.join();
  }
}

TEST(EarlyReleaseAllocatorTest, OtherHoldersAreLeftAlone) {
  // gRPC's default holder (any other RpcAllocatorState) and no state at all.
  struct Other : grpc::RpcAllocatorState {
    int freed = 0;
    void FreeRequest() override { ++freed; }
  } other;
  EXPECT_EQ(EarlyReleasableMessages(&other), nullptr);
  EXPECT_EQ(EarlyReleasableMessages(nullptr), nullptr);
  ReleaseMessagesEarly(nullptr);  // nothing to do
  EXPECT_EQ(other.freed, 0);
}

}  // namespace
}  // namespace token_authority::server

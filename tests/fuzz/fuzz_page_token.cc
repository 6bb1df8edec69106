// libFuzzer target: storage's page-token decoder (storage::DecodePageToken,
// DecodeInt64Pair). The input is (1) decoded as a page token of every kind
// against a fixed binding, and (2) split into kind, binding and payload for
// an encode/decode round trip. Properties:
//  - an accepted token is exactly the encoding of what it decodes to (one
//    accepted form per token);
//  - a round trip returns the payload; another kind or binding is refused.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "storage/page_token.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;  // NOLINT
  using storage::PageKind;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  static const std::string* const binding =
      new std::string(storage::PageBinding({"fuzz-org", "tag=x"}));

  for (PageKind kind :
       {PageKind::kTokens, PageKind::kAuditEvents, PageKind::kOrganizations}) {
    const auto payload = storage::DecodePageToken(input, kind, *binding);
    if (payload.ok()) {
      FUZZ_CHECK(storage::EncodePageToken(kind, *binding, *payload) == input);
      const auto pair = storage::DecodeInt64Pair(*payload);
      if (pair.ok()) {
        FUZZ_CHECK(storage::EncodeInt64Pair(pair->first, pair->second) ==
                   *payload);
      }
    }
  }

  if (size < 9) return 0;
  const PageKind kind = static_cast<PageKind>(1 + data[0] % 3);
  const std::string bind(input.substr(1, 8));
  const std::string payload(input.substr(9));
  const std::string token = storage::EncodePageToken(kind, bind, payload);
  const auto back = storage::DecodePageToken(token, kind, bind);
  if (token.size() <= 512) {
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == payload);
  }
  const PageKind other = static_cast<PageKind>(1 + (data[0] + 1) % 3);
  FUZZ_CHECK(!storage::DecodePageToken(token, other, bind).ok());
  std::string other_bind = bind;
  other_bind[0] = static_cast<char>(other_bind[0] ^ 1);
  FUZZ_CHECK(!storage::DecodePageToken(token, kind, other_bind).ok());
  return 0;
}

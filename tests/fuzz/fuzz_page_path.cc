// libFuzzer target: the client dialog's page-path parser
// (client::ParsePagePath). Property: an accepted path's canonical form
// (PagePath) parses back to the same page and stream id.
//
// KNOWN FINDING (tests/hardening/fuzz_findings_test.cc,
// PagePathRoundTripsEveryAcceptedPath): PagePath does not percent-encode
// '#', '?', '/' or '%' in a stream id, nor tell the stream id "new" from
// the stream/new/ page; such ids skip the round trip so that fuzzing can go
// on finding other problems.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "client/dialog.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;  // NOLINT
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const auto location = client::ParsePagePath(input);
  const auto known_finding = [](const client::PageLocation& loc) {
    return loc.stream_id.find_first_of("#?/%") != std::string::npos ||
           absl::EqualsIgnoreCase(loc.stream_id, "new");
  };
  if (location.ok() && !known_finding(*location)) {
    FUZZ_CHECK(!location->stream_id.empty());
    const std::string canonical = client::PagePath(*location);
    const auto again = client::ParsePagePath(canonical);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *location);
    FUZZ_CHECK(!client::PageTitle(location->page).empty());
  }
  return 0;
}

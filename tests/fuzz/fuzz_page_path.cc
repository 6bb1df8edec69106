// libFuzzer target: the client dialog's page-path parser
// (client::ParsePagePath). Property: an accepted path's canonical form
// (PagePath) parses back to the same page and stream id.
// (The finding PagePathRoundTripsEveryAcceptedPath in
// tests/hardening/fuzz_findings_test.cc came from here.)
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "client/dialog.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace token_authority;  // NOLINT
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const auto location = client::ParsePagePath(input);
  if (location.ok()) {
    FUZZ_CHECK(!location->stream_id.empty());
    const std::string canonical = client::PagePath(*location);
    const auto again = client::ParsePagePath(canonical);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *location);
    FUZZ_CHECK(!client::PageTitle(location->page).empty());
  }
  return 0;
}

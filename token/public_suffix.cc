#include "token/public_suffix.h"

#include <libpsl.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"

namespace token_authority::token {
namespace {

struct PslFree {
  void operator()(psl_ctx_t* ctx) const { psl_free(ctx); }
};

// The newest list on the machine, loaded once and kept for the process's
// life (libpsl's queries are thread-safe on a loaded context). Falls back to
// the built-in list, which libpsl never frees.
const psl_ctx_t* List() {
  static const psl_ctx_t* const list = [] {
    static std::unique_ptr<psl_ctx_t, PslFree> latest(psl_latest(nullptr));
    return latest != nullptr ? latest.get() : psl_builtin();
  }();
  return list;
}

}  // namespace

bool IsPublicSuffix(absl::string_view domain) {
  const psl_ctx_t* list = List();
  if (list == nullptr || domain.empty()) return false;
  const std::string lower = absl::AsciiStrToLower(domain);
  return psl_is_public_suffix2(list, lower.c_str(), PSL_TYPE_ANY) != 0;
}

}  // namespace token_authority::token

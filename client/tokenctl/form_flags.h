// The token form on the command line (internal to tokenctl): the flags that
// fill a DialogForm (`issue` and `dialog` share them), and how the form's
// problems are reported, each naming the flag to fix.
#ifndef CLIENT_TOKENCTL_FORM_FLAGS_H_
#define CLIENT_TOKENCTL_FORM_FLAGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"
#include "client/dialog.h"
#include "client/tokenctl/command.h"

namespace token_authority::client::tokenctl {

// --group | --streams | --org-wide (mutually exclusive), --lifetime,
// --expires, --not-before, --ip, --domain, --user, --tag.
struct FormFlags {
  std::string group, streams;
  bool org_wide = false;
  std::string lifetime, expires, not_before, ip, domain, user, tag;
  CLI::Option* group_opt = nullptr;
  CLI::Option* streams_opt = nullptr;
  CLI::Option* org_wide_opt = nullptr;
  CLI::Option* lifetime_opt = nullptr;
  CLI::Option* expires_opt = nullptr;

  // Adds the flags to `app`; the struct must outlive `app`'s parsing.
  void Add(CLI::App* app);

  // Whether any of the flags was given on `app` (after parsing).
  bool AnyGiven(const CLI::App* app) const;

  // Applies the given flags on top of `form` (after parsing).
  void ApplyTo(DialogForm* form) const;
};

// The flag that fills a form field, for messages; "" for none.
std::string FlagOf(const std::string& field);

// Reports a form's problems: one usage line "<what>: <problem> (<flag>).
// ..." on stderr and, with --json, the error document listing each problem
// with its field and flag. Returns kExitUsage.
int EmitProblems(Context& context, const std::vector<FormProblem>& problems,
                 absl::string_view what);

}  // namespace token_authority::client::tokenctl

#endif  // CLIENT_TOKENCTL_FORM_FLAGS_H_

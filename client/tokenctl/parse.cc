// ParseCommandLine (command.h): CLI11's parsing, with its errors turned into
// tokenctl's one line (and JSON document), unknown commands named with the
// nearest known one, --help and --version.
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/tokenctl/command.h"
#include "client/tokenctl/output.h"

namespace token_authority::client::tokenctl {
namespace {

// The deepest command of the command line reached by the parsing, and its
// path ("tokenctl admin key").
const CLI::App* DeepestCommand(const CLI::App& app, std::string* where) {
  *where = "tokenctl";
  const CLI::App* at = &app;
  while (true) {
    auto subs = at->get_subcommands();
    if (subs.empty()) break;
    at = subs.front();
    absl::StrAppend(where, " ", at->get_name());
  }
  return at;
}

// The Levenshtein distance between `a` and `b`.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The subcommand names of `at`, in the order of --help.
std::vector<std::string> CommandNames(const CLI::App& at) {
  std::vector<std::string> names;
  for (const CLI::App* sub :
       at.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// What to say when the command `at` (a group, e.g. "keys") needs a
// subcommand: `word` is not one of them (with the nearest name when it is
// close), or none was given.
std::string MissingCommand(const CLI::App& at, const std::string& word) {
  const std::vector<std::string> names = CommandNames(at);
  if (word.empty()) {
    return absl::StrCat("a command is required: ", absl::StrJoin(names, ", "));
  }
  std::string nearest;
  size_t best = std::string::npos;
  for (const std::string& name : names) {
    const size_t d = EditDistance(word, name);
    if (d < best) best = d, nearest = name;
  }
  std::string message = absl::StrCat("unknown command \"", word, "\"");
  // Close enough to be a typo: at most a third of the longer word.
  if (!nearest.empty() && best * 3 <= std::max(word.size(), nearest.size())) {
    absl::StrAppend(&message, " (did you mean \"", nearest, "\"?)");
  } else {
    absl::StrAppend(&message, "; the commands are ",
                    absl::StrJoin(names, ", "));
  }
  return message;
}

// The first argument CLI11 left over that is not an option: the word given
// where a command was expected.
std::string LeftoverWord(const CLI::App& root) {
  for (const std::string& a : root.remaining(true)) {
    if (!absl::StartsWith(a, "-")) return a;
  }
  return "";
}

bool JsonRequested(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--json") return true;
  }
  return false;
}

}  // namespace

std::optional<int> ParseCommandLine(CLI::App& app,
                                    const std::vector<std::string>& args,
                                    Context& context) {
  std::vector<const char*> argv = {"tokenctl"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    app.exit(e, context.out(), context.err());
    return kExitOk;
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e, context.out(), context.err());
    return kExitOk;
  } catch (const CLI::CallForVersion& e) {
    if (JsonRequested(args)) {
      context.EmitJson({{"name", "tokenctl"}, {"version", e.what()}});
    } else {
      context.out() << "tokenctl " << e.what() << "\n";
    }
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::string where;
    const CLI::App* at = DeepestCommand(app, &where);
    std::string what = e.what();
    if (!at->get_subcommands([](const CLI::App*) { return true; }).empty() &&
        at->get_subcommands().empty() &&
        (absl::StrContains(what, "subcommand") ||
         absl::StrContains(what, "not expected"))) {
      what = MissingCommand(*at, LeftoverWord(app));
    }
    if (what.empty()) what = "bad command line";
    context.globals().json = JsonRequested(args);
    context.set_command(std::string(
        absl::StripPrefix(absl::StripPrefix(where, "tokenctl"), " ")));
    return context.Usage(
        absl::StrCat(what, "; run '", where, " --help' for usage"));
  } catch (const std::exception& e) {
    context.globals().json = JsonRequested(args);
    return context.Usage(e.what());
  }
  return std::nullopt;
}

}  // namespace token_authority::client::tokenctl

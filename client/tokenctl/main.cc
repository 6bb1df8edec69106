// tokenctl: the ops CLI. All logic lives in the ta_tokenctl library (Run,
// tokenctl.h); this only wires it to the process.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "client/tokenctl/tokenctl.h"

int main(int argc, char** argv) {
  namespace tc = token_authority::client::tokenctl;
  std::vector<std::string> args(argv + 1, argv + argc);
  tc::Environment env;
  env.in = &std::cin;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  const int code = tc::Run(args, env);
  std::cout.flush();
  return code;
}

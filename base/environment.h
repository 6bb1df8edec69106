// Environment variables as an injected function, so that flag parsing reads
// them from a test's map as easily as from the process (the server's and the
// web gateway's flags take one).
#ifndef BASE_ENVIRONMENT_H_
#define BASE_ENVIRONMENT_H_

#include <functional>
#include <optional>
#include <string>

namespace token_authority {

// An environment variable's value, nullopt when it is not set.
using Environment =
    std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv, read at each call).
Environment ProcessEnvironment();

}  // namespace token_authority

#endif  // BASE_ENVIRONMENT_H_

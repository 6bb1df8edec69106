// Names for the project's own threads, so that `top -H`, `ps -L`, perf and
// gdb show which one is busy (the writer, the completion thread, ...) instead
// of the binary's name on every thread.
#ifndef BASE_THREAD_NAME_H_
#define BASE_THREAD_NAME_H_

#include <string>
#include <thread>
#include <utility>

#include "absl/strings/string_view.h"

namespace token_authority {

// Linux keeps at most this many characters of a thread's name.
inline constexpr size_t kMaxThreadNameLength = 15;

// Names the calling thread; a longer name is cut to kMaxThreadNameLength.
// Best effort: a failure leaves the old name (the name is for people only).
void SetCurrentThreadName(absl::string_view name);

// The calling thread's name ("" if it cannot be read).
std::string CurrentThreadName();

// A std::thread that names itself `name` and then runs `body`.
template <typename Body>
std::thread StartNamedThread(std::string name, Body body) {
  return std::thread(
      [name = std::move(name), body = std::move(body)]() mutable {
        SetCurrentThreadName(name);
        body();
      });
}

}  // namespace token_authority

#endif  // BASE_THREAD_NAME_H_

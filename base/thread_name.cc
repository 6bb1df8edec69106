#include "base/thread_name.h"

#include <pthread.h>

namespace token_authority {

void SetCurrentThreadName(absl::string_view name) {
  const std::string cut(name.substr(0, kMaxThreadNameLength));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string CurrentThreadName() {
  char buf[kMaxThreadNameLength + 1] = {0};
  if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) return "";
  return buf;
}

}  // namespace token_authority

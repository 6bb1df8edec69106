// Must NOT compile under clang -Wthread-safety -Werror: reads a guarded
// member without its lock. tests/base/CMakeLists.txt compiles it and expects
// the compiler to refuse, which proves the analysis is on and the
// annotations of base/mutex.h work.
#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace token_authority {

class Counter {
 public:
  int Get() { return value_; }  // no MutexLock: the analysis must refuse

 private:
  Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

int Use() { return Counter().Get(); }

}  // namespace token_authority

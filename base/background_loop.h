// BackgroundLoop: one named thread that runs a function when woken and,
// optionally, every interval, until stopped. The shape the project's
// maintenance threads, pollers and queue drainers share (a stop flag, a
// condition variable and a thread), written once.
#ifndef BASE_BACKGROUND_LOOP_H_
#define BASE_BACKGROUND_LOOP_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace token_authority {

// Thread-safe: Wake and Stop may be called from any thread, but not from
// `run` itself (Stop would wait for its own thread).
class BackgroundLoop {
 public:
  // Does nothing until Start().
  BackgroundLoop() = default;
  // Stop().
  ~BackgroundLoop();
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Starts the thread, named `name` (see thread_name.h). It calls `run`
  // after each Wake() (wakes during a run are served by one more run) and,
  // when `interval` is finite, once `interval` has passed since the last run
  // ended (on the steady clock). One run at a time. Call at most once; after
  // Stop() it does nothing.
  void Start(std::string name, absl::Duration interval,
             std::function<void()> run);

  // Asks for a run soon. Cheap when a run is already pending.
  void Wake();

  // Ends the thread and waits for it: a run in progress finishes, and a
  // Wake() that came before Stop() and was not yet served gets its run, then
  // no run follows. Idempotent. A Wake() racing Stop() may come after it and
  // get no run: a caller that queues work for `run` should wake while still
  // holding the lock that orders its queue against its own shutdown, so that
  // work queued before the shutdown is always drained.
  void Stop();

 private:
  void Loop(absl::Duration interval, const std::function<void()>& run);

  Mutex mu_;
  CondVar cv_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Start, joined by the first Stop (callers serialise those two).
  std::thread thread_;
};

}  // namespace token_authority

#endif  // BASE_BACKGROUND_LOOP_H_

// Making a file unreadable also for root, so that tests of "cannot read this
// file" run in CI, which runs as root.
//
// chmod 000 stops an ordinary user, but root reads any file because it holds
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (the permission checks' bypass).
// Without those two capabilities root is checked like any owner: a file of
// mode 000 cannot be opened (EACCES). For an unprivileged user dropping them
// changes nothing, so the same test runs everywhere.
//
//  - NoFileAccessOverride: RAII, drops the two capabilities from the calling
//    THREAD's effective set (Linux keeps capabilities per thread) and raises
//    them again on destruction; for in-process code such as
//    SqliteTokenStore::Open. Threads started meanwhile inherit the reduced
//    set.
//  - DropFileAccessOverrideForExec: for a forked child before execv; drops
//    them from the bounding set (and the inheritable and ambient sets), so
//    that the program it runs as root does not get them back at exec.
//    Async-signal-safe (raw system calls only).
#ifndef TESTS_TESTING_FILE_ACCESS_H_
#define TESTS_TESTING_FILE_ACCESS_H_

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace token_authority::testing {

namespace file_access_internal {

inline constexpr int kOverrides[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};

// capget/capset of the calling thread (version 3: two 32-bit words).
inline bool GetCaps(__user_cap_data_struct (&data)[2]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return ::syscall(SYS_capget, &header, data) == 0;
}
inline bool SetCaps(__user_cap_data_struct (&data)[2]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return ::syscall(SYS_capset, &header, data) == 0;
}

}  // namespace file_access_internal

class NoFileAccessOverride {
 public:
  NoFileAccessOverride() {
    using file_access_internal::kOverrides;
    __user_cap_data_struct data[2] = {};
    if (!file_access_internal::GetCaps(data)) {
      status_ =
          absl::InternalError(absl::StrCat("capget: ", std::strerror(errno)));
      return;
    }
    for (int cap : kOverrides) {
      __u32& effective = data[CAP_TO_INDEX(cap)].effective;
      if ((effective & CAP_TO_MASK(cap)) != 0) {
        effective &= ~CAP_TO_MASK(cap);
        restore_ |= 1u << cap;
      }
    }
    if (restore_ != 0 && !file_access_internal::SetCaps(data)) {
      restore_ = 0;
      status_ =
          absl::InternalError(absl::StrCat("capset: ", std::strerror(errno)));
    }
  }
  ~NoFileAccessOverride() {
    if (restore_ == 0) return;
    __user_cap_data_struct data[2] = {};
    if (!file_access_internal::GetCaps(data)) return;
    for (int cap : file_access_internal::kOverrides) {
      if ((restore_ & (1u << cap)) != 0) {
        data[CAP_TO_INDEX(cap)].effective |= CAP_TO_MASK(cap);
      }
    }
    (void)file_access_internal::SetCaps(data);
  }
  NoFileAccessOverride(const NoFileAccessOverride&) = delete;
  NoFileAccessOverride& operator=(const NoFileAccessOverride&) = delete;

  // Whether the capabilities are off for this thread now.
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
  unsigned restore_ = 0;  // bit `cap`: raise `cap` again
};

// In a forked child before exec. Returns 0, or the errno of the step that
// failed. Dropping from the bounding set needs CAP_SETPCAP, which root has;
// a process that is not root gains nothing at exec, so there it may fail.
inline int DropFileAccessOverrideForExec() {
  using file_access_internal::kOverrides;
  for (int cap : kOverrides) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      const int err = errno;
      if (::geteuid() == 0) return err;
    }
  }
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_data_struct data[2] = {};
  if (!file_access_internal::GetCaps(data)) return errno;
  for (int cap : kOverrides) {
    data[CAP_TO_INDEX(cap)].inheritable &= ~CAP_TO_MASK(cap);
    data[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
    data[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
  }
  if (!file_access_internal::SetCaps(data)) return errno;
  return 0;
}

}  // namespace token_authority::testing

#endif  // TESTS_TESTING_FILE_ACCESS_H_

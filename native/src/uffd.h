// What dirty tracking (dirty.cc) and copy-on-write (cow.cc) share about opening a userfaultfd.
#pragma once

#include <string>

namespace cr {

// "what: strerror(errno)".
std::string ErrnoText(const char* what);

// A userfaultfd in full mode (O_CLOEXEC | O_NONBLOCK), or -1 with `reason` set. Full mode only:
// with a user-mode-only descriptor (all an unprivileged process gets when
// vm.unprivileged_userfaultfd=0) the kernel's own writes into a protected page — a read(2) into
// a region — fail with EFAULT, which would break a job that reads files into its regions.
int OpenFullModeUffd(std::string* reason);

}  // namespace cr

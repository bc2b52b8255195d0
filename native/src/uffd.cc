#include "uffd.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

namespace cr {

std::string ErrnoText(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

int OpenFullModeUffd(std::string* reason) {
  const int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return fd;
  const int first = errno;
  const int user = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (user >= 0) {
    close(user);
    *reason =
        "userfaultfd is allowed in user-mode-only form, where a read(2) into a protected region fails with EFAULT "
        "(set vm.unprivileged_userfaultfd=1 or run with CAP_SYS_PTRACE to use it)";
  } else {
    errno = first;
    *reason = ErrnoText("userfaultfd (not in this kernel, or refused by seccomp)");
  }
  return -1;
}

}  // namespace cr

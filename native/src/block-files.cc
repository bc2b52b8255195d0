#include "block-files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "codec.h"

namespace cr {

namespace {

constexpr uint64_t kDirectMinBytes = uint64_t{8} << 20;

// The file behind `fd` opened again with O_DIRECT, or -1: only a regular file, and only where
// the file system allows direct I/O (tmpfs does not).
int OpenDirect(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const int direct = open(link.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (direct < 0) return -1;
  struct stat again;
  if (fstat(direct, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
    close(direct);
    return -1;
  }
  return direct;
}

// Which pages of [from, to) of a file the page cache holds (mincore over a mapping of it, which
// reads nothing). Where that cannot be told, nothing counts as held: the block is read directly.
class Residency {
 public:
  Residency(int fd, uint64_t from, uint64_t to) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) return;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    to = std::min(to, size);
    if (from >= to) return;
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return;
    first_ = from / page;
    page_ = page;
    const uint64_t end = (to + page - 1) / page;
    pages_.resize(end - first_);
    if (mincore(static_cast<uint8_t*>(map) + first_ * page, (end - first_) * page,
                pages_.data()) != 0) {
      pages_.clear();
    }
    munmap(map, size);
  }

  bool Holds(uint64_t position, size_t length) const {
    if (length == 0) return true;
    const uint64_t first = position / page_;
    const uint64_t last = (position + length - 1) / page_;
    if (first < first_ || last - first_ >= pages_.size()) return false;
    for (uint64_t p = first; p <= last; ++p) {
      if ((pages_[p - first_] & 1) == 0) return false;
    }
    return true;
  }

 private:
  std::vector<unsigned char> pages_;
  uint64_t first_ = 0;
  uint64_t page_ = 1;
};

}  // namespace

uint8_t* MapDirectPage() {
  // Mapped twice the size, then trimmed to the aligned page inside: only an aligned mapping can
  // be backed by a huge page.
  const size_t span = 2 * kDirectPage;
  void* map = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(map);
  const uintptr_t aligned = (start + kDirectPage - 1) & ~(uintptr_t{kDirectPage} - 1);
  const uintptr_t end = aligned + kDirectPage;
  if (aligned > start) munmap(map, aligned - start);
  if (start + span > end) munmap(reinterpret_cast<void*>(end), start + span - end);
#ifdef MADV_HUGEPAGE
  madvise(reinterpret_cast<void*>(aligned), kDirectPage, MADV_HUGEPAGE);  // a hint: 4 KiB pages work too
#endif
#ifdef MADV_DONTFORK
  // As for regions (region.cc): a child of Node runs another program, and a fork would otherwise
  // write-protect this page and split it at the next read.
  madvise(reinterpret_cast<void*>(aligned), kDirectPage, MADV_DONTFORK);
#endif
  return reinterpret_cast<uint8_t*>(aligned);
}

void UnmapDirectPage(uint8_t* page) {
  if (page != nullptr) munmap(page, kDirectPage);
}

int ReadFully(int fd, uint8_t* out, size_t length, uint64_t position, bool* truncated) {
  size_t done = 0;
  while (done < length) {
    const size_t want = std::min<size_t>(length - done, size_t{1} << 30);
    const ssize_t n = pread(fd, out + done, want, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) {
      *truncated = true;
      return 0;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

uint8_t* ReadDirect(int directFd, int fd, uint8_t* buffer, size_t length, uint64_t position,
                    int* err, bool* truncated) {
  const uint64_t start = position / kDirectAlignment * kDirectAlignment;
  const size_t skip = static_cast<size_t>(position - start);
  const size_t need = skip + length;
  const size_t want = (need + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
  size_t done = 0;
  while (done < need) {
    if (done % kDirectAlignment != 0) break;  // unaligned now: the rest through the page cache
    const ssize_t n = pread(directFd, buffer + done, want - done, static_cast<off_t>(start + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL) break;
      *err = errno;
      return nullptr;
    }
    if (n == 0) {
      *truncated = true;
      *err = 0;
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  if (done < need) {
    *err = ReadFully(fd, buffer + done, need - done, start + done, truncated);
    if (*err != 0 || *truncated) return nullptr;
  }
  *err = 0;
  return buffer + skip;
}

DirectFiles::~DirectFiles() {
  for (const auto& [fd, direct] : direct_) {
    if (direct >= 0) close(direct);
  }
}

std::vector<int> DirectFiles::Assign(const std::vector<StoredSpan>& blocks) {
  std::vector<int> none;
  const char* setting = std::getenv("CR_DIRECT_READS");
  if (setting != nullptr && std::strcmp(setting, "0") == 0) return none;
  uint64_t total = 0;
  for (const StoredSpan& b : blocks) total += b.length;
  if (total < kDirectMinBytes) return none;
  std::map<int, std::vector<size_t>> byFd;
  for (size_t i = 0; i < blocks.size(); ++i) byFd[blocks[i].fd].push_back(i);
  std::vector<std::pair<size_t, int>> uncached;
  uint64_t uncachedBytes = 0;
  for (const auto& [fd, indices] : byFd) {
    const int direct = OpenDirect(fd);
    direct_[fd] = direct;
    if (direct < 0) continue;
    uint64_t from = UINT64_MAX, to = 0;
    for (const size_t i : indices) {
      from = std::min(from, blocks[i].position);
      to = std::max(to, blocks[i].position + blocks[i].length);
    }
    const Residency resident(fd, from, to);
    for (const size_t i : indices) {
      if (resident.Holds(blocks[i].position, blocks[i].length)) continue;
      uncached.emplace_back(i, direct);
      uncachedBytes += blocks[i].length;
    }
  }
  if (uncachedBytes < kDirectMinBytes) return none;
  std::vector<int> directFds(blocks.size(), -1);
  for (const auto& [i, direct] : uncached) directFds[i] = direct;
  return directFds;
}

}  // namespace cr

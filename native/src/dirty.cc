// Dirty-block tracking for regions: userfaultfd write-protection in asynchronous mode, read and
// re-armed with the PAGEMAP_SCAN ioctl (Linux ≥ 6.7). In async mode the kernel resolves a write
// to a protected page by itself and marks the page written, so no handler thread is needed and
// a thread can never hang on a fault (the hazard of sync mode, cow.cc). Anything
// missing at run time — an old kernel, seccomp refusing the syscall, a feature not offered —
// makes `dirtyTrackingSupport()` say why, and cr falls back to comparing block hashes.
// Debian 12's headers predate these interfaces, so their constants are spelled out here from the
// kernel's UAPI (include/uapi/linux/fs.h, userfaultfd.h).
#include "dirty.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "region.h"
#include "uffd.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#endif

namespace cr {

namespace {

constexpr uint64_t kPageIsWritten = 1ULL << 1;
constexpr uint64_t kScanWpMatching = 1ULL << 0;
constexpr uint64_t kScanCheckWpAsync = 1ULL << 1;

struct PmScanArg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};
struct PageRegion {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);

// One userfaultfd and one pagemap descriptor serve every region of the process; both are
// opened on first use and kept open for the life of the process.
class Tracker {
 public:
  static Tracker& Get() {
    static Tracker* tracker = new Tracker();  // never destroyed: regions may outlive statics
    return *tracker;
  }

  const DirtySupport& Support() {
    std::call_once(probed_, [this] { Probe(); });
    return support_;
  }

  bool Track(uint8_t* base, size_t length, std::string* error) {
    if (!Support().available) {
      *error = support_.reason;
      return false;
    }
    return Register(base, length, error);
  }

  void Untrack(uint8_t* base, size_t length) {
    if (uffd_ < 0) return;
    uffdio_range range{reinterpret_cast<uint64_t>(base), length};
    ioctl(uffd_, UFFDIO_UNREGISTER, &range);
  }

  // Marks in `dirty` (one byte per block) every block holding a page written since the last scan,
  // and write-protects those pages again in the same call. Returns the number of written pages,
  // or -1 with `error` set.
  int64_t Scan(uint8_t* base, size_t length, size_t blockSize, uint8_t* dirty, size_t blocks, std::string* error) {
    if (!Support().available) {
      *error = support_.reason;
      return -1;
    }
    return ScanPages(base, length, blockSize, dirty, blocks, error);
  }

 private:
  Tracker() = default;

  // Register + protect, without the support check (the probe runs inside that check).
  bool Register(uint8_t* base, size_t length, std::string* error) {
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(base);
    reg.range.len = length;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) {
      *error = ErrnoText("UFFDIO_REGISTER");
      return false;
    }
    uffdio_writeprotect wp{};
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) != 0) {
      *error = ErrnoText("UFFDIO_WRITEPROTECT");
      Untrack(base, length);
      return false;
    }
    return true;
  }

  int64_t ScanPages(uint8_t* base, size_t length, size_t blockSize, uint8_t* dirty, size_t blocks, std::string* error) {
    std::vector<PageRegion> vec(256);
    const uint64_t start = reinterpret_cast<uint64_t>(base);
    const uint64_t end = start + length;
    uint64_t at = start;
    int64_t pages = 0;
    const uint64_t page = PageSize();
    while (at < end) {
      PmScanArg arg{};
      arg.size = sizeof(arg);
      arg.flags = kScanWpMatching | kScanCheckWpAsync;
      arg.start = at;
      arg.end = end;
      arg.vec = reinterpret_cast<uint64_t>(vec.data());
      arg.vec_len = vec.size();
      arg.category_mask = kPageIsWritten;
      arg.return_mask = kPageIsWritten;
      const int found = ioctl(pagemap_, kPagemapScan, &arg);
      if (found < 0) {
        *error = ErrnoText("PAGEMAP_SCAN");
        return -1;
      }
      for (int i = 0; i < found; i++) {
        const uint64_t from = vec[i].start - start;
        const uint64_t to = vec[i].end - start;
        pages += static_cast<int64_t>((to - from) / page);
        const size_t first = from / blockSize;
        const size_t last = std::min(blocks, static_cast<size_t>((to - 1) / blockSize + 1));
        for (size_t b = first; b < last; b++) dirty[b] = 1;
      }
      if (arg.walk_end <= at) break;  // no progress: the kernel walked nothing more
      at = arg.walk_end;
    }
    return pages;
  }

  void Probe() {
    // Full mode: then the kernel's own writes into a region (read(2) into it) are tracked too.
    uffd_ = OpenFullModeUffd(&support_.reason);
    if (uffd_ < 0) return;
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    if (ioctl(uffd_, UFFDIO_API, &api) != 0) {
      support_.reason = ErrnoText("UFFDIO_API with asynchronous write-protection (needs Linux 6.7)");
      close(uffd_);
      uffd_ = -1;
      return;
    }
    pagemap_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_ < 0) {
      support_.reason = ErrnoText("open /proc/self/pagemap");
      return;
    }
    // A real round trip on a scratch page: protect, write, scan must report exactly that page.
    const size_t page = PageSize();
    void* probe = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) {
      support_.reason = ErrnoText("mmap");
      return;
    }
    uint8_t* p = static_cast<uint8_t*>(probe);
    std::string error;
    uint8_t dirty[2] = {0, 0};
    if (!Register(p, 2 * page, &error)) {
      support_.reason = error;
    } else {
      p[page] = 1;
      const int64_t pages = ScanPages(p, 2 * page, page, dirty, 2, &error);
      const int64_t again = pages == 1 ? ScanPages(p, 2 * page, page, dirty, 2, &error) : -1;
      if (pages == 1 && dirty[0] == 0 && dirty[1] == 1 && again == 0) {
        support_.available = true;
      } else {
        support_.reason = pages < 0 || again < 0 ? error : "PAGEMAP_SCAN did not report the probe's written page exactly";
      }
      Untrack(p, 2 * page);
    }
    munmap(probe, 2 * page);
  }

  std::once_flag probed_;
  DirtySupport support_;
  int uffd_ = -1;
  int pagemap_ = -1;
};

// The region behind an ArrayBuffer argument, with its page-rounded extent.
struct TrackedRange {
  std::shared_ptr<Region> region;  // holding it keeps the memory mapped (the pin drops with it)
  uint8_t* base;
  size_t length;
};

TrackedRange RangeOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    throw Napi::TypeError::New(env, "expected a region's ArrayBuffer");
  }
  std::shared_ptr<Region> region = PinRegionOf(env, info[0]);
  if (!region) throw Napi::TypeError::New(env, "the ArrayBuffer is not a live region allocated by allocRegion");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const size_t page = PageSize();
  const size_t length = (buffer.ByteLength() + page - 1) / page * page;
  return {region, static_cast<uint8_t*>(buffer.Data()), length};
}

}  // namespace

const DirtySupport& DirtyTrackingSupport() {
  return Tracker::Get().Support();
}

Napi::Value DirtyTrackingSupportJs(const Napi::CallbackInfo& info) {
  const DirtySupport& s = DirtyTrackingSupport();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("available", Napi::Boolean::New(info.Env(), s.available));
  out.Set("reason", s.available ? info.Env().Null() : Napi::String::New(info.Env(), s.reason));
  return out;
}

Napi::Value TrackRegionJs(const Napi::CallbackInfo& info) {
  TrackedRange range = RangeOf(info);
  std::string error;
  if (!Tracker::Get().Track(range.base, range.length, &error)) {
    throw Napi::Error::New(info.Env(), "cannot track writes to the region: " + error);
  }
  return info.Env().Undefined();
}

Napi::Value UntrackRegionJs(const Napi::CallbackInfo& info) {
  TrackedRange range = RangeOf(info);
  Tracker::Get().Untrack(range.base, range.length);
  return info.Env().Undefined();
}

Napi::Value ScanDirtyJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TrackedRange range = RangeOf(info);
  if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "scanDirty(region, blockSize, dirty: Uint8Array)");
  }
  const double blockSize = info[1].As<Napi::Number>().DoubleValue();
  const size_t page = PageSize();
  if (!(blockSize >= static_cast<double>(page)) || blockSize > 1024.0 * 1024.0 ||
      static_cast<size_t>(blockSize) % page != 0) {
    throw Napi::RangeError::New(env, "blockSize must be a multiple of the page size, at most 1 MiB");
  }
  Napi::Uint8Array dirty = info[2].As<Napi::Uint8Array>();
  const size_t bs = static_cast<size_t>(blockSize);
  const size_t blocks = (range.length + bs - 1) / bs;
  if (dirty.ElementLength() < blocks) throw Napi::RangeError::New(env, "dirty must hold one byte per block");
  std::string error;
  const int64_t pages = Tracker::Get().Scan(range.base, range.length, bs, dirty.Data(), blocks, &error);
  if (pages < 0) throw Napi::Error::New(env, "cannot scan the region for written pages: " + error);
  return Napi::Number::New(env, static_cast<double>(pages));
}

}  // namespace cr

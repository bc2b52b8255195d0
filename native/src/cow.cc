// Copy-on-write checkpoints of regions (docs/incremental.md, "Copy-on-write").
//
// A region in copy-on-write mode is registered with a userfaultfd in *synchronous*
// write-protect mode (not WP_ASYNC: the two cannot share a mapping, EBUSY). At a safe point,
// cowCapture reports the blocks written since the last one and write-protects them again;
// cowFlush then hands the blocks the image needs to the flusher thread, which copies them into
// staging memory, and returns: the job goes on at once. A write by the job to a block that is
// not saved yet stops the writing thread in the kernel and queues a fault; the handler thread
// saves the whole block first (so the image holds the block as it was at the safe point), marks
// it written (it counts dirty for the next image) and lifts the protection of that block with a
// wake. A block is saved once, by whichever thread gets there first.
//
// Blocks stay protected after the flush has saved them, so that the first write to each block
// in the interval that follows is seen too: the next capture knows exactly which blocks changed,
// at one fault per written block per interval (not one per page, as async tracking costs).
//
// The hang hazard (../shared/FACTS.md): a protected page with no live handler blocks the
// writing thread forever, and a Worker's terminate() then never resolves. So the handler is one
// thread for the whole process that is never stopped (like the pool's and the flusher's), and every way a
// region ends — free(), its ArrayBuffer's finalizer, the environment's teardown — first lifts
// the protection and unregisters the region (CloseCow), waiting only for block copies already
// running, each one block long.
#include "cow.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "args.h"
#include "region.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif

namespace cr {

namespace {

using Clock = std::chrono::steady_clock;

std::string Errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// The process's one synchronous userfaultfd and its handler thread.
class CowHandler {
 public:
  static CowHandler& Get() {
    static CowHandler* handler = new CowHandler();  // never destroyed: its thread never ends
    return *handler;
  }

  const CowSupport& Support() {
    std::call_once(probed_, [this] { Probe(); });
    return support_;
  }

  bool Register(uint8_t* base, size_t length, std::string* error) {
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(base);
    reg.range.len = length;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) {
      *error = errno == EBUSY ? std::string("UFFDIO_REGISTER: the region is still tracked in asynchronous mode (EBUSY)")
                              : Errno("UFFDIO_REGISTER");
      return false;
    }
    return true;
  }

  void Unregister(uint8_t* base, size_t length) {
    uffdio_range range{reinterpret_cast<uint64_t>(base), length};
    ioctl(uffd_, UFFDIO_UNREGISTER, &range);
  }

  // Sets or clears write-protection on [base, base + length); clearing wakes every thread that
  // waits on a fault in that range.
  bool Protect(uint8_t* base, size_t length, bool on, std::string* error) {
    uffdio_writeprotect wp{};
    wp.range.start = reinterpret_cast<uint64_t>(base);
    wp.range.len = length;
    wp.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    for (;;) {
      if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) == 0) return true;
      if (errno == EAGAIN || errno == EINTR) continue;  // the mapping was changing (a fork): again
      if (error != nullptr) *error = Errno("UFFDIO_WRITEPROTECT");
      return false;
    }
  }

  void Add(const std::shared_ptr<CowSession>& session, uint8_t* base);
  void Remove(uint8_t* base);
  std::vector<std::shared_ptr<CowSession>> SessionsOf(napi_env env);
  // Registers the environment's teardown hook once.
  void HookEnv(napi_env env);
  void Unhook(napi_env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    hooked_.erase(env);
  }

 private:
  CowHandler() = default;
  void Probe();
  void Loop();
  void OnFault(uint64_t address);

  std::once_flag probed_;
  CowSupport support_;
  int uffd_ = -1;
  std::mutex mutex_;
  std::map<uintptr_t, std::shared_ptr<CowSession>> sessions_;  // by base address
  std::set<napi_env> hooked_;
};

}  // namespace

class CowSession;
// Queues a flush for the flusher thread (below).
void SubmitFlush(std::shared_ptr<CowSession> session, std::vector<uint32_t> blocks);

class CowSession {
 public:
  enum State : uint8_t {
    kSaved = 0,    // protected; nothing left to copy for the flush in progress
    kPending = 1,  // protected; the flush must copy it before the job writes it
    kCopying = 2,  // protected; a thread is copying it now
    kWritten = 3,  // unprotected: written since the last capture (saved first if it had to be)
    kAhead = 4,    // unprotected ahead of a sequential writer: maybe written since the last capture
  };

  // A writer that faults on the block right after the last run it was let into is sweeping: each
  // such fault lets it into twice as many saved blocks ahead (up to this many), so that a sweep
  // over a region costs a handful of faults rather than one per block — a fault costs the job
  // 10–30 µs on a quiet machine and milliseconds under load (the handler thread must be
  // scheduled). The blocks let in ahead are reported "maybe written" (2): the image writer
  // compares their hash with the previous image's, so images stay the same as staging's.
  static constexpr size_t kMaxAhead = 64;

  CowSession(napi_env env, uint8_t* base, size_t byteLength, size_t mapLength, size_t blockSize)
      : env(env),
        base(base),
        byteLength(byteLength),
        mapLength(mapLength),
        blockSize(blockSize),
        blocks((byteLength + blockSize - 1) / blockSize),
        state(blocks, kSaved),
        slot(blocks, -1) {}

  // Folds the blocks written since the last capture into pending (one byte per block) and
  // write-protects them again. Returns how many there were. JS thread, no flush in progress.
  size_t Capture(uint8_t* pending, std::string* error) {
    std::lock_guard<std::mutex> lock(m);
    size_t written = 0;
    size_t open = 0;
    for (size_t b = 0; b < blocks; b++) {
      if (state[b] == kWritten) {
        pending[b] = 1;
        written++;
      } else if (state[b] == kAhead && pending[b] != 1) {
        pending[b] = 2;
      }
      open += state[b] != kSaved;
    }
    CowHandler& h = CowHandler::Get();
    bool ok = true;
    if (!everProtected || open > blocks / 4) {
      ok = h.Protect(base, mapLength, true, error);  // one walk of the page tables
    } else {
      for (size_t b = 0; b < blocks && ok;) {
        if (state[b] == kSaved) {
          b++;
          continue;
        }
        size_t e = b;
        while (e < blocks && state[e] != kSaved) e++;
        ok = h.Protect(base + b * blockSize, std::min(mapLength, e * blockSize) - b * blockSize, true, error);
        b = e;
      }
    }
    if (!ok) return SIZE_MAX;
    everProtected = true;
    std::fill(state.begin(), state.end(), kSaved);
    faults = 0;
    aheadFrom = SIZE_MAX;
    ahead = 0;
    return written;
  }

  // Starts saving every block b with slots[b] >= 0 into dst + slots[b] (bounds checked by the
  // caller); ready[0] becomes 1 when all are saved. JS thread, right after Capture.
  void Flush(uint8_t* dstMemory, const int64_t* slots, int32_t* readyWord) {
    std::vector<uint32_t> list;
    {
      std::lock_guard<std::mutex> lock(m);
      dst = dstMemory;
      for (size_t b = 0; b < blocks; b++) {
        slot[b] = slots[b];
        if (slots[b] < 0) continue;
        if (state[b] != kSaved) {
          // Written by another thread since the capture (the job's thread was here): copied as
          // it is now, the best there is.
          Copy(b);
          continue;
        }
        state[b] = kPending;
        list.push_back(static_cast<uint32_t>(b));
      }
      remaining = list.size();
      flushBlocks = list.size();
      faultCopies = 0;
      flushFaults = 0;
      flushStart = Clock::now();
      ready = readyWord;
      flushing = true;
      if (remaining == 0) Complete(1);
    }
    if (!list.empty()) SubmitFlush(self.lock(), std::move(list));
  }

  // The flusher thread (or free()) saves block b, unless it is saved or being saved already.
  void Save(size_t b) {
    std::unique_lock<std::mutex> lock(m);
    if (closed || state[b] != kPending) return;
    state[b] = kCopying;
    active++;
    lock.unlock();
    Copy(b);
    lock.lock();
    active--;
    state[b] = kSaved;
    Saved();
  }

  // The handler thread: a write to a protected page at `address`.
  void OnFault(uint64_t address) {
    const Clock::time_point started = Clock::now();
    struct Timed {
      CowSession* s;
      Clock::time_point t0;
      ~Timed() { s->handlerNs.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count(), std::memory_order_relaxed); }
    } timed{this, started};
    const size_t offset = static_cast<size_t>(address - reinterpret_cast<uint64_t>(base));
    const size_t b = std::min(blocks == 0 ? 0 : blocks - 1, offset / blockSize);
    std::unique_lock<std::mutex> lock(m);
    faults++;
    if (flushing) flushFaults++;
    CowHandler& h = CowHandler::Get();
    if (closed || blocks == 0) {
      // Close lifted every protection already; a wake for this page is all that is left.
      h.Protect(base + offset / PageSize() * PageSize(), PageSize(), false, nullptr);
      return;
    }
    cv.wait(lock, [&] { return state[b] != kCopying; });
    if (state[b] == kPending) {
      state[b] = kCopying;
      active++;
      faultCopies++;
      lock.unlock();
      Copy(b);
      lock.lock();
      active--;
      Saved();
    }
    state[b] = kWritten;
    ahead = b == aheadFrom ? std::min(kMaxAhead, ahead == 0 ? 1 : ahead * 2) : 0;
    size_t end = b + 1;
    // Blocks ahead that the flush has not saved yet are saved here first: a sweep that outruns
    // the flush then waits for the copies it needs anyway, not for a fault per block.
    size_t copies = 0;
    while (end < blocks && end <= b + ahead && (state[end] == kSaved || state[end] == kPending)) {
      if (state[end] == kPending) {
        state[end] = kCopying;
        copies++;
      }
      end++;
    }
    if (copies > 0) {
      active += copies;
      faultCopies += copies;
      lock.unlock();
      for (size_t k = b + 1; k < end; k++) {
        if (state[k] == kCopying) Copy(k);  // only this thread moves a block out of kCopying it set
      }
      lock.lock();
      active -= copies;
      for (size_t k = b + 1; k < end; k++) {
        if (state[k] == kCopying) {
          state[k] = kAhead;
          Saved();
        }
      }
    }
    for (size_t k = b + 1; k < end; k++) state[k] = kAhead;
    // Regions are mapped with transparent huge pages (2 MiB), blocks are smaller: lifting the
    // protection of part of a huge page splits it into 4 KiB pages, after which every protect and
    // unprotect of that memory walks 512 entries instead of one (measured: a capture of 64 MiB
    // went from 0.3 ms to 20–30 ms). So the run is widened to whole huge pages where the blocks
    // around it are saved and protected (let in as "maybe written", like the blocks ahead).
    size_t start = b;
    constexpr uint64_t kHuge = uint64_t{2} << 20;
    if (blockSize < kHuge) {
      const uint64_t at = reinterpret_cast<uint64_t>(base);
      const uint64_t lo = (at + start * blockSize) / kHuge * kHuge;
      const uint64_t hi = (at + end * blockSize + kHuge - 1) / kHuge * kHuge;
      const size_t first = lo <= at ? 0 : static_cast<size_t>((lo - at) / blockSize);
      const size_t last = std::min<uint64_t>(blocks, (hi - at + blockSize - 1) / blockSize);
      while (start > first && state[start - 1] == kSaved) state[--start] = kAhead;
      while (end < last && state[end] == kSaved) state[end++] = kAhead;
    }
    aheadFrom = end;
    // Under the lock, so that a capture cannot re-protect the blocks between the state change
    // and this unprotect (a write by another thread would then go unseen).
    h.Protect(base + start * blockSize, std::min(mapLength, end * blockSize) - start * blockSize, false, nullptr);
  }

  void Close(bool finish) {
    if (finish) {
      for (size_t b = 0; b < blocks; b++) Save(b);
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return !flushing || closed; });
    }
    {
      std::unique_lock<std::mutex> lock(m);
      if (closed) return;
      closed = true;
      // No copy starts after `closed`; the ones running are one block each.
      cv.wait(lock, [&] { return active == 0; });
      if (flushing) Complete(-1);
      dst = nullptr;
      if (registered) {
        CowHandler& h = CowHandler::Get();
        h.Protect(base, mapLength, false, nullptr);  // wakes any thread still waiting
        h.Unregister(base, mapLength);
        registered = false;
      }
    }
    CowHandler::Get().Remove(base);
  }

  const napi_env env;
  uint8_t* const base;
  const size_t byteLength;
  const size_t mapLength;
  const size_t blockSize;
  const size_t blocks;
  std::weak_ptr<CowSession> self;

  std::mutex m;
  std::condition_variable cv;
  std::vector<uint8_t> state;
  std::vector<int64_t> slot;
  uint8_t* dst = nullptr;
  int32_t* ready = nullptr;
  bool registered = false;
  bool everProtected = false;
  bool closed = false;
  bool flushing = false;
  size_t remaining = 0;
  size_t active = 0;
  // Sequential writers (see kMaxAhead): where the last run let in ends, and how far ahead it went.
  size_t aheadFrom = SIZE_MAX;
  size_t ahead = 0;
  // Figures: faults since the last capture; of the flush in progress or the last one.
  uint64_t faults = 0;
  uint64_t flushFaults = 0;
  uint64_t faultCopies = 0;
  uint64_t flushBlocks = 0;
  Clock::time_point flushStart;
  double flushMs = 0;
  // Time the handler thread spent on this region's faults, from reading one to waking its writer.
  std::atomic<int64_t> handlerNs{0};

 private:
  void Copy(size_t b) {
    const size_t at = b * blockSize;
    std::memcpy(dst + slot[b], base + at, std::min(blockSize, byteLength - at));
  }

  // A block of the flush was saved (lock held).
  void Saved() {
    if (--remaining == 0 && flushing) Complete(1);
    cv.notify_all();
  }

  // The flush ended (lock held): 1 saved, -1 cancelled. The word is in a SharedArrayBuffer that
  // the image writer thread polls with Atomics.load.
  void Complete(int32_t value) {
    if (ready != nullptr) __atomic_store_n(ready, value, __ATOMIC_SEQ_CST);
    ready = nullptr;
    flushing = false;
    flushMs = std::chrono::duration<double, std::milli>(Clock::now() - flushStart).count();
    cv.notify_all();
  }
};

// The flusher: one thread for the process, never ended, that walks each flush's blocks in order.
// It runs at a lower priority (nice 5) than the job's thread: on a two-core machine, waking the
// pool's two threads for the copy took both cores from the job's thread at the very moment
// checkpoint() was returning (measured: the call that starts the flush took 8–20 ms instead of
// 0.1 ms). Yielding costs nothing in exactness: a block the job reaches first is saved by the
// handler thread, at normal priority, as for any write that outruns the flush.
namespace {

class Flusher {
 public:
  static Flusher& Get() {
    static Flusher* flusher = new Flusher();  // never destroyed: its thread never ends
    return *flusher;
  }
  void Submit(std::shared_ptr<CowSession> session, std::vector<uint32_t> blocks) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.emplace_back(std::move(session), std::move(blocks));
    }
    wake_.notify_one();
  }

 private:
  Flusher() {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    std::thread t([this] { Loop(); });
#if defined(__linux__)
    pthread_setname_np(t.native_handle(), "cr-cow-flush");
#endif
    t.detach();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  void Loop() {
#if defined(__linux__)
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
#endif
    for (;;) {
      std::pair<std::shared_ptr<CowSession>, std::vector<uint32_t>> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      for (uint32_t b : job.second) job.first->Save(b);
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::shared_ptr<CowSession>, std::vector<uint32_t>>> queue_;
};

}  // namespace

void SubmitFlush(std::shared_ptr<CowSession> session, std::vector<uint32_t> blocks) {
  Flusher::Get().Submit(std::move(session), std::move(blocks));
}

namespace {

void CowHandler::Add(const std::shared_ptr<CowSession>& session, uint8_t* base) {
  std::lock_guard<std::mutex> lock(mutex_);
  sessions_[reinterpret_cast<uintptr_t>(base)] = session;
}

void CowHandler::Remove(uint8_t* base) {
  std::shared_ptr<CowSession> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(reinterpret_cast<uintptr_t>(base));
  if (it != sessions_.end()) {
    dropped = std::move(it->second);
    sessions_.erase(it);
  }
}

std::vector<std::shared_ptr<CowSession>> CowHandler::SessionsOf(napi_env env) {
  std::vector<std::shared_ptr<CowSession>> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [base, s] : sessions_) {
    if (s->env == env) out.push_back(s);
  }
  return out;
}

void OnEnvCleanup(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  // Before the environment's memory (its staging SharedArrayBuffers) goes: no copy may land in
  // it after this, and no region of this environment stays protected.
  for (auto& s : CowHandler::Get().SessionsOf(env)) CloseCow(*s, false);
  CowHandler::Get().Unhook(env);
}

void CowHandler::HookEnv(napi_env env) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!hooked_.insert(env).second) return;
  }
  napi_add_env_cleanup_hook(env, OnEnvCleanup, env);
}

void CowHandler::OnFault(uint64_t address) {
  std::shared_ptr<CowSession> session;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sessions_.upper_bound(static_cast<uintptr_t>(address));
    if (it != sessions_.begin()) {
      --it;
      if (address < it->first + it->second->mapLength) session = it->second;
    }
  }
  if (session) {
    session->OnFault(address);
  } else {
    // The region was closed meanwhile (its close woke the thread): a wake costs nothing.
    const uint64_t page = PageSize();
    uffdio_range range{address / page * page, page};
    ioctl(uffd_, UFFDIO_WAKE, &range);
  }
}

void CowHandler::Loop() {
  uffd_msg msgs[32];
  for (;;) {
    pollfd p{uffd_, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) continue;  // EINTR
    const ssize_t n = read(uffd_, msgs, sizeof msgs);
    if (n <= 0) continue;  // EAGAIN: another reader, or a fault already resolved by a wake
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uffd_msg); i++) {
      if (msgs[i].event == UFFD_EVENT_PAGEFAULT) OnFault(msgs[i].arg.pagefault.address);
    }
  }
}

void CowHandler::Probe() {
  // Full mode only: with a user-mode-only descriptor a kernel write into a protected page (a
  // read(2) into a region) fails with EFAULT instead of waiting for the handler.
  uffd_ = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (uffd_ < 0) {
    const int first = errno;
    const int user = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    if (user >= 0) {
      close(user);
      support_.reason =
          "userfaultfd is allowed in user-mode-only form, where a read(2) into a protected region fails with EFAULT "
          "(set vm.unprivileged_userfaultfd=1 or run with CAP_SYS_PTRACE to use it)";
    } else {
      errno = first;
      support_.reason = Errno("userfaultfd (not in this kernel, or refused by seccomp)");
    }
    return;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  // WP_UNPOPULATED: a page never touched is protected too (its first write must be seen: the
  // flush would otherwise copy the job's new value).
  api.features = UFFD_FEATURE_WP_UNPOPULATED;
  if (ioctl(uffd_, UFFDIO_API, &api) != 0 || (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) == 0) {
    support_.reason = Errno("UFFDIO_API with write-protection of unpopulated pages (needs Linux 6.4)");
    close(uffd_);
    uffd_ = -1;
    return;
  }
  {
    // Asynchronous signals stay with Node's threads, as for the pool.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    std::thread t([this] { Loop(); });
#if defined(__linux__)
    pthread_setname_np(t.native_handle(), "cr-cow");
#endif
    t.detach();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }

  // A real round trip on scratch memory: a populated and an unpopulated page, protected, written
  // by another thread; the handler must save both as they were and let the writes through (the
  // first fault may let the writer into both pages: they share a huge page's span).
  const size_t page = PageSize();
  void* mem = mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    support_.reason = Errno("mmap");
    return;
  }
  uint8_t* p = static_cast<uint8_t*>(mem);
  uint8_t* staging = p + 2 * page;
  p[0] = 7;
  auto session = std::make_shared<CowSession>(nullptr, p, 2 * page, 2 * page, page);
  session->self = session;
  std::string error;
  if (!Register(p, 2 * page, &error)) {
    support_.reason = error;
    munmap(mem, 4 * page);
    return;
  }
  session->registered = true;
  Add(session, p);
  std::vector<uint8_t> pending(2, 0);
  int32_t ready = 0;
  const int64_t slots[2] = {0, static_cast<int64_t>(page)};
  if (session->Capture(pending.data(), &error) == SIZE_MAX) {
    support_.reason = error;
  } else {
    session->Flush(staging, slots, &ready);
    std::mutex doneMutex;
    std::condition_variable doneCv;
    bool written = false;
    // The flush may save the blocks before the writer gets there; it cannot save them before
    // the protection is on, which is all the probe checks.
    std::thread writer([&] {
      p[0] = 9;
      p[page] = 9;
      std::lock_guard<std::mutex> lock(doneMutex);
      written = true;
      doneCv.notify_all();
    });
    bool ok;
    {
      std::unique_lock<std::mutex> lock(doneMutex);
      ok = doneCv.wait_for(lock, std::chrono::seconds(5), [&] { return written; });
    }
    uint64_t faults;
    {
      std::lock_guard<std::mutex> lock(session->m);
      faults = session->faults;
    }
    CloseCow(*session, false);  // wakes the writer if the handler never answered
    writer.join();
    const bool wait = __atomic_load_n(&ready, __ATOMIC_SEQ_CST) == 1;
    if (!ok) {
      support_.reason = "a write to a write-protected page was not answered by the handler thread";
    } else if (faults < 1 || faults > 2 || !wait || staging[0] != 7 || staging[page] != 0 || p[0] != 9 || p[page] != 9) {
      support_.reason = "the copy-on-write probe did not save the pages as they were before the writes";
    } else {
      support_.available = true;
    }
  }
  CloseCow(*session, false);
  munmap(mem, 4 * page);
}

// The pinned region behind an ArrayBuffer argument.
struct CowRange {
  std::shared_ptr<Region> region;  // the pin drops with it
  uint8_t* base;
  size_t byteLength;
  size_t mapLength;
};

CowRange CowRangeOf(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) ThrowType(env, std::string(fn) + ": expected a region's ArrayBuffer");
  std::shared_ptr<Region> region = PinRegionOf(env, info[0]);
  if (!region) ThrowType(env, std::string(fn) + ": the ArrayBuffer is not a live region allocated by allocRegion");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  const size_t page = PageSize();
  const size_t byteLength = buffer.ByteLength();
  const size_t mapLength = byteLength == 0 ? page : (byteLength + page - 1) / page * page;
  return {region, static_cast<uint8_t*>(buffer.Data()), byteLength, mapLength};
}

std::shared_ptr<CowSession> SessionOf(Napi::Env env, const CowRange& range, const char* fn) {
  std::shared_ptr<CowSession> session = range.region->Cow();
  if (!session) ThrowType(env, std::string(fn) + ": the region is not in copy-on-write mode (call cowCapture first)");
  return session;
}

}  // namespace

const CowSupport& CopyOnWriteSupport() {
  return CowHandler::Get().Support();
}

void CloseCow(CowSession& session, bool finish) {
  session.Close(finish);
}

Napi::Value CowSupportJs(const Napi::CallbackInfo& info) {
  const CowSupport& s = CopyOnWriteSupport();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("available", Napi::Boolean::New(info.Env(), s.available));
  out.Set("reason", s.available ? info.Env().Null() : Napi::String::New(info.Env(), s.reason));
  return out;
}

Napi::Value CowCaptureJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "cowCapture";
  CowRange range = CowRangeOf(info, fn);
  const size_t page = PageSize();
  const size_t bs = static_cast<size_t>(IntegerArg(env, info[1], fn, "blockSize", static_cast<int64_t>(page), 1 << 20));
  if (bs % page != 0) ThrowRange(env, "cowCapture: blockSize must be a multiple of the page size, at most 1 MiB");
  View pending = Uint8ArrayArg(env, info[2], fn, "pending");
  const size_t blocks = (range.byteLength + bs - 1) / bs;
  if (pending.length < blocks) ThrowRange(env, "cowCapture: pending must hold one byte per block");
  const CowSupport& support = CopyOnWriteSupport();
  if (!support.available) throw Napi::Error::New(env, "copy-on-write is unavailable: " + support.reason);

  std::shared_ptr<CowSession> session = range.region->Cow();
  if (session && session->blockSize != bs) ThrowRange(env, "cowCapture: blockSize differs from the region's earlier captures");
  std::string error;
  if (!session) {
    session = std::make_shared<CowSession>(napi_env(env), range.base, range.byteLength, range.mapLength, bs);
    session->self = session;
    if (!CowHandler::Get().Register(range.base, range.mapLength, &error)) {
      throw Napi::Error::New(env, "cannot write-protect the region for copy-on-write: " + error);
    }
    session->registered = true;
    CowHandler::Get().Add(session, range.base);
    CowHandler::Get().HookEnv(env);
    range.region->SetCow(session);
  }
  {
    // Only when the checkpoint that started it failed before its image was handed over (its
    // writer waits for it otherwise): a flush is one copy of the region, not worth an error.
    std::unique_lock<std::mutex> lock(session->m);
    session->cv.wait(lock, [&] { return !session->flushing; });
  }
  const size_t written = session->Capture(pending.data, &error);
  if (written == SIZE_MAX) {
    range.region->EndCow(false);
    throw Napi::Error::New(env, "cannot write-protect the region for copy-on-write: " + error);
  }
  return Napi::Number::New(env, static_cast<double>(written));
}

Napi::Value CowFlushJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "cowFlush";
  CowRange range = CowRangeOf(info, fn);
  std::shared_ptr<CowSession> session = SessionOf(env, range, fn);
  View memory = Uint8ArrayArg(env, info[1], fn, "memory");
  View slots = TypedArrayArg(env, info[2], napi_float64_array, fn, "slots");
  View ready = TypedArrayArg(env, info[3], napi_int32_array, fn, "ready");
  const size_t blocks = session->blocks;
  if (slots.length < blocks) ThrowRange(env, "cowFlush: slots must hold one offset per block");
  if (ready.length < 1) ThrowRange(env, "cowFlush: ready must hold one element");
  const uintptr_t rb = reinterpret_cast<uintptr_t>(range.base);
  const uintptr_t mb = reinterpret_cast<uintptr_t>(memory.data);
  if (mb < rb + range.mapLength && rb < mb + memory.byteLength) ThrowRange(env, "cowFlush: memory overlaps the region");
  std::vector<int64_t> offsets(blocks);
  const double* s = reinterpret_cast<const double*>(slots.data);
  for (size_t b = 0; b < blocks; b++) {
    const double d = s[b];
    if (d < 0) {
      offsets[b] = -1;
      continue;
    }
    const int64_t at = OffsetValue(d);
    const size_t len = std::min(session->blockSize, range.byteLength - b * session->blockSize);
    if (at < 0 || static_cast<size_t>(at) > memory.byteLength || memory.byteLength - static_cast<size_t>(at) < len) {
      ThrowRange(env, "cowFlush: slots[" + std::to_string(b) + "] does not fit in memory");
    }
    offsets[b] = at;
  }
  {
    std::lock_guard<std::mutex> lock(session->m);
    if (session->flushing) throw Napi::Error::New(env, "cowFlush: a flush of this region is already running");
    if (session->closed) throw Napi::Error::New(env, "cowFlush: the region's copy-on-write has ended");
  }
  int32_t* word = reinterpret_cast<int32_t*>(ready.data);
  __atomic_store_n(word, 0, __ATOMIC_SEQ_CST);
  session->Flush(memory.data, offsets.data(), word);
  return env.Undefined();
}

Napi::Value CowReleaseJs(const Napi::CallbackInfo& info) {
  CowRange range = CowRangeOf(info, "cowRelease");
  range.region->EndCow(true);
  return info.Env().Undefined();
}

Napi::Value CowStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CowRange range = CowRangeOf(info, "cowStats");
  std::shared_ptr<CowSession> session = range.region->Cow();
  if (!session) return env.Null();
  std::lock_guard<std::mutex> lock(session->m);
  size_t written = 0;
  for (uint8_t st : session->state) written += st == CowSession::kWritten;
  Napi::Object out = Napi::Object::New(env);
  out.Set("flushing", Napi::Boolean::New(env, session->flushing));
  out.Set("flushBlocks", Napi::Number::New(env, static_cast<double>(session->flushBlocks)));
  out.Set("faultCopies", Napi::Number::New(env, static_cast<double>(session->faultCopies)));
  out.Set("flushFaults", Napi::Number::New(env, static_cast<double>(session->flushFaults)));
  out.Set("flushMs", Napi::Number::New(env, session->flushing ? -1 : session->flushMs));
  out.Set("faults", Napi::Number::New(env, static_cast<double>(session->faults)));
  out.Set("writtenBlocks", Napi::Number::New(env, static_cast<double>(written)));
  out.Set("handlerMs", Napi::Number::New(env, static_cast<double>(session->handlerNs.load()) / 1e6));
  return out;
}

}  // namespace cr

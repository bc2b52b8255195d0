// The copy-on-write session of one region and the process's userfaultfd handler (cow.cc says
// how copy-on-write works; cow-handler.cc holds the handler, flusher and probe threads).
#pragma once

#include <linux/userfaultfd.h>
#include <napi.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cow.h"
#include "region.h"
#include "uffd.h"

namespace cr {


using CowClock = std::chrono::steady_clock;

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
                              : ErrnoText("UFFDIO_REGISTER");
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
      if (error != nullptr) *error = ErrnoText("UFFDIO_WRITEPROTECT");
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
      flushWritten = 0;
      flushStart = CowClock::now();
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
    const CowClock::time_point started = CowClock::now();
    struct Timed {
      CowSession* s;
      CowClock::time_point t0;
      ~Timed() { s->handlerNs.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(CowClock::now() - t0).count(), std::memory_order_relaxed); }
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
    // unprotect of that memory walks 512 entries instead of one, and a capture takes tens of times
    // longer. So the run is widened to whole huge pages where the blocks
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
    if (flushing) {
      writerAt.store(end, std::memory_order_relaxed);
      flushWritten += end - start;
    }
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
  // Blocks the job was let into (written or maybe written) while the flush ran.
  uint64_t flushWritten = 0;
  uint64_t faultCopies = 0;
  uint64_t flushBlocks = 0;
  CowClock::time_point flushStart;
  double flushMs = 0;
  // Time the handler thread spent on this region's faults, from reading one to waking its writer.
  std::atomic<int64_t> handlerNs{0};
  // Where the run the job's last fault was let into ends (a block), for the flusher to go on from
  // there, ahead of the job; SIZE_MAX when there was no fault since the flusher last looked.
  std::atomic<size_t> writerAt{SIZE_MAX};

  // Whether the flush that was started is over (saved or cancelled): the flusher drops it.
  bool FlushOver() {
    std::lock_guard<std::mutex> lock(m);
    return !flushing || closed;
  }

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
    flushMs = std::chrono::duration<double, std::milli>(CowClock::now() - flushStart).count();
    cv.notify_all();
  }
};

}  // namespace cr

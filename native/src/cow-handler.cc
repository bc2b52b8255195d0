// The threads of copy-on-write that live as long as the process: the fault handler, the
// flusher, and the probe that decides whether copy-on-write works here (see cow.cc).
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <thread>

#include "cow-session.h"
#include "uffd.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#endif

namespace cr {

// The flusher: one thread for the process, never ended, that saves each flush's blocks, in order
// but from where the job writes first (see Loop).
// It runs at a lower priority (nice 5) than the job's thread: on a two-core machine, waking the
// pool's two threads for the copy took both cores from the job's thread at the very moment
// checkpoint() was returning, and the call that starts the flush took a hundred times longer.
// Yielding costs nothing in exactness: a block the job reaches first is saved by the
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
  // One flush: its blocks in region order, which of them were visited, and where to go on.
  struct Job {
    std::shared_ptr<CowSession> session;
    std::vector<uint32_t> blocks;
    std::vector<uint8_t> visited;
    size_t next = 0;
    size_t left = 0;
  };

  void Loop() {
#if defined(__linux__)
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
#endif
    std::vector<Job> active;
    size_t current = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (active.empty()) wake_.wait(lock, [this] { return !queue_.empty(); });
        while (!queue_.empty()) {
          Job job;
          job.session = std::move(queue_.front().first);
          job.blocks = std::move(queue_.front().second);
          job.visited.assign(job.blocks.size(), 0);
          job.left = job.blocks.size();
          queue_.pop_front();
          active.push_back(std::move(job));
        }
      }
      // Follow the job's writes: a region it wrote since the last block goes first, from just
      // past the run its last fault was let into. The blocks there are the ones it reaches next;
      // saved ahead of it, they cost it no copy, only a fault that lets it further in. Walking
      // the flushes in order instead, heat2d (which writes one of its two 512 MiB grids per sweep)
      // copied the whole grid it was writing itself, on its own thread, while the flusher saved
      // the other.
      for (size_t i = 0; i < active.size(); i++) {
        const size_t at = active[i].session->writerAt.exchange(SIZE_MAX, std::memory_order_relaxed);
        if (at == SIZE_MAX) continue;
        Job& j = active[i];
        j.next = static_cast<size_t>(std::lower_bound(j.blocks.begin(), j.blocks.end(), static_cast<uint32_t>(std::min<size_t>(at, UINT32_MAX))) - j.blocks.begin());
        current = i;
      }
      if (current >= active.size()) current = 0;
      Job& job = active[current];
      if (job.left > 0) {
        if (job.next >= job.blocks.size()) job.next = 0;
        while (job.visited[job.next]) job.next = job.next + 1 == job.blocks.size() ? 0 : job.next + 1;
        job.visited[job.next] = 1;
        job.left--;
        job.session->Save(job.blocks[job.next]);
        job.next++;
      }
      if (job.left == 0 || job.session->FlushOver()) {
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(current));
        current = 0;
      }
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

namespace {

void OnEnvCleanup(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  // Before the environment's memory (its staging SharedArrayBuffers) goes: no copy may land in
  // it after this, and no region of this environment stays protected.
  for (auto& s : CowHandler::Get().SessionsOf(env)) CloseCow(*s, false);
  CowHandler::Get().Unhook(env);
}

}  // namespace

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
  // Full mode only (uffd.h): a kernel write into a protected page must wait for the handler.
  uffd_ = OpenFullModeUffd(&support_.reason);
  if (uffd_ < 0) return;
  uffdio_api api{};
  api.api = UFFD_API;
  // WP_UNPOPULATED: a page never touched is protected too (its first write must be seen: the
  // flush would otherwise copy the job's new value).
  api.features = UFFD_FEATURE_WP_UNPOPULATED;
  if (ioctl(uffd_, UFFDIO_API, &api) != 0 || (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) == 0) {
    support_.reason = ErrnoText("UFFDIO_API with write-protection of unpopulated pages (needs Linux 6.4)");
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
    support_.reason = ErrnoText("mmap");
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

const CowSupport& CopyOnWriteSupport() {
  return CowHandler::Get().Support();
}

void CloseCow(CowSession& session, bool finish) {
  session.Close(finish);
}

}  // namespace cr

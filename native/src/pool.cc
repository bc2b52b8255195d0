#include "pool.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cr {

unsigned Pool::ThreadCount() {
  // CR_THREADS=n (1..64) sets the pool's size, for measuring (npm run bench compares 1 and 2).
  if (const char* env = std::getenv("CR_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 64) return static_cast<unsigned>(n);
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

Pool& Pool::Get() {
  // Never destroyed: the workers block forever in Work(), and joining or destroying them
  // from a static destructor at process exit would hang or std::terminate.
  static Pool* pool = new Pool("cr-pool-", 0);
  return *pool;
}

Pool& Pool::Background() {
  static Pool* pool = new Pool("cr-bg-", kBackgroundNice);
  return *pool;
}

Pool::Pool(const char* prefix, int nice) {
  // Block asynchronous signals in the workers so that SIGINT, SIGTERM, SIGCHLD... keep being
  // delivered to Node's own threads, as Node does for its platform workers.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  const unsigned n = ThreadCount();
  for (unsigned i = 0; i < n; ++i) {
    std::thread t([this, nice] { Work(nice); });
#if defined(__linux__)
    std::string name = prefix + std::to_string(i);
    pthread_setname_np(t.native_handle(), name.c_str());
#endif
    t.detach();
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void Pool::Submit(std::shared_ptr<Batch> batch) {
  const size_t n = batch->size();
  if (n == 0) return;  // nothing would ever call Finish: callers settle empty work themselves
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(batch));
  }
  if (n == 1) {
    wake_.notify_one();
  } else {
    wake_.notify_all();
  }
}

void Pool::Work(int nice) {
#if defined(__linux__)
  // Per thread on Linux (a thread is a task): the pool's other threads and the job's keep theirs.
  if (nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
#endif
  for (;;) {
    std::shared_ptr<Batch> batch;
    size_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        wake_.wait(lock, [this] { return !queue_.empty(); });
        batch = queue_.front();
        if (batch->Claim(&index)) {
          if (batch->AllClaimed()) queue_.pop_front();
          break;
        }
        // Claimed out from under us (a synchronous caller helps with its own batch).
        queue_.pop_front();
      }
    }
    batch->Run(index);
  }
}

void RunAndWait(const std::shared_ptr<Batch>& batch, std::mutex& mutex,
                std::condition_variable& done, const bool& finished) {
  size_t index = 0;
  while (batch->Claim(&index)) batch->Run(index);
  std::unique_lock<std::mutex> lock(mutex);
  done.wait(lock, [&finished] { return finished; });
}

}  // namespace cr

// The addon's own worker threads. One pool per process, started on first use and shared by
// every Node environment (main thread and worker_threads) that loads the addon; the libuv
// threadpool is left to Node (fs, dns, crypto).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cr {

// n independent tasks (one per block), claimed one index at a time by whichever pool thread is
// free, or by a synchronous caller helping with its own batch. Batches start in FIFO order:
// one queued behind another environment's batch waits until that batch's blocks have all been
// claimed, which is why synchronous callers help.
class Batch {
 public:
  explicit Batch(size_t n) : n_(n), remaining_(n) {}
  virtual ~Batch() = default;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  size_t size() const { return n_; }
  // The next unclaimed index, or false when every index has been claimed.
  bool Claim(size_t* index) {
    size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_) return false;
    *index = i;
    return true;
  }
  bool AllClaimed() const { return next_.load(std::memory_order_relaxed) >= n_; }
  // Runs task i; the thread that completes the last task also calls Finish.
  void Run(size_t i) noexcept {
    RunTask(i);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish();
  }

 protected:
  virtual void RunTask(size_t i) noexcept = 0;
  virtual void Finish() noexcept = 0;

 private:
  const size_t n_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> remaining_;
};

class Pool {
 public:
  // The process-wide pool, started on first call.
  static Pool& Get();
  // The same number of threads at a lower priority (nice kBackgroundNice), for images encoded
  // while the job computes: on a machine with as many cores as pool threads, the job's thread
  // would otherwise share its core with an encoder for as long as the image takes.
  static Pool& Background();
  static constexpr int kBackgroundNice = 5;
  // hardware_concurrency, at least 1: what the pool has (or will have) without starting it.
  static unsigned ThreadCount();

  // Batches start in submission order. An empty batch is ignored (its Finish never runs).
  void Submit(std::shared_ptr<Batch> batch);

 private:
  Pool(const char* prefix, int nice);
  void Work(int nice);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Batch>> queue_;
};

// Lets the calling thread take part in its own batch and then waits for the rest: a
// synchronous caller is blocked anyway, and this way it does not wait behind the queue of
// another environment's encode.
void RunAndWait(const std::shared_ptr<Batch>& batch, std::mutex& mutex,
                std::condition_variable& done, const bool& finished);

}  // namespace cr

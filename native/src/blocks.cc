// encodeBlocks / decodeBlocks: the two calls that move whole sections through the pool.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "blocks.h"
#include "codec.h"
#include "pool.h"
#include "region.h"

namespace cr {

namespace {

// ---------------------------------------------------------------------------------------------
// encodeBlocks

class EncodeJob : public Batch, public std::enable_shared_from_this<EncodeJob> {
 public:
  explicit EncodeJob(size_t n)
      : Batch(n), storedLengths(n), flags(n), rawHashes(n), storedHashes(n) {}

  // Inputs, read by the pool threads.
  const uint8_t* src = nullptr;
  size_t srcLength = 0;
  size_t blockSize = 0;
  unsigned elementSize = 1;
  int level = 1;
  HashKind hash = HashKind::kXxh3;
  uint8_t* dst = nullptr;
  size_t dstLength = 0;
  size_t dstStride = 0;
  // Regions that src or dst live in stay mapped until the job is destroyed, even if JS calls
  // freeRegion on them meanwhile.
  std::shared_ptr<Region> srcPin, dstPin;

  // Results, one slot per block, each written by the one thread that ran that block. They are
  // copied into the caller's `out` arrays on the JS thread, so JS never sees them half-written.
  std::vector<uint32_t> storedLengths;
  std::vector<uint8_t> flags;
  std::vector<uint64_t> rawHashes;
  std::vector<uint64_t> storedHashes;

  // JS side: created and used on the calling environment's JS thread only.
  napi_deferred deferred = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  // src, dst and the four out arrays, held so that GC cannot free their memory mid-flight.
  napi_ref refs[6] = {};

  // Environment teardown (a worker_thread terminated mid-encode) waits in OnEnvCleanup until
  // no pool thread touches src or dst any more; remaining blocks are skipped.
  std::atomic<bool> cancelled{false};
  std::mutex doneMutex;
  std::condition_variable doneCv;
  bool done = false;
  bool cleanupHookRan = false;
  // The cleanup hook's own reference to the job (its argument): without it, the pool could drop
  // the last reference while the hook is still running the job's last block (the pool pops a
  // batch whose blocks were all claimed, here by the hook), and Finish would run on freed memory.
  std::shared_ptr<EncodeJob>* hook = nullptr;

  static void OnEnvCleanup(void* arg);
  static void CallJs(napi_env env, napi_value, void*, void* data);

 protected:
  void RunTask(size_t i) noexcept override;
  void Finish() noexcept override;

 private:
  void Settle(napi_env env);
};

void EncodeJob::RunTask(size_t i) noexcept {
  if (cancelled.load(std::memory_order_relaxed)) return;
  const size_t offset = i * blockSize;
  const size_t len = std::min(blockSize, srcLength - offset);
  const size_t outOffset = i * dstStride;
  const size_t capacity = std::min(dstStride, dstLength - outOffset);
  EncodedBlock b =
      EncodeBlock(src + offset, len, elementSize, level, hash, dst + outOffset, capacity);
  storedLengths[i] = b.storedLength;
  flags[i] = b.flags;
  rawHashes[i] = b.rawHash;
  storedHashes[i] = b.storedHash;
}

void EncodeJob::Finish() noexcept {
  // Every block is done with src and dst: a region that JS freed meanwhile can go now, before
  // the promise resolves, so that JS never sees it linger.
  srcPin.reset();
  dstPin.reset();
  // The holder is the JS side's reference to the job; CallJs takes it over.
  auto* holder = new (std::nothrow) std::shared_ptr<EncodeJob>(shared_from_this());
  // The queue is unbounded (max_queue_size 0), so a blocking call never blocks. This is the
  // pool's last use of the tsfn: CallJs releases it on the JS thread. Releasing it here, after
  // the call, raced with teardown: CallJs could run, remove OnEnvCleanup, and the environment
  // (a worker terminated right then) free the tsfn before this thread released it, which then
  // locked a freed mutex and aborted the process.
  napi_status status = napi_invalid_arg;
  if (holder != nullptr) status = napi_call_threadsafe_function(tsfn, holder, napi_tsfn_blocking);
  if (status != napi_ok) {
    // napi_closing: the environment is being torn down and CallJs will not see this holder
    // (the failed call gave up this thread's hold on the tsfn). The pool thread running this
    // keeps its own reference to the job, so dropping the holder frees nothing in use.
    delete holder;
    if (holder == nullptr) napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  }
  {
    std::lock_guard<std::mutex> lock(doneMutex);
    done = true;
  }
  doneCv.notify_all();
}

void EncodeJob::OnEnvCleanup(void* arg) {
  auto* hook = static_cast<std::shared_ptr<EncodeJob>*>(arg);
  EncodeJob* job = hook->get();
  job->cancelled.store(true, std::memory_order_relaxed);
  // Skip our own unclaimed blocks here rather than wait for their turn in the pool's queue,
  // which may hold other environments' work; only blocks already running are waited for.
  size_t index = 0;
  while (job->Claim(&index)) job->Run(index);
  std::unique_lock<std::mutex> lock(job->doneMutex);
  job->doneCv.wait(lock, [job] { return job->done; });
  job->cleanupHookRan = true;
  job->hook = nullptr;
  lock.unlock();
  delete hook;  // a holder still queued for CallJs keeps the job alive
}

void EncodeJob::CallJs(napi_env env, napi_value, void*, void* data) {
  auto* holder = static_cast<std::shared_ptr<EncodeJob>*>(data);
  EncodeJob* job = holder->get();
  if (env == nullptr) {
    // The environment is going away and its queue is being drained. Its cleanup hooks run in
    // reverse order of registration, so ours (added after the tsfn was created) has already
    // waited for the pool; if it somehow has not, leaking is the only safe choice.
    bool hookRan;
    {
      std::lock_guard<std::mutex> lock(job->doneMutex);
      hookRan = job->cleanupHookRan;
    }
    if (hookRan) delete holder;
    return;
  }
  napi_remove_env_cleanup_hook(env, OnEnvCleanup, job->hook);
  delete job->hook;
  job->hook = nullptr;
  napi_release_threadsafe_function(job->tsfn, napi_tsfn_release);
  job->Settle(env);
  delete holder;
}

void EncodeJob::Settle(napi_env env) {
  const size_t n = size();
  // Re-read the out arrays now: JS may have detached or replaced their buffers meanwhile.
  void* targets[4] = {};
  const size_t widths[4] = {4, 1, 8, 8};
  bool ok = true;
  for (int k = 0; k < 4; ++k) {
    napi_value value;
    napi_typedarray_type type;
    size_t length = 0;
    if (napi_get_reference_value(env, refs[2 + k], &value) != napi_ok || value == nullptr ||
        napi_get_typedarray_info(env, value, &type, &length, &targets[k], nullptr, nullptr) !=
            napi_ok ||
        length < n) {
      ok = false;
    }
  }
  if (ok) {
    std::memcpy(targets[0], storedLengths.data(), n * widths[0]);
    std::memcpy(targets[1], flags.data(), n * widths[1]);
    std::memcpy(targets[2], rawHashes.data(), n * widths[2]);
    std::memcpy(targets[3], storedHashes.data(), n * widths[3]);
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
  } else {
    napi_value message, error;
    napi_create_string_utf8(
        env, "encodeBlocks: an out array was detached or shrunk while the encode ran",
        NAPI_AUTO_LENGTH, &message);
    napi_create_range_error(env, nullptr, message, &error);
    napi_reject_deferred(env, deferred, error);
  }
  for (napi_ref& ref : refs) {
    if (ref != nullptr) napi_delete_reference(env, ref);
    ref = nullptr;
  }
}

void DeleteRefs(napi_env env, napi_ref (&refs)[6]) {
  for (napi_ref& ref : refs) {
    if (ref != nullptr) napi_delete_reference(env, ref);
    ref = nullptr;
  }
}

// An encode of at most this many bytes runs on the calling thread and settles before the call
// returns: handing it to the pool and back (a threadsafe function, a wake-up of a pool thread and
// one of the caller's event loop) costs more than encoding a few KiB, and an image of many small
// states makes one such call per state.
constexpr size_t kInlineEncodeBytes = 16 * 1024;

// The blocks of a validated encode, encoded here; results straight into the out arrays, which
// no JS can detach meanwhile.
void EncodeInline(const View& src, size_t blockSize, unsigned elementSize, int level,
                  HashKind hash, const View& dst, size_t dstStride, const View (&out)[4],
                  size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const size_t offset = i * blockSize;
    const size_t outOffset = i * dstStride;
    const EncodedBlock b =
        EncodeBlock(src.data + offset, std::min(blockSize, src.byteLength - offset), elementSize,
                    level, hash, dst.data + outOffset,
                    std::min(dstStride, dst.byteLength - outOffset));
    std::memcpy(out[0].data + 4 * i, &b.storedLength, 4);
    out[1].data[i] = b.flags;
    std::memcpy(out[2].data + 8 * i, &b.rawHash, 8);
    std::memcpy(out[3].data + 8 * i, &b.storedHash, 8);
  }
}

// Validates everything, then hands the blocks to the pool (a small input: encodes it at once).
// Throws (before anything is submitted) on bad arguments; the caller turns that into a rejection.
void StartEncode(const Napi::CallbackInfo& info, napi_deferred deferred) {
  Napi::Env env = info.Env();
  const char* fn = "encodeBlocks";
  // out's properties are read first because reading them can run JS (getters, proxies), which
  // could free or detach src or dst after their memory had been looked up.
  if (!info[6].IsObject()) ThrowType(env, std::string(fn) + ": out must be an object");
  Napi::Object out = info[6].As<Napi::Object>();
  const Napi::Value outValues[4] = {out.Get("storedLengths"), out.Get("flags"),
                                    out.Get("rawHashes"), out.Get("storedHashes")};
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  const size_t blockSize =
      static_cast<size_t>(IntegerArg(env, info[1], fn, "blockSize", 1, kMaxBlockSize));
  const unsigned elementSize = ElementSizeArg(env, info[2], fn, "elementSize");
  const int level = static_cast<int>(
      IntegerArg(env, info[3], fn, "level", ZSTD_minCLevel(), ZSTD_maxCLevel()));
  View dst = Uint8ArrayArg(env, info[4], fn, "dst");
  const size_t dstStride =
      static_cast<size_t>(IntegerArg(env, info[5], fn, "dstStride", 0, 9007199254740991LL));
  const size_t bound = ZSTD_compressBound(blockSize);
  if (dstStride < bound) {
    ThrowRange(env, std::string(fn) + ": dstStride must be at least compressBound(blockSize) = " +
                        std::to_string(bound) + ", got " + std::to_string(dstStride));
  }
  View outArrays[4] = {
      TypedArrayArg(env, outValues[0], napi_uint32_array, fn, "out.storedLengths"),
      TypedArrayArg(env, outValues[1], napi_uint8_array, fn, "out.flags"),
      TypedArrayArg(env, outValues[2], napi_biguint64_array, fn, "out.rawHashes"),
      TypedArrayArg(env, outValues[3], napi_biguint64_array, fn, "out.storedHashes"),
  };
  const char* outNames[4] = {"out.storedLengths", "out.flags", "out.rawHashes",
                             "out.storedHashes"};

  const size_t n = (src.byteLength + blockSize - 1) / blockSize;
  for (int k = 0; k < 4; ++k) {
    if (outArrays[k].length < n) {
      ThrowRange(env, std::string(fn) + ": " + outNames[k] + " has " +
                          std::to_string(outArrays[k].length) + " entries, " + std::to_string(n) +
                          " blocks need one each");
    }
  }
  if (n > 0) {
    const size_t last = src.byteLength - (n - 1) * blockSize;
    // (n - 1) * dstStride is only formed once it is known not to exceed dst.byteLength.
    const bool fits = (n - 1) <= dst.byteLength / dstStride &&
                      dst.byteLength - (n - 1) * dstStride >= ZSTD_compressBound(last);
    if (!fits) {
      ThrowRange(env, std::string(fn) + ": dst (" + std::to_string(dst.byteLength) +
                          " bytes) is too small for " + std::to_string(n) + " blocks at stride " +
                          std::to_string(dstStride));
    }
  }
  if (Overlaps(src, dst)) ThrowRange(env, std::string(fn) + ": src and dst overlap");
  // Optional: true for an image encoded while the job computes (Pool::Background).
  if (!info[7].IsUndefined() && !info[7].IsBoolean()) ThrowType(env, std::string(fn) + ": background must be a boolean when given");
  const bool background = info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
  const HashKind hash = HashKindArg(env, info[8], fn, "hash");

  if (n == 0) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    return;
  }
  if (src.byteLength <= kInlineEncodeBytes) {
    EncodeInline(src, blockSize, elementSize, level, hash, dst, dstStride, outArrays, n);
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    return;
  }

  auto job = std::make_shared<EncodeJob>(n);
  job->src = src.data;
  job->srcLength = src.byteLength;
  job->blockSize = blockSize;
  job->elementSize = elementSize;
  job->level = level;
  job->hash = hash;
  job->dst = dst.data;
  job->dstLength = dst.byteLength;
  job->dstStride = dstStride;
  job->srcPin = PinRegionOf(env, src.arraybuffer);
  job->dstPin = PinRegionOf(env, dst.arraybuffer);

  napi_value values[6] = {src.value,           dst.value,           outArrays[0].value,
                          outArrays[1].value, outArrays[2].value, outArrays[3].value};
  for (int k = 0; k < 6; ++k) {
    napi_status status = napi_create_reference(env, values[k], 1, &job->refs[k]);
    if (status != napi_ok) {
      DeleteRefs(env, job->refs);
      NAPI_THROW_IF_FAILED_VOID(env, status);
    }
  }
  napi_value name;
  napi_create_string_utf8(env, "cr.encodeBlocks", NAPI_AUTO_LENGTH, &name);
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr, EncodeJob::CallJs, &job->tsfn);
  if (status != napi_ok) {
    DeleteRefs(env, job->refs);
    NAPI_THROW_IF_FAILED_VOID(env, status);
  }
  // Registered after the tsfn on purpose: hooks run in reverse order, so this one waits for
  // the pool before the tsfn's own hook drains its queue, and before the finalizers of any
  // region src or dst lives in.
  job->hook = new std::shared_ptr<EncodeJob>(job);
  napi_add_env_cleanup_hook(env, EncodeJob::OnEnvCleanup, job->hook);
  job->deferred = deferred;
  (background ? Pool::Background() : Pool::Get()).Submit(job);
}

// ---------------------------------------------------------------------------------------------
// decodeBlocks

struct BlockRef {
  size_t srcOffset;
  size_t storedLength;
  size_t dstOffset;
  size_t rawLength;
  uint64_t storedHash;
  uint64_t rawHash;
  uint8_t flags;
};

class DecodeBatch : public Batch {
 public:
  DecodeBatch(std::vector<BlockRef> blocks, const uint8_t* src, uint8_t* dst, unsigned es,
              HashKind hash)
      : Batch(blocks.size()),
        blocks_(std::move(blocks)),
        statuses_(blocks_.size(), DecodeStatus::kOk),
        src_(src),
        dst_(dst),
        elementSize_(es),
        hash_(hash) {}

  std::mutex mutex;
  std::condition_variable finishedCv;
  bool finished = false;

  // The lowest failing index (SIZE_MAX if none) and why, valid once finished.
  size_t firstFailure() const { return firstFailure_.load(); }
  DecodeStatus status(size_t i) const { return statuses_[i]; }

 protected:
  void RunTask(size_t i) noexcept override {
    // Only the lowest failing block is reported, so blocks after a known failure are skipped.
    if (i > firstFailure_.load(std::memory_order_relaxed)) return;
    const BlockRef& b = blocks_[i];
    DecodeStatus s = DecodeBlock(src_ + b.srcOffset, b.storedLength, b.flags, hash_,
                                 b.storedHash, b.rawHash, dst_ + b.dstOffset, b.rawLength,
                                 elementSize_);
    if (s == DecodeStatus::kOk) return;
    statuses_[i] = s;
    size_t seen = firstFailure_.load();
    while (i < seen && !firstFailure_.compare_exchange_weak(seen, i)) {
    }
  }
  void Finish() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      finished = true;
    }
    finishedCv.notify_all();
  }

 private:
  const std::vector<BlockRef> blocks_;
  std::vector<DecodeStatus> statuses_;
  const uint8_t* const src_;
  uint8_t* const dst_;
  const unsigned elementSize_;
  const HashKind hash_;
  std::atomic<size_t> firstFailure_{SIZE_MAX};
};

}  // namespace

Napi::Value EncodeBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_deferred deferred;
  napi_value promise;
  NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &deferred, &promise), Napi::Value());
  try {
    StartEncode(info, deferred);
  } catch (const Napi::Error& e) {
    napi_reject_deferred(env, deferred, e.Value());
  } catch (const std::exception& e) {
    napi_reject_deferred(env, deferred,
                         Napi::Error::New(env, std::string("encodeBlocks: ") + e.what()).Value());
  }
  return Napi::Value(env, promise);
}

Napi::Value DecodeBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "decodeBlocks";
  View src = Uint8ArrayArg(env, info[0], fn, "src");
  View srcOffsets = TypedArrayArg(env, info[1], napi_float64_array, fn, "srcOffsets");
  View storedLengths = TypedArrayArg(env, info[2], napi_uint32_array, fn, "storedLengths");
  View flags = Uint8ArrayArg(env, info[3], fn, "flags");
  View storedHashes = TypedArrayArg(env, info[4], napi_biguint64_array, fn, "storedHashes");
  View rawHashes = TypedArrayArg(env, info[5], napi_biguint64_array, fn, "rawHashes");
  View dst = Uint8ArrayArg(env, info[6], fn, "dst");
  View dstOffsets = TypedArrayArg(env, info[7], napi_float64_array, fn, "dstOffsets");
  View rawLengths = TypedArrayArg(env, info[8], napi_uint32_array, fn, "rawLengths");
  const unsigned elementSize = ElementSizeArg(env, info[9], fn, "elementSize");
  const HashKind hash = HashKindArg(env, info[10], fn, "hash");

  const size_t n = srcOffsets.length;
  const std::pair<const View*, const char*> perBlock[] = {
      {&storedLengths, "storedLengths"}, {&flags, "flags"},           {&storedHashes, "storedHashes"},
      {&rawHashes, "rawHashes"},         {&dstOffsets, "dstOffsets"}, {&rawLengths, "rawLengths"}};
  for (const auto& [view, name] : perBlock) {
    if (view->length < n) {
      ThrowRange(env, std::string(fn) + ": " + name + " has " + std::to_string(view->length) +
                          " entries, srcOffsets has " + std::to_string(n));
    }
  }
  if (Overlaps(src, dst)) ThrowRange(env, std::string(fn) + ": src and dst overlap");

  // Copied out first: the pool writes into dst, and a hostile caller could have placed the
  // descriptor arrays inside it to move the offsets after they were checked.
  std::vector<BlockRef> blocks(n);
  const size_t maxStored = ZSTD_compressBound(kMaxBlockSize);
  for (size_t i = 0; i < n; ++i) {
    BlockRef& b = blocks[i];
    double so, dO;
    std::memcpy(&so, srcOffsets.data + 8 * i, 8);
    std::memcpy(&dO, dstOffsets.data + 8 * i, 8);
    uint32_t sl, rl;
    std::memcpy(&sl, storedLengths.data + 4 * i, 4);
    std::memcpy(&rl, rawLengths.data + 4 * i, 4);
    std::memcpy(&b.storedHash, storedHashes.data + 8 * i, 8);
    std::memcpy(&b.rawHash, rawHashes.data + 8 * i, 8);
    b.flags = flags.data[i];
    b.storedLength = sl;
    b.rawLength = rl;
    const int64_t srcOffset = OffsetValue(so);
    const int64_t dstOffset = OffsetValue(dO);
    if (srcOffset < 0) {
      ThrowRange(env, std::string(fn) + ": srcOffsets[" + std::to_string(i) +
                          "] is not an integer offset");
    }
    if (dstOffset < 0) {
      ThrowRange(env, std::string(fn) + ": dstOffsets[" + std::to_string(i) +
                          "] is not an integer offset");
    }
    b.srcOffset = static_cast<size_t>(srcOffset);
    b.dstOffset = static_cast<size_t>(dstOffset);
    if (!FlagsAreDefined(b.flags)) {
      ThrowRange(env, std::string(fn) + ": " + BlockText(i) + " has invalid flags " +
                          std::to_string(b.flags));
    }
    CheckBlockLengths(env, fn, i, b.rawLength, b.storedLength, kMaxBlockSize, maxStored);
    if (b.flags == 0 && b.storedLength != b.rawLength) {
      ThrowRange(env, std::string(fn) + ": " + BlockText(i) +
                          " is stored raw but storedLength != rawLength");
    }
    if (b.srcOffset > src.byteLength || b.storedLength > src.byteLength - b.srcOffset) {
      ThrowRange(env, std::string(fn) + ": " + BlockText(i) + " stored bytes [" +
                          std::to_string(b.srcOffset) + ", +" + std::to_string(b.storedLength) +
                          ") lie outside src (" + std::to_string(src.byteLength) + " bytes)");
    }
  }
  CheckDestinations(env, fn, blocks, dst.byteLength);
  if (n == 0) return env.Null();

  auto batch = std::make_shared<DecodeBatch>(std::move(blocks), src.data, dst.data, elementSize, hash);
  Pool::Get().Submit(batch);
  RunAndWait(batch, batch->mutex, batch->finishedCv, batch->finished);

  const size_t first = batch->firstFailure();
  if (first == SIZE_MAX) return env.Null();
  const char* reason = nullptr;
  switch (batch->status(first)) {
    case DecodeStatus::kStoredHash: reason = "stored-hash"; break;
    case DecodeStatus::kDecompress: reason = "decompress"; break;
    case DecodeStatus::kRawHash: reason = "raw-hash"; break;
    case DecodeStatus::kNoMemory:
    case DecodeStatus::kOk:
      throw Napi::Error::New(env, std::string(fn) + ": out of memory for zstd contexts while "
                                                    "decoding " + BlockText(first));
  }
  Napi::Object failure = Napi::Object::New(env);
  failure.Set("index", Napi::Number::New(env, static_cast<double>(first)));
  failure.Set("reason", Napi::String::New(env, reason));
  return failure;
}

}  // namespace cr

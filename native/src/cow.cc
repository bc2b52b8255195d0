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
// The hang hazard: a protected page with no live handler blocks the
// writing thread forever, and a Worker's terminate() then never resolves. So the handler is one
// thread for the whole process that is never stopped (like the pool's and the flusher's), and every way a
// region ends — free(), its ArrayBuffer's finalizer, the environment's teardown — first lifts
// the protection and unregisters the region (CloseCow), waiting only for block copies already
// running, each one block long.
#include "cow.h"

#include <algorithm>
#include <string>
#include <vector>

#include "args.h"
#include "cow-session.h"
#include "region.h"

namespace cr {

namespace {

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
  out.Set("flushWritten", Napi::Number::New(env, static_cast<double>(session->flushWritten)));
  out.Set("flushMs", Napi::Number::New(env, session->flushing ? -1 : session->flushMs));
  out.Set("faults", Napi::Number::New(env, static_cast<double>(session->faults)));
  out.Set("writtenBlocks", Napi::Number::New(env, static_cast<double>(written)));
  out.Set("handlerMs", Napi::Number::New(env, static_cast<double>(session->handlerNs.load()) / 1e6));
  return out;
}

}  // namespace cr

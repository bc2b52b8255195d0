#include "region.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "args.h"
#include "cow.h"

namespace cr {

namespace {

// Marks the ArrayBuffers that allocRegion made, so that freeRegion and the pinning in
// encodeBlocks never mistake another addon's napi_wrap pointer for a Region.
const napi_type_tag kRegionTag = {0x6372726567696f6eULL, 0x9d1c3a5be2f04817ULL};

// The finalizer runs when V8 releases the backing store (after a GC, a detach, or at
// environment teardown); it owns one reference to the Region.
void FinalizeRegion(napi_env, void*, void* hint) {
  auto* holder = static_cast<std::shared_ptr<Region>*>(hint);
  (*holder)->RequestFree();
  delete holder;
}

// The Region of an attached, tagged ArrayBuffer, or null. The wrapped pointer is valid while
// the buffer is attached, because the finalizer's reference lives as long as the backing store.
Region* RegionOf(napi_env env, napi_value arraybuffer) {
  bool detached = true;
  if (napi_is_detached_arraybuffer(env, arraybuffer, &detached) != napi_ok || detached) {
    return nullptr;
  }
  bool tagged = false;
  if (napi_check_object_type_tag(env, arraybuffer, &kRegionTag, &tagged) != napi_ok || !tagged) {
    return nullptr;
  }
  void* p = nullptr;
  if (napi_unwrap(env, arraybuffer, &p) != napi_ok) return nullptr;
  return static_cast<Region*>(p);
}

}  // namespace

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

Region::~Region() {
  EndCow(false);
  std::lock_guard<std::mutex> lock(mutex_);
  UnmapLocked();
}

bool Region::Pin() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (freeRequested_) return false;
  ++pins_;
  return true;
}

void Region::Unpin() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--pins_ == 0 && freeRequested_) UnmapLocked();
}

std::shared_ptr<CowSession> Region::Cow() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cow_;
}

void Region::SetCow(std::shared_ptr<CowSession> session) {
  std::lock_guard<std::mutex> lock(mutex_);
  cow_ = std::move(session);
}

void Region::EndCow(bool finish) {
  std::shared_ptr<CowSession> session;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    session.swap(cow_);
  }
  // Outside the lock: closing waits for copies in flight, which never take it.
  if (session) CloseCow(*session, finish);
}

void Region::RequestFree() {
  // Before the memory can go: no protection may outlive the mapping's owner, and no copy may
  // read it after the unmap (the hang hazard, cow.cc).
  EndCow(false);
  std::lock_guard<std::mutex> lock(mutex_);
  freeRequested_ = true;
  if (pins_ == 0) UnmapLocked();
}

void Region::UnmapLocked() {
  if (unmapped_) return;
  unmapped_ = true;
  munmap(base_, mapLength_);
}

std::shared_ptr<Region> PinRegionOf(napi_env env, napi_value arraybuffer) {
  Region* region = RegionOf(env, arraybuffer);
  if (region == nullptr || !region->Pin()) return nullptr;
  // The pin travels with the pointer: whoever drops the last copy also unpins.
  std::shared_ptr<Region> owner = region->shared_from_this();
  return std::shared_ptr<Region>(region, [owner](Region* r) { r->Unpin(); });
}

Napi::Value AllocRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // 2^53 - 1 keeps the length exact; napi refuses lengths above the engine's own limit
  // (4 GiB for Node 20's Buffer-backed external ArrayBuffers), reported below.
  const size_t byteLength = static_cast<size_t>(
      IntegerArg(env, info[0], "allocRegion", "byteLength", 0, 9007199254740991LL));
  // Not in binding.ts yet: allocRegion(byteLength, hugePages?: boolean).
  const bool hugePages = info.Length() > 1 && info[1].ToBoolean().Value();
  const size_t page = PageSize();
  // A zero-length region still owns a page, so that every region frees the same way.
  const size_t mapLength = byteLength == 0 ? page : (byteLength + page - 1) / page * page;

  void* base = mmap(nullptr, mapLength, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    int err = errno;
    throw Napi::Error::New(env, "allocRegion: mmap of " + std::to_string(byteLength) +
                                    " bytes failed: " + std::strerror(err));
  }
#ifdef MADV_DONTFORK
  // Left out of child processes. Node starts one (child_process, a job's tools) by fork, then
  // exec: fork would copy the region's page tables and write-protect every page, and the job's
  // next write to each page would then fault, once per 4 KiB, after every process it starts.
  // Nothing in a child of Node uses the region: it runs another program.
  madvise(base, mapLength, MADV_DONTFORK);
#endif
#ifdef MADV_HUGEPAGE
  // Opt-in: 2 MiB pages make first touch (a restore into fresh memory) about 4x faster here,
  // but a sparsely used region then costs up to 512x its touched pages in RSS.
  if (hugePages && mapLength >= (size_t{2} << 20)) madvise(base, mapLength, MADV_HUGEPAGE);
#endif
  auto region = std::make_shared<Region>(static_cast<uint8_t*>(base), mapLength);

  napi_value ab = nullptr;
  auto* holder = new std::shared_ptr<Region>(region);
  napi_status status =
      napi_create_external_arraybuffer(env, base, byteLength, FinalizeRegion, holder, &ab);
  if (status != napi_ok) {
    // Node may already have run the finalizer (and deleted holder) on this path, so only our
    // own reference is touched; if it did not, holder leaks a few bytes, never the mapping.
    region->RequestFree();
    std::string why = "napi status " + std::to_string(status);
    if (env.IsExceptionPending()) {
      why = env.GetAndClearPendingException().Message();
    }
    ThrowRange(env, "allocRegion: cannot expose " + std::to_string(byteLength) +
                        " bytes as an ArrayBuffer (" + why + ")");
  }
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, ab, &kRegionTag), Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, ab, region.get(), nullptr, nullptr, nullptr),
                       Napi::Value());
  return Napi::Value(env, ab);
}

namespace {

// The region behind `ab`, an ArrayBuffer from allocRegion; null if it is detached (freed), in
// which case the caller does nothing. Throws for anything else.
Region* RegionArg(Napi::Env env, napi_value ab, const char* fn) {
  bool isAb = false;
  napi_is_arraybuffer(env, ab, &isAb);
  if (!isAb) ThrowType(env, std::string(fn) + ": buffer must be an ArrayBuffer from allocRegion");
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok) {
    ThrowType(env, std::string(fn) + ": cannot tell whether buffer is detached");
  }
  if (detached) return nullptr;
  Region* region = RegionOf(env, ab);
  if (region == nullptr) {
    ThrowType(env, std::string(fn) + ": buffer is an ArrayBuffer that allocRegion did not make");
  }
  return region;
}

}  // namespace

Napi::Value FreeRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value ab = info[0];
  Region* region = RegionArg(env, ab, "freeRegion");
  if (region == nullptr) return env.Undefined();  // already freed: freeing twice is a no-op
  // Detaching may release the backing store and run the finalizer; keep the Region alive.
  std::shared_ptr<Region> keep = region->shared_from_this();
  // Before the detach, whose finalizer would cancel it: a copy-on-write flush in flight is
  // finished here, on the job's thread, which writes no region meanwhile (the image in flight
  // stays exact); then the region is unprotected.
  keep->EndCow(true);
  void* unused = nullptr;
  napi_remove_wrap(env, ab, &unused);
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, ab), Napi::Value());
  // An encode in flight may still read the memory, and unmaps it when it ends.
  keep->RequestFree();
  return env.Undefined();
}

Napi::Value DiscardRegion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region* region = RegionArg(env, info[0], "discardRegion");
  if (region == nullptr) return env.Undefined();  // freed already
  std::shared_ptr<Region> keep = region->shared_from_this();
  keep->EndCow(true);
  if (keep->Pin()) {
    // Anonymous private memory: the pages are freed now and read as zeros if touched again.
    madvise(keep->base(), keep->mapLength(), MADV_DONTNEED);
    keep->Unpin();
  }
  return env.Undefined();
}

Napi::Value AdviseHugePagesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View v = Uint8ArrayArg(env, info[0], "adviseHugePages", "bytes");
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t first = (begin + kHuge - 1) / kHuge * kHuge;
  const uintptr_t last = (begin + v.byteLength) / kHuge * kHuge;
  if (v.byteLength == 0 || last <= first) return Napi::Boolean::New(env, false);
#ifdef MADV_HUGEPAGE
  // Only where no page is present yet does this change anything: call it on fresh memory.
  return Napi::Boolean::New(
      env, madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0);
#else
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace cr

// Module entry point. Everything is registered per environment (the addon is loaded by the
// main thread and by worker_threads alike); the only process-wide state is the thread pool,
// which holds no napi values.
#include <napi.h>
#include <node_version.h>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

#include <mutex>

#include "blocks.h"
#include "cow.h"
#include "dirty.h"
#include "helpers.h"
#include "pool.h"
#include "readblocks.h"
#include "region.h"
#include "serialize.h"
#include "simd.h"
#include "staging.h"
#include "zstd.h"

namespace cr {

namespace {

// Bumped together with NATIVE_ABI_VERSION in src/native/binding.ts whenever the contract there
// changes, so that a stale build/ is refused instead of misbehaving.
constexpr int kAbiVersion = 9;

// Node dlcloses an addon when the last environment that loaded it goes away: a worker thread
// that loaded it alone (the runner's job threads do) unmaps its code when it exits. The pool's
// threads are process-wide and parked inside that code for the life of the process, so the
// library must never be unloaded: the first Init marks it RTLD_NODELETE (measured: without
// this, /proc/self/maps no longer lists cr_native.node once such a worker has exited, and a
// later wake-up of a pool thread jumps into unmapped memory).
void PinLibrary() {
#if !defined(_WIN32)
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) != 0 && info.dli_fname != nullptr) {
      // RTLD_NOLOAD: only changes the flags of the copy already loaded; the handle is never closed.
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
  });
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLibrary();
  const napi_property_attributes constant = napi_enumerable;
  exports.DefineProperties({
      Napi::PropertyDescriptor::Value("abiVersion", Napi::Number::New(env, kAbiVersion), constant),
      // serializeValue uses the V8 API, which binds the build to its Node's major version.
      Napi::PropertyDescriptor::Value("nodeModuleVersion",
                                      Napi::Number::New(env, NODE_MODULE_VERSION), constant),
      Napi::PropertyDescriptor::Value("zstdVersion", Napi::String::New(env, ZSTD_versionString()),
                                      constant),
      Napi::PropertyDescriptor::Value("threads", Napi::Number::New(env, Pool::ThreadCount()),
                                      constant),
      Napi::PropertyDescriptor::Value(
          "copyParallelBytes", Napi::Number::New(env, static_cast<double>(kCopyParallelBytes)),
          constant),
      Napi::PropertyDescriptor::Value(
          "pageSize", Napi::Number::New(env, static_cast<double>(PageSize())), constant),
      Napi::PropertyDescriptor::Value("simd", Napi::String::New(env, SimdPaths()), constant),
  });
  exports.Set("allocRegion", Napi::Function::New(env, AllocRegion, "allocRegion"));
  exports.Set("freeRegion", Napi::Function::New(env, FreeRegion, "freeRegion"));
  exports.Set("discardRegion", Napi::Function::New(env, DiscardRegion, "discardRegion"));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePagesJs, "adviseHugePages"));
  exports.Set("serializeValue", Napi::Function::New(env, SerializeValueJs, "serializeValue"));
  exports.Set("copyBlocks", Napi::Function::New(env, CopyBlocksJs, "copyBlocks"));
  exports.Set("hash64", Napi::Function::New(env, Hash64Js, "hash64"));
  exports.Set("blockHash", Napi::Function::New(env, BlockHashJs, "blockHash"));
  exports.Set("shuffle", Napi::Function::New(env, ShuffleJs, "shuffle"));
  exports.Set("unshuffle", Napi::Function::New(env, UnshuffleJs, "unshuffle"));
  exports.Set("compressBound", Napi::Function::New(env, CompressBoundJs, "compressBound"));
  exports.Set("compressFrame", Napi::Function::New(env, CompressFrameJs, "compressFrame"));
  exports.Set("decompressFrame", Napi::Function::New(env, DecompressFrameJs, "decompressFrame"));
  exports.Set("encodeBlocks", Napi::Function::New(env, EncodeBlocks, "encodeBlocks"));
  exports.Set("decodeBlocks", Napi::Function::New(env, DecodeBlocks, "decodeBlocks"));
  exports.Set("readBlocks", Napi::Function::New(env, ReadBlocks, "readBlocks"));
  exports.Set("dirtyTrackingSupport", Napi::Function::New(env, DirtyTrackingSupportJs, "dirtyTrackingSupport"));
  exports.Set("trackRegion", Napi::Function::New(env, TrackRegionJs, "trackRegion"));
  exports.Set("untrackRegion", Napi::Function::New(env, UntrackRegionJs, "untrackRegion"));
  exports.Set("scanDirty", Napi::Function::New(env, ScanDirtyJs, "scanDirty"));
  exports.Set("cowSupport", Napi::Function::New(env, CowSupportJs, "cowSupport"));
  exports.Set("cowCapture", Napi::Function::New(env, CowCaptureJs, "cowCapture"));
  exports.Set("cowFlush", Napi::Function::New(env, CowFlushJs, "cowFlush"));
  exports.Set("cowRelease", Napi::Function::New(env, CowReleaseJs, "cowRelease"));
  exports.Set("cowStats", Napi::Function::New(env, CowStatsJs, "cowStats"));
  exports.Set("_addressOf", Napi::Function::New(env, AddressOfJs, "_addressOf"));
  return exports;
}

}  // namespace

}  // namespace cr

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified one.
static Napi::Object InitCrNative(Napi::Env env, Napi::Object exports) {
  return cr::Init(env, exports);
}

NODE_API_MODULE(cr_native, InitCrNative)

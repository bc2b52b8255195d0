// Regions: page-aligned, zero-filled memory from mmap, outside the V8 heap, handed to JS as
// external ArrayBuffers.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace cr {

class CowSession;

// One mapping. The memory is unmapped once a free was requested (freeRegion, or the
// ArrayBuffer's finalizer) and no encode in flight still reads or writes it.
class Region : public std::enable_shared_from_this<Region> {
 public:
  Region(uint8_t* base, size_t mapLength) : base_(base), mapLength_(mapLength) {}
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // Keeps the memory mapped until Unpin; false if a free was already requested.
  bool Pin();
  void Unpin();
  // Idempotent. Ends copy-on-write first (a flush in progress is cancelled).
  void RequestFree();

  uint8_t* base() const { return base_; }
  size_t mapLength() const { return mapLength_; }
  // The region's copy-on-write session, created on first use (cow.cc), or null.
  std::shared_ptr<CowSession> Cow();
  void SetCow(std::shared_ptr<CowSession> session);
  // Ends copy-on-write (see CloseCow in cow.h); the session is dropped.
  void EndCow(bool finish);

 private:
  void UnmapLocked();

  uint8_t* const base_;
  const size_t mapLength_;
  std::mutex mutex_;
  int pins_ = 0;
  bool freeRequested_ = false;
  bool unmapped_ = false;
  std::shared_ptr<CowSession> cow_;
};

// The region behind an ArrayBuffer, pinned, or null if it is not an attached region.
std::shared_ptr<Region> PinRegionOf(napi_env env, napi_value arraybuffer);

Napi::Value AllocRegion(const Napi::CallbackInfo& info);
Napi::Value FreeRegion(const Napi::CallbackInfo& info);
// discardRegion(buffer): gives the region's pages back to the system (they read as zeros after)
// without detaching the ArrayBuffer; the mapping goes when the garbage collector finalizes it.
Napi::Value DiscardRegion(const Napi::CallbackInfo& info);
// adviseHugePages(bytes): asks for transparent huge pages on the 2 MiB-aligned part of bytes
// (memory the addon did not map, such as a SharedArrayBuffer used as staging).
Napi::Value AdviseHugePagesJs(const Napi::CallbackInfo& info);

size_t PageSize();

}  // namespace cr

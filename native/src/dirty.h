// Dirty-block tracking of regions (userfaultfd async write-protection + PAGEMAP_SCAN).
#pragma once

#include <napi.h>

#include <string>

namespace cr {

struct DirtySupport {
  bool available = false;
  // Why tracking is unavailable; empty when available.
  std::string reason;
};

// Probed once per process.
const DirtySupport& DirtyTrackingSupport();

Napi::Value DirtyTrackingSupportJs(const Napi::CallbackInfo& info);
Napi::Value TrackRegionJs(const Napi::CallbackInfo& info);
Napi::Value UntrackRegionJs(const Napi::CallbackInfo& info);
Napi::Value ScanDirtyJs(const Napi::CallbackInfo& info);

}  // namespace cr

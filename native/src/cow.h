// Copy-on-write checkpoints of regions: userfaultfd write-protection in synchronous mode, a
// process-wide handler thread that saves a block before the job's first write to it, and a
// flusher thread that saves the rest (see cow.cc and docs/incremental.md).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

namespace cr {

class CowSession;

struct CowSupport {
  bool available = false;
  // Why copy-on-write is unavailable; empty when available.
  std::string reason;
};

// Probed once per process (a real protect / fault / save / wake round trip).
const CowSupport& CopyOnWriteSupport();

// Ends a region's copy-on-write: with `finish`, first saves on the calling thread every block a
// flush in progress has not saved yet (free(): the image in flight stays exact); without, a
// flush in progress is cancelled (its ready word becomes -1). Either way the region is left
// unprotected and unregistered, and no thread touches its memory or the staging memory after
// this returns. Idempotent.
void CloseCow(CowSession& session, bool finish);

Napi::Value CowSupportJs(const Napi::CallbackInfo& info);
Napi::Value CowCaptureJs(const Napi::CallbackInfo& info);
Napi::Value CowFlushJs(const Napi::CallbackInfo& info);
Napi::Value CowReleaseJs(const Napi::CallbackInfo& info);
Napi::Value CowStatsJs(const Napi::CallbackInfo& info);

}  // namespace cr

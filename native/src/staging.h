// copyBlocks: the staging copy of a checkpoint (see src/native/binding.ts for the contract).
#pragma once

#include <napi.h>

#include <cstddef>

namespace cr {

// A copy of at least this many bytes is shared with the addon's threads (staging.cc).
extern const size_t kCopyParallelBytes;

Napi::Value CopyBlocksJs(const Napi::CallbackInfo& info);

}  // namespace cr

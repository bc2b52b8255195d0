// copyBlocks: the staging copy of a checkpoint (see src/native/binding.ts for the contract).
#pragma once

#include <napi.h>

namespace cr {

Napi::Value CopyBlocksJs(const Napi::CallbackInfo& info);

}  // namespace cr

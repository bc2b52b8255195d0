// readBlocks (see src/native/binding.ts for the contract).
#pragma once

#include <napi.h>

namespace cr {

Napi::Value ReadBlocks(const Napi::CallbackInfo& info);

}  // namespace cr

// serializeValue: a state's v8 stream written by V8's own ValueSerializer into memory the caller
// keeps from one checkpoint to the next (see src/native/binding.ts for the contract).
#pragma once

#include <napi.h>

namespace cr {

Napi::Value SerializeValueJs(const Napi::CallbackInfo& info);

}  // namespace cr

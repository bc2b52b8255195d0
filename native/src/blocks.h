// encodeBlocks / decodeBlocks (see src/native/binding.ts for the contract).
#pragma once

#include <napi.h>

namespace cr {

Napi::Value EncodeBlocks(const Napi::CallbackInfo& info);
Napi::Value DecodeBlocks(const Napi::CallbackInfo& info);

}  // namespace cr

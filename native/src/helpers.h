// The small synchronous calls: hashing, shuffling and single zstd frames on the JS thread.
#pragma once

#include <napi.h>

namespace cr {

Napi::Value Hash64Js(const Napi::CallbackInfo& info);
Napi::Value BlockHashJs(const Napi::CallbackInfo& info);
Napi::Value ShuffleJs(const Napi::CallbackInfo& info);
Napi::Value UnshuffleJs(const Napi::CallbackInfo& info);
Napi::Value CompressBoundJs(const Napi::CallbackInfo& info);
Napi::Value CompressFrameJs(const Napi::CallbackInfo& info);
Napi::Value DecompressFrameJs(const Napi::CallbackInfo& info);
// Not part of the binding's contract: the address of a buffer's memory, so that tests can check
// region alignment and unmapping against /proc/self/maps.
Napi::Value AddressOfJs(const Napi::CallbackInfo& info);

}  // namespace cr
